"""The two cache seams: where entries are kept (``CacheBackend``) and how a near-duplicate question finds one
(``SemanticIndex``). Each has a memory implementation and a scale-out one; the composition root picks."""

from __future__ import annotations

from typing import Protocol


class CacheBackend(Protocol):
    """Opaque encoded entries by key, each with its own time to live.

    Implementations may raise ``CacheUnavailable`` when their store cannot be reached; the caller treats that as
    a miss (or a skipped write), never as the request's failure.
    """

    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes, ttl_s: int) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def clear(self) -> int:
        """Remove every entry (an operator's purge); returns how many were removed."""
        ...

    async def close(self) -> None: ...


class SemanticIndex(Protocol):
    """Finds the exact-cache entry stored for a question close in meaning to ``text``.

    ``namespace`` already pins everything that must match exactly (tenant, model group, system prompt, earlier
    turns, parameters), so an index never compares texts across namespaces.
    """

    async def lookup(self, namespace: str, text: str) -> tuple[str, float] | None:
        """The exact entry key of the closest stored text and its similarity, or None below the threshold."""
        ...

    async def add(self, namespace: str, text: str, key: str) -> None:
        """Remember that the answer to ``text`` in ``namespace`` is stored under exact key ``key``."""
        ...


class CacheUnavailable(Exception):
    """The backing store did not answer; callers degrade to a miss."""
