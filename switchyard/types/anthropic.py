"""Anthropic's Messages API wire format as typed msgspec structs: requests in, messages and stream events out.

Shapes follow the Messages API reference and the official Python SDK's types (``MessageCreateParams``,
``Message``, ``Usage``, ``RawMessageStreamEvent``, ``ErrorResponse``). Request structs are decoded from client
bodies, so they model what the gateway translates; members it ignores (``cache_control``, ``citations``,
``service_tier``, ``container`` ...) are not declared and msgspec skips them. Block and source unions are tagged
by ``type``, so an unknown block type is a decode error (a 400 naming the path). Response and event structs are
encoded; their members are declared in the order Anthropic sends them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class _Wire(msgspec.Struct, omit_defaults=True):
    pass


# --- content blocks (requests; text, thinking and tool_use are also response blocks) -----------------------


class TextBlock(_Wire, tag="text", tag_field="type"):
    text: str


class Base64Source(_Wire, tag="base64", tag_field="type"):
    media_type: str
    data: str


class URLSource(_Wire, tag="url", tag_field="type"):
    url: str


class PlainTextSource(_Wire, tag="text", tag_field="type"):
    data: str
    media_type: str = "text/plain"


class FileSource(_Wire, tag="file", tag_field="type"):
    """A Files API id: only Anthropic holds the file, so the gateway cannot translate it."""

    file_id: str


class ImageBlock(_Wire, tag="image", tag_field="type"):
    source: Base64Source | URLSource | FileSource


class ContentSource(_Wire, tag="content", tag_field="type"):
    content: str | list[TextBlock | ImageBlock]


class DocumentBlock(_Wire, tag="document", tag_field="type"):
    source: Base64Source | URLSource | PlainTextSource | ContentSource | FileSource
    title: str | None = None
    context: str | None = None


class ToolUseBlock(_Wire, tag="tool_use", tag_field="type"):
    id: str
    name: str
    input: dict[str, Any]


class ToolResultBlock(_Wire, tag="tool_result", tag_field="type"):
    tool_use_id: str
    content: str | list[TextBlock | ImageBlock | DocumentBlock] | None = None
    is_error: bool | None = None


class ThinkingBlock(msgspec.Struct, tag="thinking", tag_field="type"):
    # Not omit_defaults: the SDK's ThinkingBlock requires ``signature``, even when it is empty.
    thinking: str
    signature: str = ""


class RedactedThinkingBlock(_Wire, tag="redacted_thinking", tag_field="type"):
    data: str


ContentBlock = (
    TextBlock | ImageBlock | DocumentBlock | ToolUseBlock | ToolResultBlock | ThinkingBlock | RedactedThinkingBlock
)


class MessageParam(_Wire):
    # "system" turns are in the SDK's MessageParam since 2.x, beside the top-level ``system``.
    role: Literal["user", "assistant", "system"]
    content: str | list[ContentBlock]


# --- tools, thinking, output -------------------------------------------------------------------------------


class ToolParam(_Wire):
    name: str
    # Absent only on server tools (``web_search_20250305`` ...), which carry a ``type`` other than "custom".
    input_schema: dict[str, Any] | None = None
    description: str | None = None
    type: str | None = None


class ToolChoiceAuto(_Wire, tag="auto", tag_field="type"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceAny(_Wire, tag="any", tag_field="type"):
    disable_parallel_tool_use: bool | None = None


class ToolChoiceTool(_Wire, tag="tool", tag_field="type"):
    name: str
    disable_parallel_tool_use: bool | None = None


class ToolChoiceNone(_Wire, tag="none", tag_field="type"):
    pass


ToolChoice = ToolChoiceAuto | ToolChoiceAny | ToolChoiceTool | ToolChoiceNone


class ThinkingConfig(_Wire):
    type: Literal["enabled", "disabled", "adaptive", "between_tools"]
    budget_tokens: int | None = None


class JSONOutputFormat(_Wire):
    type: Literal["json_schema"]
    schema: dict[str, Any]


class OutputConfig(_Wire):
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    format: JSONOutputFormat | None = None


class Metadata(_Wire):
    user_id: str | None = None


class MessagesRequest(_Wire):
    """``POST /v1/messages`` (and ``/v1/messages/count_tokens``, which has no ``max_tokens``)."""

    model: str
    messages: Annotated[list[MessageParam], msgspec.Meta(min_length=1)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1)] | None = None
    system: str | list[TextBlock] | None = None
    stop_sequences: list[str] | None = None
    stream: bool | None = None
    # No longer in the SDK's typed parameters (2.x), still sent by many clients and accepted by the API.
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    tools: list[ToolParam] | None = None
    tool_choice: ToolChoice | None = None
    thinking: ThinkingConfig | None = None
    output_config: OutputConfig | None = None
    metadata: Metadata | None = None


# --- responses ---------------------------------------------------------------------------------------------


class Usage(msgspec.Struct):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


OutputBlock = TextBlock | ThinkingBlock | ToolUseBlock
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"]


class Message(msgspec.Struct, kw_only=True):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[OutputBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None = None
    usage: Usage


class TokenCount(msgspec.Struct):
    """The answer of ``/v1/messages/count_tokens``."""

    input_tokens: int


# --- stream events -----------------------------------------------------------------------------------------


class MessageStartEvent(msgspec.Struct, tag="message_start", tag_field="type"):
    message: Message


class ContentBlockStartEvent(msgspec.Struct, tag="content_block_start", tag_field="type"):
    index: int
    content_block: OutputBlock


class TextDelta(msgspec.Struct, tag="text_delta", tag_field="type"):
    text: str


class InputJSONDelta(msgspec.Struct, tag="input_json_delta", tag_field="type"):
    partial_json: str


class ThinkingDelta(msgspec.Struct, tag="thinking_delta", tag_field="type"):
    thinking: str


class ContentBlockDeltaEvent(msgspec.Struct, tag="content_block_delta", tag_field="type"):
    index: int
    delta: TextDelta | InputJSONDelta | ThinkingDelta


class ContentBlockStopEvent(msgspec.Struct, tag="content_block_stop", tag_field="type"):
    index: int


class MessageDelta(msgspec.Struct):
    stop_reason: StopReason | None
    stop_sequence: str | None = None


class MessageDeltaUsage(msgspec.Struct, omit_defaults=True):
    """Cumulative counts: ``output_tokens`` always; the input counts when known by the end of the stream."""

    output_tokens: int
    input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class MessageDeltaEvent(msgspec.Struct, tag="message_delta", tag_field="type"):
    delta: MessageDelta
    usage: MessageDeltaUsage


class MessageStopEvent(msgspec.Struct, tag="message_stop", tag_field="type"):
    pass


class PingEvent(msgspec.Struct, tag="ping", tag_field="type"):
    pass


# --- errors ------------------------------------------------------------------------------------------------

ErrorType = Literal[
    "invalid_request_error",
    "authentication_error",
    "billing_error",
    "permission_error",
    "not_found_error",
    "request_too_large",
    "rate_limit_error",
    "api_error",
    "timeout_error",
    "overloaded_error",
]


class ErrorDetail(msgspec.Struct):
    type: ErrorType
    message: str


class ErrorResponse(msgspec.Struct, tag="error", tag_field="type", omit_defaults=True):
    """The error body, and the ``error`` stream event's data (which carries no ``request_id``)."""

    error: ErrorDetail
    request_id: str | None = None
