"""Semantic-cache entries shared through a real Redis: another instance finds them, expired ones are not replayed,
and an unreachable Redis is reported as ``CacheUnavailable`` (a miss to the caller)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence

import numpy as np
import pytest

from switchyard.cache.protocols import CacheUnavailable
from switchyard.cache.semantic import SemanticCache
from switchyard.cache.semantic_redis import RedisMirror
from tests.services import RedisServer

DIMS = 16


class HashEmbedder:
    """Deterministic unit vectors per text; texts ending in "!" embed like the text without it (a "paraphrase")."""

    dimensions = DIMS
    model_id = "hash"

    async def embed(self, texts: Sequence[str]) -> np.ndarray:
        rows = []
        for text in texts:
            seed = int.from_bytes(hashlib.blake2b(text.rstrip("!").encode(), digest_size=8).digest(), "big")
            v = np.random.default_rng(seed).standard_normal(DIMS).astype(np.float32)
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def instance(
    url: str, stream: str, clock: Clock | None = None, ttl_s: float = 60, model: str = HashEmbedder.model_id
) -> SemanticCache:
    clock = clock or Clock()
    mirror = RedisMirror(url, dimensions=DIMS, model_id=model, max_entries=1000, stream=stream, clock=clock)
    return SemanticCache(
        HashEmbedder(), verifier=None, threshold=0.99, ttl_s=ttl_s, mirror=mirror, mirror_poll_s=0, clock=clock
    )


def test_an_entry_added_on_one_instance_is_found_on_another(redis_server: RedisServer) -> None:
    async def run() -> None:
        one, two = instance(redis_server.url, "t:share"), instance(redis_server.url, "t:share")
        await one.add("tenant", "what is a gateway", "exact-1")
        found = await two.lookup("tenant", "what is a gateway!")
        assert found is not None and found[0] == "exact-1" and found[1] == pytest.approx(1.0, abs=2e-3)
        assert await two.lookup("other-tenant", "what is a gateway") is None
        # The first instance does not re-apply its own entry from the stream.
        assert len(one.index) == 1 and len(two.index) == 1
        await one.close()
        await two.close()

    redis_server.flush()
    asyncio.run(run())


def test_vectors_from_another_embedding_model_are_not_replayed(redis_server: RedisServer) -> None:
    """A rolling upgrade to a retrained embedder: the old instances' vectors are not comparable with the new ones."""

    async def run() -> None:
        old, new = instance(redis_server.url, "t:model", model="hash-v1"), instance(redis_server.url, "t:model")
        peer = instance(redis_server.url, "t:model")
        await old.add("ns", "what is a gateway", "from-old")
        await peer.add("ns", "what is a router", "from-peer")
        assert await new.lookup("ns", "what is a gateway!") is None
        assert await new.lookup("ns", "what is a router!") == ("from-peer", pytest.approx(1.0, abs=2e-3))
        assert len(new.index) == 1
        for cache in (old, new, peer):
            await cache.close()

    redis_server.flush()
    asyncio.run(run())


def test_a_late_instance_replays_the_stream_but_not_expired_entries(redis_server: RedisServer) -> None:
    async def run() -> None:
        clock = Clock()
        writer = instance(redis_server.url, "t:late", clock, ttl_s=10)
        await writer.add("ns", "short lived", "k1")
        clock.now += 20
        await writer.close()
        writer = instance(redis_server.url, "t:late", clock, ttl_s=100)
        await writer.add("ns", "long lived", "k2")
        reader = instance(redis_server.url, "t:late", clock)
        assert await reader.lookup("ns", "short lived") is None
        assert await reader.lookup("ns", "long lived") == ("k2", pytest.approx(1.0, abs=2e-3))
        assert len(reader.index) == 1
        await writer.close()
        await reader.close()

    redis_server.flush()
    asyncio.run(run())


def test_an_unreachable_redis_raises_cache_unavailable() -> None:
    async def run() -> None:
        cache = instance("redis://127.0.0.1:1/0", "t:down")
        with pytest.raises(CacheUnavailable):
            await cache.add("ns", "q", "k")
        # The local index still learned the entry; lookups that hit locally do not need Redis.
        assert await cache.lookup("ns", "q") == ("k", pytest.approx(1.0, abs=1e-5))
        with pytest.raises(CacheUnavailable):
            await cache.lookup("ns", "unknown")
        await cache.close()

    asyncio.run(run())
