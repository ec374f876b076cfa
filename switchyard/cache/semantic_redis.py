"""Semantic-cache entries shared through Redis: one stream that every instance appends to and replays.

Each add is an ``XADD`` of (origin, embedding model id, namespace, text, key, float16 vector, absolute expiry) to a
capped stream; an instance reads what it has not seen (``XREAD`` from its last id, from the beginning at start) and
inserts it into its own in-process index, unless another model made the vector: during a rolling upgrade to a
retrained embedder, old and new vectors are not comparable and must not meet in one index. Vectors travel with the
entry so no instance re-embeds another's questions. The stream is capped near ``max_entries``; an instance that
starts after older entries were trimmed simply does not know them, which costs a miss, never a wrong answer. Redis
failures raise ``CacheUnavailable`` (the caller counts a miss).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from switchyard.cache.protocols import CacheUnavailable
from switchyard.cache.semantic_index import Vector

STREAM = "switchyard:semantic:v1"
_READ_BATCH = 1000


class RedisMirror:
    def __init__(
        self,
        url: str,
        *,
        dimensions: int,
        model_id: str,
        max_entries: int,
        timeout_s: float = 0.25,
        stream: str = STREAM,
        clock: Callable[[], float] = time.time,
    ) -> None:
        import redis.asyncio as redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
        self._dimensions = dimensions
        self._model = model_id
        self._max_entries = max_entries
        self._stream = stream
        self._clock = clock
        # Our own adds come back through the stream; the origin id lets us skip them.
        self._origin = os.urandom(8).hex()
        self._last_id = "0-0"

    async def publish(self, namespace: str, text: str, key: str, vector: Vector, ttl_s: float) -> None:
        fields = {
            "o": self._origin,
            "m": self._model,
            "n": namespace,
            "t": text,
            "k": key,
            "v": np.asarray(vector, dtype=np.float16).tobytes(),
            "e": repr(self._clock() + ttl_s),
        }
        try:
            await self._redis.xadd(self._stream, fields, maxlen=self._max_entries, approximate=True)
        except Exception as exc:  # redis raises its own tree; to the cache every failure is "unavailable"
            raise CacheUnavailable(f"semantic mirror publish failed: {type(exc).__name__}") from None

    async def poll(self, apply: Callable[[str, str, str, Vector, float], None]) -> int:
        applied = 0
        while True:
            try:
                answer = await self._redis.xread({self._stream: self._last_id}, count=_READ_BATCH)
            except Exception as exc:
                raise CacheUnavailable(f"semantic mirror read failed: {type(exc).__name__}") from None
            if not answer:
                return applied
            _, messages = answer[0]
            now = self._clock()
            for message_id, fields in messages:
                self._last_id = message_id.decode() if isinstance(message_id, bytes) else str(message_id)
                applied += self._apply_one(fields, now, apply)
            if len(messages) < _READ_BATCH:
                return applied

    def _apply_one(self, fields: dict[bytes, bytes], now: float, apply: Callable[..., None]) -> int:
        if fields.get(b"o", b"").decode() == self._origin or fields.get(b"m", b"").decode() != self._model:
            return 0
        try:
            vector = np.frombuffer(fields[b"v"], dtype=np.float16).astype(np.float32)
            remaining = float(fields[b"e"]) - now
            namespace, text, key = fields[b"n"].decode(), fields[b"t"].decode(), fields[b"k"].decode()
        except (KeyError, ValueError, UnicodeDecodeError):
            return 0  # an entry written by another version: skip it rather than stop replaying
        if vector.shape != (self._dimensions,) or remaining <= 0:
            return 0
        apply(namespace, text, key, vector, remaining)
        return 1

    async def close(self) -> None:
        await self._redis.aclose()
