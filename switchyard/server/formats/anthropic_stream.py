"""Canonical chunk batches (OpenAI ``chat.completion.chunk`` payloads) → Anthropic's streamed Message events.

Each event is framed as Anthropic frames it, ``event: <type>`` then ``data: <JSON>`` and a blank line:

- ``message_start`` when the first chunk arrives: the message with empty content, ``stop_reason`` null and
  the usage known so far (the input estimate of ``anthropic_tokens`` unless that chunk carries usage), then one
  ``ping``;
- a block per run of one kind, each ``content_block_start`` / deltas / ``content_block_stop``, indexed from 0 in
  order: ``reasoning_content`` → a ``thinking`` block with ``thinking_delta``; ``content`` and ``refusal`` → a
  ``text`` block with ``text_delta``; each tool call (by its OpenAI index) → its own ``tool_use`` block, opened
  with its id, name and ``input: {}``, whose argument fragments are ``input_json_delta``. A change of kind closes
  the open block. Providers stream tool calls one after another; a late fragment for an earlier call still goes
  to that call's block index, which is how the SDKs assemble it;
- at the end of a complete stream only: the open block's ``content_block_stop``, ``message_delta`` with the
  ``stop_reason`` (see ``anthropic_response.stop_reason``) and the cumulative usage from the usage chunk (the
  route has the pipeline relay it: ``usage_chunk=True``), then ``message_stop``.

A broken stream never gets ``message_delta`` or ``message_stop``: the relay raises, and the route's SSE response
sends Anthropic's ``event: error`` instead (``anthropic_errors.error_event``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal

import msgspec

from switchyard.errors import UpstreamError
from switchyard.server.formats.anthropic_response import message_id, stop_reason, usage_of
from switchyard.types import anthropic as wire
from switchyard.types.chat import Usage


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCallDelta(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _Function | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[_ToolCallDelta] | None = None


class _Choice(msgspec.Struct):
    index: int = 0
    delta: _Delta = msgspec.field(default_factory=_Delta)
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None


_chunk = msgspec.json.Decoder(_Chunk)
_encode = msgspec.json.Encoder().encode
_PING = b'event: ping\ndata: {"type":"ping"}\n\n'
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
Kind = Literal["text", "thinking", "tool"]


def _frame(name: bytes, event: msgspec.Struct) -> bytes:
    return b"event: " + name + b"\ndata: " + _encode(event) + b"\n\n"


class StreamEncoder:
    """The state of one streamed answer: which block is open, the tool blocks by call, the stop and the usage."""

    __slots__ = ("_model", "_estimate", "_started", "_blocks", "_open", "_kind", "_tools", "_finish", "_usage")

    def __init__(self, model: str, input_estimate: int) -> None:
        self._model = model
        self._estimate = input_estimate
        self._started = False
        self._blocks = 0  # blocks opened so far: the next block's index
        self._open: int | None = None  # index of the open block
        self._kind: Kind | None = None
        self._tools: dict[int, int] = {}  # OpenAI tool-call index → block index
        self._finish: str | None = None
        self._usage: Usage | None = None

    def feed(self, batch: list[bytes]) -> bytes:
        out: list[bytes] = []
        for payload in batch:
            try:
                chunk = _chunk.decode(payload)
            except msgspec.DecodeError as exc:
                raise UpstreamError(f"the upstream sent a stream chunk that could not be read: {exc}") from None
            if chunk.usage is not None:
                self._usage = chunk.usage
            if not self._started:
                self._start(chunk.id, chunk.model, out)
            for choice in chunk.choices:
                if choice.index == 0:
                    self._choice(choice, out)
        return b"".join(out)

    def finish(self) -> bytes:
        """The events that end a complete stream."""
        out: list[bytes] = []
        if not self._started:
            self._start("", "", out)
        self._close(out)
        counts = wire.MessageDeltaUsage(0)
        if self._usage is not None:
            usage = usage_of(self._usage)
            read, created = usage.cache_read_input_tokens, usage.cache_creation_input_tokens
            counts = wire.MessageDeltaUsage(usage.output_tokens, usage.input_tokens, created, read)
        delta = wire.MessageDeltaEvent(wire.MessageDelta(stop_reason(self._finish)), counts)
        out += [_frame(b"message_delta", delta), _STOP]
        return b"".join(out)

    def _start(self, completion_id: str, model: str, out: list[bytes]) -> None:
        self._started = True
        usage = usage_of(self._usage) if self._usage is not None else wire.Usage(self._estimate, 0)
        message = wire.Message(
            id=message_id(completion_id), model=model or self._model, content=[], stop_reason=None, usage=usage
        )
        out += [_frame(b"message_start", wire.MessageStartEvent(message)), _PING]

    def _choice(self, choice: _Choice, out: list[bytes]) -> None:
        delta = choice.delta
        if delta.reasoning_content:
            self._delta("thinking", wire.ThinkingDelta(delta.reasoning_content), out)
        for text in (delta.content, delta.refusal):
            if text:
                self._delta("text", wire.TextDelta(text), out)
        for call in delta.tool_calls or ():
            self._tool(call, out)
        if choice.finish_reason is not None:
            self._finish = choice.finish_reason

    def _delta(self, kind: Kind, delta: wire.TextDelta | wire.ThinkingDelta, out: list[bytes]) -> None:
        if self._kind != kind or self._open is None:
            block: wire.OutputBlock = wire.TextBlock("") if kind == "text" else wire.ThinkingBlock("")
            self._begin(kind, block, out)
        assert self._open is not None
        out.append(_frame(b"content_block_delta", wire.ContentBlockDeltaEvent(self._open, delta)))

    def _tool(self, call: _ToolCallDelta, out: list[bytes]) -> None:
        function = call.function or _Function()
        index = self._tools.get(call.index)
        if index is None:
            call_id = call.id or f"toolu_{self._blocks}"
            index = self._begin("tool", wire.ToolUseBlock(call_id, function.name or "", {}), out)
            self._tools[call.index] = index
        if function.arguments:
            event = wire.ContentBlockDeltaEvent(index, wire.InputJSONDelta(function.arguments))
            out.append(_frame(b"content_block_delta", event))

    def _begin(self, kind: Kind, block: wire.OutputBlock, out: list[bytes]) -> int:
        self._close(out)
        index = self._blocks
        self._blocks += 1
        self._open, self._kind = index, kind
        out.append(_frame(b"content_block_start", wire.ContentBlockStartEvent(index, block)))
        return index

    def _close(self, out: list[bytes]) -> None:
        if self._open is not None:
            out.append(_frame(b"content_block_stop", wire.ContentBlockStopEvent(self._open)))
            self._open = self._kind = None


async def anthropic_events(batches: AsyncIterator[list[bytes]], encoder: StreamEncoder) -> AsyncIterator[list[bytes]]:
    """Framed events, one batch per upstream batch; the closing events only once the relay ends normally."""
    try:
        async for batch in batches:
            frames = encoder.feed(batch)
            if frames:
                yield [frames]
    finally:
        close = getattr(batches, "aclose", None)
        if close is not None:
            await close()  # runs the relay's clean-up now, not whenever the generator is collected
    yield [encoder.finish()]
