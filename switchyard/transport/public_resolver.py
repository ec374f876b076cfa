"""A resolver for caller-chosen URLs that refuses names resolving into private networks (see guarded.py)."""

from __future__ import annotations

import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from switchyard.transport.guarded import BLOCKED, is_public


class PublicOnlyResolver(AbstractResolver):
    def __init__(self) -> None:
        self._inner = aiohttp.ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._inner.resolve(host, port, family)
        if not results or not all(is_public(r["host"]) for r in results):
            raise OSError(BLOCKED)
        return results

    async def close(self) -> None:
        await self._inner.close()
