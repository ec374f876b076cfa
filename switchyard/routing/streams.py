"""Opening a stream so that failover stays invisible: nothing is committed until real content arrives.

An attempt at a stream succeeds only once a chunk with content (text, a tool call, a finish or usage) has
arrived, within the time-to-first-token deadline. Everything before that (connection errors, error
statuses, a role-only opening chunk followed by silence, malformed or in-band error chunks, a stream that
ends empty) is an ordinary attempt failure the executor can route around.

What counts as content depends on the format: OpenAI chunks are read by ``routing.chunks.probe``; a native
stream (``providers.base.NativeStream``) carries its own ``probe``, which the relay uses afterwards as well.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from switchyard import errors
from switchyard.limits.protocols import Reservation
from switchyard.providers.base import ChatCall, ChunkStream, EventProbe, NativeProvider, NativeStream
from switchyard.routing.chunks import probe
from switchyard.routing.target import Target
from switchyard.types.chat import Usage


class _Probed(Protocol):
    @property
    def meaningful(self) -> bool: ...


class OpenStream:
    """A stream whose first content has arrived. ``finish`` reports how it ended, exactly once.

    ``format`` is None for OpenAI chunk payloads; else the native format of the frames, which ``probe`` reads.
    """

    __slots__ = (
        "stream",
        "batches",
        "first",
        "deployment",
        "format",
        "probe",
        "stall_s",
        "deadline",
        "usage",
        "held",
        "_on_end",
        "_ended",
    )

    def __init__(
        self,
        stream: ChunkStream | NativeStream,
        batches: AsyncIterator[list[bytes]],
        first: list[bytes],
        deployment: str,
        format: str | None = None,
        probe: Callable[[bytes], EventProbe] | None = None,
    ) -> None:
        self.stream = stream
        self.batches = batches
        self.first = first
        self.deployment = deployment
        self.format = format
        self.probe = probe
        self.stall_s: float | None = None
        self.deadline: float | None = None  # loop time by which the whole stream must be done
        # The usage the relay read (for settling a deployment's limits at the end) and that reservation.
        self.usage: Usage | None = None
        self.held: Reservation | None = None
        self._on_end: Callable[[errors.SwitchyardError | None], None] | None = None
        self._ended = False

    def on_end(self, callback: Callable[[errors.SwitchyardError | None], None]) -> None:
        self._on_end = callback

    async def aclose(self, error: errors.SwitchyardError | None = None) -> None:
        if not self._ended:
            self._ended = True
            if self._on_end is not None:
                self._on_end(error)
        aclose = getattr(self.batches, "aclose", None)
        if aclose is not None:
            await aclose()
        await self.stream.aclose()


async def open_stream(target: Target, call: ChatCall, ttft_s: float | None) -> OpenStream:
    stream = await target.provider.chat_stream(call)
    batches = stream.batches()
    try:
        if ttft_s is None:
            first = await _until_content(batches, probe)
        else:
            try:
                async with asyncio.timeout(ttft_s):
                    first = await _until_content(batches, probe)
            except TimeoutError:
                raise errors.UpstreamTimeoutError(f"no first token within {ttft_s:g}s") from None
    except BaseException:
        await _close(stream, batches)
        raise
    return OpenStream(stream, batches, first, target.id)


async def open_native_stream(
    target: Target, provider: NativeProvider, call: ChatCall, ttft_s: float | None
) -> OpenStream:
    """The same for the call's native body: the frames stay in that format, and the stream's own probe reads them."""
    stream = await provider.chat_native_stream(call)
    batches = stream.batches()
    try:
        if ttft_s is None:
            first = await _until_content(batches, stream.probe)
        else:
            try:
                async with asyncio.timeout(ttft_s):
                    first = await _until_content(batches, stream.probe)
            except TimeoutError:
                raise errors.UpstreamTimeoutError(f"no first token within {ttft_s:g}s") from None
    except BaseException:
        await _close(stream, batches)
        raise
    return OpenStream(stream, batches, first, target.id, stream.format, stream.probe)


async def _close(stream: ChunkStream | NativeStream, batches: AsyncIterator[list[bytes]]) -> None:
    aclose = getattr(batches, "aclose", None)
    if aclose is not None:
        await aclose()
    await stream.aclose()


async def _until_content(batches: AsyncIterator[list[bytes]], reader: Callable[[bytes], _Probed]) -> list[bytes]:
    buffered: list[bytes] = []
    async for batch in batches:
        buffered += batch
        if any(reader(payload).meaningful for payload in batch):
            return buffered
    raise errors.UpstreamError("upstream ended the stream before sending any content")
