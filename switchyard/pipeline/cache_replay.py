"""A cached stream replayed to the client, through the same interface as the live relay (``batches``, ``format``).

The stored chunks go out as they were received (their ids, created times and finish reasons included), in one
batch, since there is no upstream to wait for; the usage-only chunk goes out only when the client asked for usage,
as the live relay decides. The after-stages run when the replay ends, as for a live stream.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from switchyard.cache.entry import CacheEntry
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.relay import CLIENT_CLOSED


class CachedStream:
    __slots__ = ("_ctx", "_entry", "_client_usage", "_finish")

    def __init__(
        self,
        ctx: RequestContext,
        entry: CacheEntry,
        client_usage: bool,
        finish: Callable[[RequestContext], None],
    ) -> None:
        self._ctx = ctx
        self._entry = entry
        self._client_usage = client_usage
        self._finish = finish

    @property
    def format(self) -> str | None:
        return self._entry.format

    async def batches(self) -> AsyncIterator[list[bytes]]:
        ctx, entry = self._ctx, self._entry
        chunks = entry.chunks or []
        if entry.usage_only and not self._client_usage:
            skip = set(entry.usage_only)
            chunks = [chunk for index, chunk in enumerate(chunks) if index not in skip]
        ctx.usage = entry.usage
        try:
            if chunks:
                yield chunks
        except (asyncio.CancelledError, GeneratorExit):
            ctx.status, ctx.error_code = CLIENT_CLOSED, "client_disconnected"
            raise
        finally:
            self._finish(ctx)
