"""Anthropic's streamed Messages (SSE events) → OpenAI chat.completion.chunk payloads.

Events, by their ``type``: ``message_start`` opens (→ the role chunk; it carries the input usage);
``content_block_start`` announces a block (a ``tool_use`` block → its first tool-call delta: index, id, name,
empty arguments); ``content_block_delta`` carries ``text_delta`` (→ content), ``input_json_delta`` (→
argument fragments, or content for the forced JSON tool), ``thinking_delta`` (→ reasoning_content);
``signature_delta`` and ``citations_delta`` carry nothing a client of this format can use; ``content_block_stop``
closes a block; ``message_delta`` carries the stop reason and cumulative usage; ``message_stop`` ends the
message (→ the finish chunk, then the usage chunk). ``ping`` is ignored, as are event types added after this
was written. An ``error`` event ends the stream with the matching typed error. The stream ends normally only
after ``message_stop``; anything else is a cut stream and raises.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec

from switchyard import errors
from switchyard.providers.anthropic._response import (
    PROVIDER,
    Block,
    ErrorDetail,
    MessageBody,
    TokenUsage,
    classify,
    completion_id,
    finish_reason,
    usage_of,
)
from switchyard.streaming.sse import SSEDecoder, SSEEvent
from switchyard.transport import UpstreamStream
from switchyard.types.chat import ChatCompletionChunk, ChunkChoice, Delta, ToolCallDelta


class _Delta(msgspec.Struct):
    # content_block_delta's delta (by type) and message_delta's delta (stop_reason) share this struct.
    type: str | None = None
    text: str | None = None
    partial_json: str | None = None
    thinking: str | None = None
    stop_reason: str | None = None


class _Event(msgspec.Struct):
    type: str
    index: int = 0
    message: MessageBody | None = None
    content_block: Block | None = None
    delta: _Delta | None = None
    usage: TokenUsage | None = None
    error: ErrorDetail | None = None


_event_decoder = msgspec.json.Decoder(_Event)
_encoder = msgspec.json.Encoder()


class _ToolBlock:
    """A tool_use block in progress: its OpenAI index (None for the JSON tool) and whether input arrived."""

    __slots__ = ("index", "has_input")

    def __init__(self, index: int | None) -> None:
        self.index = index
        self.has_input = False


class AnthropicStream:
    __slots__ = (
        "_stream",
        "_model",
        "_json_tool",
        "_secrets",
        "_id",
        "_created",
        "_tools",
        "_calls",
        "_usage",
        "_stop_reason",
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
        self.upstream_request_id: str | None = stream.headers.get("request-id")
        self._id = completion_id("")
        self._created = int(time.time())
        self._tools: dict[int, _ToolBlock] = {}  # content block index → tool block
        self._calls = 0  # tool calls announced to the client (the JSON tool is not one)
        self._usage = TokenUsage()
        self._stop_reason: str | None = None
        self._stopped = False

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder = SSEDecoder()
        try:
            async for chunk in self._stream.chunks():
                batch = self._feed(decoder.feed(chunk))
                if batch:
                    yield batch
                if self._stopped:
                    return
            batch = self._feed(decoder.flush())
            if batch:
                yield batch
            if not self._stopped:
                raise errors.UpstreamError(f"upstream {PROVIDER} ended the stream before message_stop")
        finally:
            await self._stream.aclose()

    def _feed(self, events: list[SSEEvent]) -> list[bytes]:
        batch: list[bytes] = []
        for event in events:
            batch += self._translate(event)
            if self._stopped:
                break  # anything after message_stop is not part of the message
        return batch

    async def aclose(self) -> None:
        await self._stream.aclose()

    def _translate(self, raw: SSEEvent) -> list[bytes]:
        if not raw.data:
            return []
        try:
            event = _event_decoder.decode(raw.data)
        except msgspec.DecodeError as exc:
            raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable stream event: {exc}") from None
        kind = event.type
        if kind == "content_block_delta":
            return self._delta(event)
        if kind == "content_block_start":
            return self._block_start(event)
        if kind == "content_block_stop":
            return self._block_stop(event.index)
        if kind == "message_start":
            return self._message_start(event.message)
        if kind == "message_delta":
            if event.delta is not None and event.delta.stop_reason is not None:
                self._stop_reason = event.delta.stop_reason
            if event.usage is not None:
                self._usage = self._usage.merge(event.usage)
            return []
        if kind == "message_stop":
            self._stopped = True
            finish = finish_reason(self._stop_reason, self._calls > 0)
            usage = ChatCompletionChunk(self._id, self._created, self._model, [], usage=usage_of(self._usage))
            return [self._chunk(Delta(), finish), _encoder.encode(usage)]
        if kind == "error":
            detail = event.error or ErrorDetail()
            raise classify(detail.type, 0, detail.message, None, self._secrets)
        return []  # ping, and event types added after this was written

    def _message_start(self, message: MessageBody | None) -> list[bytes]:
        if message is not None:
            self._id = completion_id(message.id)
            self._model = message.model or self._model
            self._usage = self._usage.merge(message.usage)
        return [self._chunk(Delta(role="assistant", content=""))]

    def _block_start(self, event: _Event) -> list[bytes]:
        block = event.content_block
        if block is None:
            return []
        if block.type == "text" and block.text:
            return [self._chunk(Delta(content=block.text))]
        if block.type == "thinking" and block.thinking:
            return [self._chunk(Delta(reasoning_content=block.thinking))]
        if block.type != "tool_use" or not block.id or not block.name:
            return []  # redacted thinking, server tools: nothing an OpenAI client can use
        if self._json_tool is not None and block.name == self._json_tool:
            self._tools[event.index] = _ToolBlock(None)
            return []
        self._tools[event.index] = _ToolBlock(self._calls)
        head = ToolCallDelta(self._calls, block.id, "function", {"name": block.name, "arguments": ""})
        self._calls += 1
        return [self._chunk(Delta(tool_calls=[head]))]

    def _delta(self, event: _Event) -> list[bytes]:
        delta = event.delta
        if delta is None:
            return []
        if delta.type == "text_delta":
            return [self._chunk(Delta(content=delta.text))] if delta.text else []
        if delta.type == "input_json_delta":
            tool = self._tools.get(event.index)
            if tool is None:
                raise errors.UpstreamError(f"upstream {PROVIDER} sent tool input for a block it never started")
            return self._arguments(tool, delta.partial_json or "")
        if delta.type == "thinking_delta":
            return [self._chunk(Delta(reasoning_content=delta.thinking))] if delta.thinking else []
        return []  # signature_delta, citations_delta

    def _block_stop(self, index: int) -> list[bytes]:
        tool = self._tools.pop(index, None)
        if tool is None or tool.has_input:
            return []
        # A tool called without arguments streams none; clients parse the arguments, so send "{}".
        return self._arguments(tool, "{}")

    def _arguments(self, tool: _ToolBlock, fragment: str) -> list[bytes]:
        if not fragment:
            return []
        tool.has_input = True
        if tool.index is None:  # JSON mode: the forced tool's input is the answer
            return [self._chunk(Delta(content=fragment))]
        return [self._chunk(Delta(tool_calls=[ToolCallDelta(tool.index, function={"arguments": fragment})]))]

    def _chunk(self, delta: Delta, finish: str | None = None) -> bytes:
        choice = ChunkChoice(0, delta, finish)
        return _encoder.encode(ChatCompletionChunk(self._id, self._created, self._model, [choice]))
