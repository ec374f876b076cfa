"""Relays an open stream to the client while keeping the books: usage, time to first token, errors.

Every chunk is probed once with a struct that decodes only ``choices``, ``usage`` and ``error``; msgspec
validates the JSON while skipping the rest. That catches malformed chunks and in-band upstream errors
before the client sees them, and picks up the usage chunk the gateway asked for. When the client did not
ask for usage, that chunk is dropped so the client sees the stream it requested.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import msgspec

from switchyard import errors
from switchyard.pipeline.context import RequestContext
from switchyard.routing.executor import OpenStream
from switchyard.types.chat import Usage


class _Probe(msgspec.Struct):
    choices: list[msgspec.Raw] | None = None
    usage: Usage | None = None
    error: msgspec.Raw | None = None


_probe = msgspec.json.Decoder(_Probe)

# The HTTP status a request gets in the log when the client went away first (nginx's convention).
CLIENT_CLOSED = 499


class StreamRelay:
    __slots__ = ("_ctx", "_open", "_client_usage", "_finish")

    def __init__(
        self,
        ctx: RequestContext,
        open_stream: OpenStream,
        client_usage: bool,
        finish: Callable[[RequestContext], None],
    ) -> None:
        self._ctx = ctx
        self._open = open_stream
        self._client_usage = client_usage
        self._finish = finish

    async def batches(self) -> AsyncIterator[list[bytes]]:
        """Batches of OpenAI chunk payloads. Raises a ``SwitchyardError`` if the upstream breaks."""
        ctx = self._ctx
        ctx.ttft_ms = round(ctx.elapsed_ms(), 3)
        try:
            kept, broken = self._inspect(self._open.first)
            if kept:
                yield kept
            if broken is not None:
                raise broken
            async for batch in self._open.batches:
                kept, broken = self._inspect(batch)
                if kept:
                    yield kept
                if broken is not None:
                    raise broken
        except errors.SwitchyardError as exc:
            ctx.status, ctx.error_code = exc.status, exc.code
            raise
        except (asyncio.CancelledError, GeneratorExit):
            ctx.status, ctx.error_code = CLIENT_CLOSED, "client_disconnected"
            raise
        finally:
            await self._open.aclose()
            self._finish(ctx)

    def _inspect(self, batch: list[bytes]) -> tuple[list[bytes], errors.SwitchyardError | None]:
        """The chunks to forward, and the error that ends the stream after them (if any)."""
        keep: list[bytes] = []
        for payload in batch:
            try:
                probe = _probe.decode(payload)
            except msgspec.DecodeError:
                return keep, errors.UpstreamError("upstream sent a malformed stream chunk")
            if probe.error is not None:
                return keep, errors.UpstreamError("upstream reported an error mid-stream: " + _message(probe.error))
            if probe.usage is not None:
                self._ctx.usage = probe.usage
                if not probe.choices and not self._client_usage:
                    continue
            keep.append(payload)
        return keep, None


def _message(raw: msgspec.Raw) -> str:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return "unreadable error"
    if isinstance(value, dict):
        return str(value.get("message", "unknown error"))[:500]
    return str(value)[:500]
