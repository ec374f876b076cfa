"""The in-process LRU: bounded by entries and bytes, least recently used first, entries expire."""

from __future__ import annotations

import asyncio

from switchyard.cache.entry import CacheEntry, decode_entry, encode_entry
from switchyard.cache.memory import MemoryCache
from switchyard.types.chat import Usage


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_evicts_least_recently_used_beyond_max_entries() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_entries=2, max_bytes=10_000)
        await cache.set("a", b"1", 60)
        await cache.set("b", b"2", 60)
        assert await cache.get("a") == b"1"  # a is now the most recent
        await cache.set("c", b"3", 60)
        assert await cache.get("b") is None
        assert await cache.get("a") == b"1" and await cache.get("c") == b"3"
        assert len(cache) == 2

    asyncio.run(scenario())


def test_evicts_by_bytes_and_refuses_what_cannot_fit() -> None:
    async def scenario() -> None:
        cache = MemoryCache(max_entries=100, max_bytes=30)
        await cache.set("a", b"x" * 9, 60)  # 10 bytes with its key
        await cache.set("b", b"x" * 9, 60)
        await cache.set("c", b"x" * 9, 60)
        assert cache.size == 30
        await cache.set("d", b"x" * 14, 60)  # 15 bytes: a and b must go
        assert await cache.get("a") is None and await cache.get("b") is None
        assert await cache.get("c") is not None and await cache.get("d") is not None
        assert cache.size == 25
        await cache.set("e", b"x" * 40, 60)
        assert await cache.get("e") is None and len(cache) == 2
        await cache.set("c", b"y", 60)  # overwrite keeps the byte count right
        assert cache.size == 17 and await cache.get("c") == b"y"
        await cache.delete("c")
        assert await cache.get("c") is None and cache.size == 15

    asyncio.run(scenario())


def test_entries_expire_after_their_ttl() -> None:
    async def scenario() -> None:
        clock = Clock()
        cache = MemoryCache(max_entries=10, max_bytes=1000, clock=clock)
        await cache.set("short", b"1", 5)
        await cache.set("long", b"2", 50)
        clock.now += 5
        assert await cache.get("short") is None
        assert await cache.get("long") == b"2"
        assert len(cache) == 1
        clock.now += 45
        assert await cache.get("long") is None

    asyncio.run(scenario())


def test_entry_round_trips_and_foreign_bytes_are_a_miss() -> None:
    entry = CacheEntry(1.0, 60, None, chunks=[b'{"a":1}', b'{"b":2}'], usage_only=[1], usage=Usage(1, 2, 3))
    assert decode_entry(encode_entry(entry)) == entry
    assert decode_entry(b"\x00garbage") is None
    assert entry.expired(61.0) and not entry.expired(60.9)
    assert entry.size() == 14
