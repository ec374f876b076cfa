"""Relays an open stream to the client while keeping the books: usage, time to first token, errors.

Every chunk is probed once (see ``routing.chunks``): malformed chunks and in-band upstream errors end the
stream with an explicit error instead of reaching the client, and the usage chunk the gateway asked for
is read, then dropped unless the client asked for it too. Silence longer than the stall deadline, or a
stream outliving the request's total deadline, also ends it with an error.

A native stream (``format`` set: frames in the client's own API) is read with the stream's own probe instead:
every frame is relayed as it is, its usage noted, an in-band error ends the stream the same way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from switchyard import errors
from switchyard.pipeline.context import RequestContext
from switchyard.routing.chunks import Probe, probe
from switchyard.routing.streams import OpenStream

# The HTTP status a request gets in the log when the client went away first (nginx's convention).
CLIENT_CLOSED = 499


class StreamRecorder(Protocol):
    """Sees every payload the relay reads (before the usage chunk is dropped), and hears of a clean end."""

    def record(self, payload: bytes, usage_only: bool, tool_call: bool) -> None: ...

    def complete(self, ctx: RequestContext) -> None:
        """Called after the after-stages, only when the upstream finished the stream properly."""
        ...


class StreamRelay:
    __slots__ = ("_ctx", "_open", "_client_usage", "_finish", "_recorder")

    def __init__(
        self,
        ctx: RequestContext,
        open_stream: OpenStream,
        client_usage: bool,
        finish: Callable[[RequestContext], None],
        recorder: StreamRecorder | None = None,
    ) -> None:
        self._ctx = ctx
        self._open = open_stream
        self._client_usage = client_usage
        self._finish = finish
        self._recorder = recorder

    @property
    def format(self) -> str | None:
        """None: batches of OpenAI chunk payloads; else the native format of the frames (``OpenStream.format``)."""
        return self._open.format

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """Batches of OpenAI chunk payloads (or native frames). Raises a ``SwitchyardError`` if the upstream breaks."""
        ctx, opened = self._ctx, self._open
        inspect = self._inspect if opened.probe is None else self._inspect_native
        failure: errors.SwitchyardError | None = None
        complete = False
        try:
            kept, broken = inspect(opened.first)
            if kept:
                yield kept
            if broken is not None:
                raise broken
            source = opened.batches
            loop = asyncio.get_running_loop()
            while True:
                wait = opened.stall_s
                if opened.deadline is not None:
                    left = opened.deadline - loop.time()
                    wait = left if wait is None else min(wait, left)
                try:
                    if wait is None:
                        batch = await anext(source)
                    else:
                        async with asyncio.timeout(max(0.0, wait)):
                            batch = await anext(source)
                except StopAsyncIteration:
                    complete = True
                    break
                except TimeoutError:
                    raise errors.StreamInterruptedError(
                        f"upstream stream stalled: no data for {wait:.3g}s"
                        if wait == opened.stall_s
                        else "the stream exceeded the request's total timeout"
                    ) from None
                kept, broken = inspect(batch)
                if kept:
                    yield kept
                if broken is not None:
                    raise broken
        except errors.SwitchyardError as exc:
            failure = exc
            ctx.status, ctx.error_code = exc.status, exc.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            ctx.status, ctx.error_code = CLIENT_CLOSED, "client_disconnected"
            raise
        finally:
            await opened.aclose(failure)
            self._finish(ctx)
            if complete and self._recorder is not None:
                self._recorder.complete(ctx)

    def _inspect(self, batch: list[bytes]) -> tuple[list[bytes], errors.SwitchyardError | None]:
        """The chunks to forward, and the error that ends the stream after them (if any)."""
        keep: list[bytes] = []
        recorder, kept_log = self._recorder, self._ctx.stream_log
        for payload in batch:
            try:
                chunk = probe(payload)
            except errors.SwitchyardError as exc:
                return keep, exc
            if recorder is not None:
                recorder.record(payload, chunk.usage is not None and not chunk.choices, _calls_tools(chunk))
            if chunk.usage is not None:
                self._ctx.usage = self._open.usage = chunk.usage
                if not chunk.choices and not self._client_usage:
                    continue
            keep.append(payload)
            if kept_log is not None:
                kept_log.add(payload)
        return keep, None

    def _inspect_native(self, batch: list[bytes]) -> tuple[list[bytes], errors.SwitchyardError | None]:
        probe = self._open.probe
        assert probe is not None
        keep: list[bytes] = []
        kept_log = self._ctx.stream_log
        if kept_log is not None:
            kept_log.native = True  # frames in the client's own API, not OpenAI chunk JSON
        for frame in batch:
            try:
                event = probe(frame)
            except errors.SwitchyardError as exc:
                return keep, exc
            if event.usage is not None:
                self._ctx.usage = self._open.usage = event.usage
            if self._recorder is not None:
                self._recorder.record(frame, False, False)  # tool use in native frames: the cache policy decides
            keep.append(frame)
            if kept_log is not None:
                kept_log.add(frame)
        return keep, None


def _calls_tools(chunk: Probe) -> bool:
    for choice in chunk.choices or ():
        delta = choice.delta
        if delta is not None and (delta.tool_calls or delta.function_call is not None):
            return True
    return False
