"""The semantic cache's index: finds the stored answer to a question that means the same as the new one.

A lookup embeds the question (off the event loop), takes the nearest few stored questions of the same namespace,
and accepts the best one only if the second stage agrees: the packaged pair verifier (``verifier.py``) when it is
on, otherwise the cosine threshold tuned for the target precision. In scale-out, every add is also published to a
Redis stream (``semantic_redis.py``) and each instance replays the stream into its own index, so an answer stored
through one instance is found through any other.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from switchyard.cache.cross_encoder import CrossEncoder
from switchyard.cache.embed import Embedder, Matrix
from switchyard.cache.protocols import CacheUnavailable
from switchyard.cache.semantic_index import Candidate, Vector, VectorIndex
from switchyard.cache.verifier import PairVerifier

# How many neighbours the verifier sees: the nearest by cosine is not always the paraphrase.
CANDIDATES = 4
# A lookup miss is usually followed by an add of the same text: keep its vector instead of embedding it twice.
_RECENT = 1024
_MIRROR_BACKOFF_S = 5.0


class Mirror(Protocol):
    """Shares adds between instances (Redis in scale-out)."""

    async def publish(self, namespace: str, text: str, key: str, vector: Vector, ttl_s: float) -> None: ...

    async def poll(self, apply: Callable[[str, str, str, Vector, float], None]) -> int:
        """Apply the entries other instances added since the last poll; returns how many."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class LocalEmbedder(Protocol):
    """An embedder that can also run in the calling thread (the packaged MiniLM): a lookup then embeds and
    searches in one trip to a worker thread instead of two."""

    def encode(self, texts: Sequence[str]) -> Matrix: ...


