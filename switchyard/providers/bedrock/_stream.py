"""ConverseStream (AWS event-stream frames of JSON events) → OpenAI chat.completion.chunk payloads.

Events, by the ``:event-type`` header: ``messageStart`` opens (→ the role chunk); ``contentBlockStart``
announces a tool call (→ its first delta: id, name, empty arguments); ``contentBlockDelta`` carries text,
tool-input JSON fragments or reasoning text; ``contentBlockStop`` closes a block; ``messageStop`` carries
the stop reason (→ the finish chunk); ``metadata`` carries usage (→ the usage chunk). A message whose
``:message-type`` is ``exception`` (``:exception-type`` throttlingException, modelStreamErrorException,
validationException, ...) ends the stream with the matching typed error. The stream ends normally only
after ``messageStop`` and on a frame boundary; anything else is a cut stream and raises.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import TypeVar

import msgspec

from switchyard import errors
from switchyard.providers.bedrock._response import (
    PROVIDER,
    TokenUsage,
    classify,
    completion_id,
    finish_reason,
    usage_of,
)
from switchyard.streaming.eventstream import EventMessage, EventStreamDecoder
from switchyard.transport import UpstreamStream
from switchyard.types.chat import ChatCompletionChunk, ChunkChoice, Delta, ToolCallDelta


class _ToolUseStart(msgspec.Struct):
    toolUseId: str
    name: str


class _Start(msgspec.Struct):
    toolUse: _ToolUseStart | None = None


class _BlockStart(msgspec.Struct):
    contentBlockIndex: int
    start: _Start = msgspec.field(default_factory=_Start)


class _ToolUseDelta(msgspec.Struct):
    input: str = ""


class _ReasoningDelta(msgspec.Struct):
    text: str | None = None


class _DeltaBody(msgspec.Struct):
    text: str | None = None
    toolUse: _ToolUseDelta | None = None
    reasoningContent: _ReasoningDelta | None = None


class _BlockDelta(msgspec.Struct):
    contentBlockIndex: int
    delta: _DeltaBody


class _MessageStop(msgspec.Struct):
    stopReason: str


class _Metadata(msgspec.Struct):
    usage: TokenUsage | None = None


class _Exception(msgspec.Struct):
    message: str | None = None
    Message: str | None = None


_start = msgspec.json.Decoder(_BlockStart)
_delta = msgspec.json.Decoder(_BlockDelta)
_stop = msgspec.json.Decoder(_MessageStop)
_metadata = msgspec.json.Decoder(_Metadata)
_exception = msgspec.json.Decoder(_Exception)
_encoder = msgspec.json.Encoder()
_T = TypeVar("_T")


class BedrockStream:
    __slots__ = (
        "_stream",
        "_model",
        "_json_tool",
        "_secrets",
        "_id",
        "_created",
        "_tools",
        "_stopped",
        "upstream_request_id",
    )

    def __init__(
        self, stream: UpstreamStream, model: str, json_tool: str | None, secrets: tuple[str | None, ...]
    ) -> None:
        self._stream = stream
        self._model = model
        self._json_tool = json_tool
        self._secrets = secrets
        self.upstream_request_id: str | None = stream.headers.get("x-amzn-RequestId")
        self._id = completion_id(self.upstream_request_id)
        self._created = int(time.time())
        # contentBlockIndex → the OpenAI tool-call index (None for the forced JSON tool, sent as content).
        self._tools: dict[int, int | None] = {}
        self._stopped = False

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder = EventStreamDecoder()
        try:
            async for chunk in self._stream.chunks():
                batch: list[bytes] = []
                try:
                    for message in decoder.feed(chunk):
                        batch += self._translate(message)
                except errors.SwitchyardError:
                    if batch:  # what arrived intact before the failure still reaches the client
                        yield batch
                    raise
                if batch:
                    yield batch
            decoder.finish()
            if not self._stopped:
                raise errors.UpstreamError(f"upstream {PROVIDER} ended the stream before messageStop")
        finally:
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._stream.aclose()

    def _translate(self, message: EventMessage) -> list[bytes]:
        kind = message.header(":message-type") or "event"
        if kind == "exception":
            body = _decode(_exception, message.payload, "exception")
            text = body.message or body.Message or ""
            raise classify(message.header(":exception-type") or "", 0, text, None, self._secrets)
        if kind == "error":
            text = message.header(":error-message") or ""
            raise classify(message.header(":error-code") or "", 0, text, None, self._secrets)
        event = message.header(":event-type")
        if event == "contentBlockDelta":
            return self._delta(_decode(_delta, message.payload, event))
        if event == "messageStart":
            return [self._chunk(Delta(role="assistant", content=""))]
        if event == "contentBlockStart":
            return self._block_start(_decode(_start, message.payload, event))
        if event == "messageStop":
            self._stopped = True
            stop = _decode(_stop, message.payload, event)
            return [self._chunk(Delta(), finish_reason(stop.stopReason, self._json_tool))]
        if event == "metadata":
            usage = _decode(_metadata, message.payload, event).usage
            if usage is None:
                return []
            chunk = ChatCompletionChunk(self._id, self._created, self._model, [], usage=usage_of(usage))
            return [_encoder.encode(chunk)]
        return []  # contentBlockStop, and event types added after this was written

    def _block_start(self, event: _BlockStart) -> list[bytes]:
        use = event.start.toolUse
        if use is None:
            return []
        if self._json_tool is not None and use.name == self._json_tool:
            self._tools[event.contentBlockIndex] = None
            return []
        index = sum(1 for value in self._tools.values() if value is not None)
        self._tools[event.contentBlockIndex] = index
        head = ToolCallDelta(index, use.toolUseId, "function", {"name": use.name, "arguments": ""})
        return [self._chunk(Delta(tool_calls=[head]))]

    def _delta(self, event: _BlockDelta) -> list[bytes]:
        delta = event.delta
        if delta.text is not None:
            return [self._chunk(Delta(content=delta.text))] if delta.text else []
        if delta.toolUse is not None:
            if event.contentBlockIndex not in self._tools:
                raise errors.UpstreamError(f"upstream {PROVIDER} sent tool input for a block it never started")
            index = self._tools[event.contentBlockIndex]
            if not delta.toolUse.input:
                return []
            if index is None:  # JSON mode: the forced tool's input is the answer
                return [self._chunk(Delta(content=delta.toolUse.input))]
            fragment = ToolCallDelta(index, function={"arguments": delta.toolUse.input})
            return [self._chunk(Delta(tool_calls=[fragment]))]
        reasoning = delta.reasoningContent
        if reasoning is not None and reasoning.text:
            return [self._chunk(Delta(reasoning_content=reasoning.text))]
        return []  # reasoning signatures, redacted reasoning, citations

    def _chunk(self, delta: Delta, finish: str | None = None) -> bytes:
        choice = ChunkChoice(0, delta, finish)
        return _encoder.encode(ChatCompletionChunk(self._id, self._created, self._model, [choice]))


def _decode(decoder: msgspec.json.Decoder[_T], payload: bytes, event: str) -> _T:
    try:
        return decoder.decode(payload)
    except msgspec.DecodeError as exc:
        raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable {event} event: {exc}") from None
