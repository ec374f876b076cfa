"""The scale-out exact cache: entries in Redis, shared by every gateway instance, expired by Redis (SET EX).

One client (with its connection pool) is built at start-up. Every call has a short deadline; when Redis cannot
be reached the cache raises ``CacheUnavailable`` (the request carries on as a miss), logs the outage once, and
stops trying for a moment so that a dead Redis does not add a timeout to every request.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable
from typing import TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchyard.cache.protocols import CacheUnavailable

log = logging.getLogger("switchyard.cache")
T = TypeVar("T")

# After a failure, calls fail fast for this long before Redis is tried again.
_RETRY_AFTER_S = 1.0


class RedisCache:
    def __init__(self, url: str, timeout_s: float = 0.25, prefix: str = "switchyard:cache:") -> None:
        self._client = aioredis.Redis.from_url(
            url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s, max_connections=256
        )
        self._timeout_s = timeout_s
        self._prefix = prefix
        self._down_until = 0.0
        self._failing = False

    async def get(self, key: str) -> bytes | None:
        value = await self._call(self._client.get(self._prefix + key))
        return value if isinstance(value, bytes) else None

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        await self._call(self._client.set(self._prefix + key, value, ex=ttl_s))

    async def delete(self, key: str) -> None:
        await self._call(self._client.delete(self._prefix + key))

    async def clear(self) -> int:
        """Every entry under this cache's prefix, found with SCAN (never KEYS: it would block Redis) and unlinked
        in batches; entries written meanwhile may survive, as with any purge of a live cache."""
        removed = 0
        batch: list[bytes] = []
        scan = self._client.scan_iter(match=self._prefix + "*", count=1000)
        while True:
            try:
                name = await self._call(anext(scan))
            except StopAsyncIteration:
                break
            batch.append(name)
            if len(batch) >= 1000:
                removed += await self._call(self._client.unlink(*batch))
                batch.clear()
        if batch:
            removed += await self._call(self._client.unlink(*batch))
        return removed

    async def close(self) -> None:
        await self._client.aclose()

    async def _call(self, call: Awaitable[T]) -> T:
        if self._failing and time.monotonic() < self._down_until:
            if asyncio.iscoroutine(call):
                call.close()  # never awaited: close it so it does not warn
            raise CacheUnavailable("redis cache unavailable")
        try:
            async with asyncio.timeout(self._timeout_s * 2):
                result = await call
        except (RedisError, OSError, TimeoutError) as exc:
            self._down_until = time.monotonic() + _RETRY_AFTER_S
            if not self._failing:
                self._failing = True
                # The URL may hold a password: name only the kind of failure.
                log.warning("redis cache unavailable (%s); serving without it", type(exc).__name__)
            raise CacheUnavailable("redis cache unavailable") from None
        if self._failing:
            self._failing = False
            log.warning("redis cache reachable again")
        return result