class SemanticCache:
    """``SemanticIndex`` over an embedder, a ``VectorIndex``, an optional verifier and an optional mirror.

    ``threshold`` is the score a candidate needs from the last stage given: the cross-encoder's probability when
    ``cross_encoder`` is given (it runs only with a verifier, on the verifier's best candidate), else the verifier
    score when ``verifier`` is given, else the cosine; None takes the tuned value from that stage's model file.
    The similarity returned is always the cosine.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        verifier: PairVerifier | None,
        cross_encoder: CrossEncoder | None = None,
        threshold: float | None = None,
        cosine_threshold: float = 0.97,
        max_entries: int = 100_000,
        ttl_s: float = 3600,
        mirror: Mirror | None = None,
        mirror_poll_s: float = 0.5,
        ann_from: int = 4096,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._embedder = embedder
        self._verifier = verifier
        self._cross_encoder = cross_encoder if verifier is not None else None
        if self._cross_encoder is not None:
            self.threshold = threshold if threshold is not None else self._cross_encoder.threshold
        elif verifier is not None:
            self.threshold = threshold if threshold is not None else verifier.threshold
        else:
            self.threshold = threshold if threshold is not None else cosine_threshold
        self._ttl_s = ttl_s
        self._index = VectorIndex(embedder.dimensions, max_entries=max_entries, ann_from=ann_from, clock=clock)
        self._lock = threading.Lock()
        self._recent: OrderedDict[str, Vector] = OrderedDict()
        self._mirror = mirror
        self._mirror_poll_s = mirror_poll_s
        self._polled_at = float("-inf")
        self._poll_lock = asyncio.Lock()
        self._clock = clock

    @property
    def index(self) -> VectorIndex:
        return self._index

    async def lookup(self, namespace: str, text: str) -> tuple[str, float] | None:
        vector = self._recent_vector(text)
        if vector is None and isinstance(self._embedder, LocalEmbedder):
            # Each hop to a worker thread waits its turn on a busy loop and executor: make one, not two.
            fresh, found = await asyncio.to_thread(self._embed_and_decide, self._embedder, namespace, text)
            self._remember(text, fresh)
            vector = fresh
        else:
            vector = vector if vector is not None else await self._vector(text)
            found = await asyncio.to_thread(self._decide, namespace, text, vector)
        if found is None and self._mirror is not None and await self._poll_mirror():
            found = await asyncio.to_thread(self._decide, namespace, text, vector)
        return found

    async def add(self, namespace: str, text: str, key: str) -> None:
        vector = await self._vector(text)
        # Off the loop: inserting into a large HNSW graph, or waiting for a search holding the lock, takes a while.
        await asyncio.to_thread(self.apply, namespace, text, key, vector, self._ttl_s)
        if self._mirror is not None:
            await self._mirror.publish(namespace, text, key, vector, self._ttl_s)

    def apply(self, namespace: str, text: str, key: str, vector: Vector, ttl_s: float) -> None:
        """Insert an already embedded entry (own adds, and entries replayed from the mirror)."""
        if ttl_s <= 0:
            return
        with self._lock:
            self._index.add(namespace, vector, text, key, ttl_s)

    def add_vectors(self, namespace: str, texts: list[str], keys: list[str], vectors: Vector) -> None:
        """Bulk insert for offline evaluation and warm-up."""
        with self._lock:
            self._index.add_many(namespace, np.asarray(vectors, dtype=np.float32), texts, keys, self._ttl_s)

    async def close(self) -> None:
        if self._mirror is not None:
            await self._mirror.close()

    def decide(self, namespace: str, text: str, vector: Vector) -> tuple[str, float] | None:
        """The synchronous core of ``lookup`` for an already embedded question."""
        return self._decide(namespace, text, vector)

    def _embed_and_decide(
        self, embedder: LocalEmbedder, namespace: str, text: str
    ) -> tuple[Vector, tuple[str, float] | None]:
        vector = np.asarray(embedder.encode([text])[0], dtype=np.float32)
        return vector, self._decide(namespace, text, vector)

    def _decide(self, namespace: str, text: str, vector: Vector) -> tuple[str, float] | None:
        with self._lock:
            candidates = self._index.search(namespace, vector, CANDIDATES)
        if not candidates:
            return None
        if self._verifier is None:
            best = candidates[0]
            return (best.entry.key, best.similarity) if best.similarity >= self.threshold else None
        return self._verified(text, vector, candidates)

    def _verified(self, text: str, vector: Vector, candidates: list[Candidate]) -> tuple[str, float] | None:
        assert self._verifier is not None
        worth = [c for c in candidates if c.similarity >= self._verifier.prefilter]
        if not worth:
            return None
        queries = np.broadcast_to(vector, (len(worth), vector.shape[0]))
        stored = np.stack([c.vector for c in worth])
        scores = self._verifier.score([(text, c.entry.text) for c in worth], queries, stored)
        best = int(np.argmax(scores))
        if self._cross_encoder is not None:
            # A few milliseconds per pair: only the verifier's favourite, and only when it is plausible at all.
            if scores[best] < self._cross_encoder.gate:
                return None
            score = float(self._cross_encoder.score([(worth[best].entry.text, text)], scores[best : best + 1])[0])
        else:
            score = float(scores[best])
        if score < self.threshold:
            return None
        return worth[best].entry.key, worth[best].similarity

    async def _vector(self, text: str) -> Vector:
        vector = self._recent_vector(text)
        if vector is None:
            vector = np.asarray((await self._embedder.embed([text]))[0], dtype=np.float32)
            self._remember(text, vector)
        return vector

    def _recent_vector(self, text: str) -> Vector | None:
        # Touched only on the event loop's thread, so the LRU needs no lock.
        vector = self._recent.get(text)
        if vector is not None:
            self._recent.move_to_end(text)
        return vector

    def _remember(self, text: str, vector: Vector) -> None:
        self._recent[text] = vector
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)

    async def _poll_mirror(self) -> bool:
        # One poll at a time, and at most one per interval: a burst of misses must not become a burst of reads.
        assert self._mirror is not None
        if self._clock() - self._polled_at < self._mirror_poll_s:
            return False
        async with self._poll_lock:
            if self._clock() - self._polled_at < self._mirror_poll_s:
                return False
            self._polled_at = self._clock()
            batch: list[tuple[str, str, str, Vector, float]] = []
            try:
                await self._mirror.poll(lambda *entry: batch.append(entry))
            except CacheUnavailable:
                # A dead Redis must not add its timeout to every miss: leave it alone for a while.
                self._polled_at = self._clock() + _MIRROR_BACKOFF_S
                raise
            if batch:
                await asyncio.to_thread(self._apply_all, batch)
            return bool(batch)

    def _apply_all(self, batch: list[tuple[str, str, str, Vector, float]]) -> None:
        for namespace, text, key, vector, ttl_s in batch:
            self.apply(namespace, text, key, vector, ttl_s)
