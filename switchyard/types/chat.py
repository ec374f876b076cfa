"""The canonical chat request and response: OpenAI's chat-completions shape as typed msgspec structs.

Inbound formats are decoded into these at the edge and provider adapters translate from them. Optional
fields default to ``None`` and are omitted when encoding, so a struct round-trips to the body a client sent.
Fields we do not model are still forwarded on same-format pass-through, which works from the raw body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec


class _Wire(msgspec.Struct, omit_defaults=True):
    pass


# --- content parts -----------------------------------------------------------------------------------------


class TextPart(_Wire, tag="text", tag_field="type"):
    text: str


class ImageURL(_Wire):
    url: str
    detail: Literal["auto", "low", "high"] | None = None


class ImagePart(_Wire, tag="image_url", tag_field="type"):
    image_url: ImageURL


class InputAudio(_Wire):
    data: str
    format: str


class AudioPart(_Wire, tag="input_audio", tag_field="type"):
    input_audio: InputAudio


class FilePart(_Wire, tag="file", tag_field="type"):
    file: dict[str, Any]


class RefusalPart(_Wire, tag="refusal", tag_field="type"):
    refusal: str


ContentPart = TextPart | ImagePart | AudioPart | FilePart | RefusalPart


# --- messages ----------------------------------------------------------------------------------------------


class FunctionCall(_Wire):
    name: str
    arguments: str


# Structs whose `type` has a default must not omit defaults: OpenAI requires `"type": "function"` on the wire.
class ToolCall(msgspec.Struct):
    id: str
    function: FunctionCall
    type: Literal["function"] = "function"


class SystemMessage(_Wire, tag="system", tag_field="role"):
    content: str | list[ContentPart]
    name: str | None = None


class DeveloperMessage(_Wire, tag="developer", tag_field="role"):
    content: str | list[ContentPart]
    name: str | None = None


class UserMessage(_Wire, tag="user", tag_field="role"):
    content: str | list[ContentPart]
    name: str | None = None


class AssistantMessage(_Wire, tag="assistant", tag_field="role"):
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    refusal: str | None = None
    function_call: FunctionCall | None = None


class ToolMessage(_Wire, tag="tool", tag_field="role"):
    content: str | list[ContentPart]
    tool_call_id: str


class FunctionMessage(_Wire, tag="function", tag_field="role"):
    content: str | None
    name: str


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage


# --- tools and formats -------------------------------------------------------------------------------------


class FunctionDef(_Wire):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(msgspec.Struct):
    function: FunctionDef
    type: Literal["function"] = "function"


class NamedFunction(_Wire):
    name: str


class NamedToolChoice(msgspec.Struct):
    function: NamedFunction
    type: Literal["function"] = "function"


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class JSONSchemaFormat(_Wire):
    name: str
    schema: dict[str, Any] | None = None
    description: str | None = None
    strict: bool | None = None


class ResponseFormat(_Wire):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JSONSchemaFormat | None = None


class StreamOptions(_Wire):
    include_usage: bool | None = None


# --- the request -------------------------------------------------------------------------------------------


_Positive = Annotated[int, msgspec.Meta(ge=1)]


class ChatRequest(_Wire):
    model: str
    messages: Annotated[list[Message], msgspec.Meta(min_length=1)]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: _Positive | None = None
    max_tokens: _Positive | None = None
    max_completion_tokens: _Positive | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    tools: list[Tool] | None = None
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    reasoning_effort: str | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    store: bool | None = None
    service_tier: str | None = None
    modalities: list[str] | None = None


# --- the response ------------------------------------------------------------------------------------------


class PromptTokensDetails(_Wire):
    cached_tokens: int | None = None
    audio_tokens: int | None = None
    # Not in OpenAI's schema: tokens written to a provider's prompt cache (Anthropic, Bedrock), billed apart.
    cache_creation_tokens: int | None = None


class CompletionTokensDetails(_Wire):
    reasoning_tokens: int | None = None
    audio_tokens: int | None = None
    accepted_prediction_tokens: int | None = None
    rejected_prediction_tokens: int | None = None


class Usage(msgspec.Struct, omit_defaults=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    prompt_tokens_details: PromptTokensDetails | None = None
    completion_tokens_details: CompletionTokensDetails | None = None


class ResponseMessage(msgspec.Struct, omit_defaults=True):
    # No defaults on these two: omit_defaults would drop them, and OpenAI always sends both.
    content: str | None
    role: Literal["assistant"]
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    # Not in OpenAI's schema (DeepSeek's and others' convention): the model's visible reasoning.
    reasoning_content: str | None = None


class Choice(msgspec.Struct):
    index: int
    message: ResponseMessage
    finish_reason: str | None
    logprobs: Any = None


class ChatCompletion(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None = None
    object: Literal["chat.completion"] = "chat.completion"
    system_fingerprint: str | None = None


class ToolCallDelta(msgspec.Struct, omit_defaults=True):
    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: dict[str, str] | None = None


class Delta(msgspec.Struct, omit_defaults=True):
    role: Literal["assistant"] | None = None
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCallDelta] | None = None
    reasoning_content: str | None = None


class ChunkChoice(msgspec.Struct):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: Any = None


class ChatCompletionChunk(msgspec.Struct):
    id: str
    created: int
    model: str
    choices: list[ChunkChoice]
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    system_fingerprint: str | None = None
    usage: Usage | None = None


class UsageOnly(msgspec.Struct):
    """Decodes just ``usage`` (and ``model``) from a response or chunk; msgspec skips the rest cheaply."""

    usage: Usage | None = None
    model: str | None = None
