"""The in-process exact cache: least recently used entries go first, bounded by count and by bytes."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class MemoryCache:
    """An LRU of encoded entries with a per-entry deadline. One per process; the event loop serialises access."""

    def __init__(self, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._clock = clock
        # key -> (deadline on the clock, value); ordered from least to most recently used.
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Bytes held: keys and values."""
        return self._bytes

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None:
            return None
        deadline, value = item
        if self._clock() >= deadline:
            self._remove(key)
            return None
        self._items.move_to_end(key)
        return value

    async def set(self, key: str, value: bytes, ttl_s: int) -> None:
        size = len(key) + len(value)
        if size > self._max_bytes:
            return  # would evict everything else and still not fit
        if key in self._items:
            self._remove(key)
        self._items[key] = (self._clock() + ttl_s, value)
        self._bytes += size
        while len(self._items) > self._max_entries or self._bytes > self._max_bytes:
            self._remove(next(iter(self._items)))

    async def delete(self, key: str) -> None:
        if key in self._items:
            self._remove(key)

    async def clear(self) -> int:
        removed = len(self._items)
        self._items.clear()
        self._bytes = 0
        return removed

    async def close(self) -> None:
        await self.clear()

    def _remove(self, key: str) -> None:
        _, value = self._items.pop(key)
        self._bytes -= len(key) + len(value)
