"""Converse answers and errors → OpenAI's chat.completion and the gateway's error tree.

Usage follows OpenAI's convention: ``prompt_tokens`` counts every input token, so it is Bedrock's
``inputTokens`` (the uncached part only) plus ``cacheReadInputTokens`` plus ``cacheWriteInputTokens``;
the two cache counts are also reported as ``cached_tokens`` and ``cache_creation_tokens``. Bedrock does
not report reasoning tokens apart from output tokens.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

import msgspec

from switchyard import errors
from switchyard.providers.base import retry_after_seconds, scrub
from switchyard.types.chat import (
    ChatCompletion,
    Choice,
    FunctionCall,
    PromptTokensDetails,
    ResponseMessage,
    ToolCall,
    Usage,
)

PROVIDER = "bedrock"

# Converse stopReason → OpenAI finish_reason. Unknown future reasons become "stop".
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
    "malformed_model_output": "stop",
    "malformed_tool_use": "stop",
}


def finish_reason(stop_reason: str, json_tool: str | None) -> str:
    if json_tool is not None and stop_reason == "tool_use":
        return "stop"  # the forced JSON tool is how JSON mode answers, not a tool call for the client
    return FINISH_REASONS.get(stop_reason, "stop")


# --- wire structs (only the members we read) ---------------------------------------------------------------


class TokenUsage(msgspec.Struct):
    inputTokens: int = 0
    outputTokens: int = 0
    totalTokens: int = 0
    cacheReadInputTokens: int | None = None
    cacheWriteInputTokens: int | None = None


class _ToolUse(msgspec.Struct):
    toolUseId: str
    name: str
    input: Any = None


class _ReasoningText(msgspec.Struct):
    text: str = ""


class _Reasoning(msgspec.Struct):
    reasoningText: _ReasoningText | None = None


class _Block(msgspec.Struct):
    text: str | None = None
    toolUse: _ToolUse | None = None
    reasoningContent: _Reasoning | None = None


class _Message(msgspec.Struct):
    content: list[_Block] = []


class _Output(msgspec.Struct):
    message: _Message | None = None


class _ConverseResponse(msgspec.Struct):
    stopReason: str
    output: _Output = msgspec.field(default_factory=_Output)
    usage: TokenUsage | None = None


_response_decoder = msgspec.json.Decoder(_ConverseResponse)
_encoder = msgspec.json.Encoder()


def usage_of(usage: TokenUsage) -> Usage:
    read, write = usage.cacheReadInputTokens, usage.cacheWriteInputTokens
    prompt = usage.inputTokens + (read or 0) + (write or 0)
    details = None
    if read is not None or write is not None:
        details = PromptTokensDetails(cached_tokens=read or 0, cache_creation_tokens=write)
    return Usage(prompt, usage.outputTokens, prompt + usage.outputTokens, prompt_tokens_details=details)


def completion_id(request_id: str | None) -> str:
    return f"chatcmpl-{request_id or uuid.uuid4().hex}"


def to_completion(body: bytes, model: str, request_id: str | None, json_tool: str | None) -> bytes:
    try:
        answer = _response_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable Converse response: {exc}") from None
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    for block in answer.output.message.content if answer.output.message else ():
        if block.text is not None:
            texts.append(block.text)
        elif block.toolUse is not None:
            arguments = _encoder.encode(block.toolUse.input if block.toolUse.input is not None else {}).decode()
            if json_tool is not None and block.toolUse.name == json_tool:
                texts.append(arguments)
            else:
                calls.append(ToolCall(block.toolUse.toolUseId, FunctionCall(block.toolUse.name, arguments)))
        elif block.reasoningContent is not None and block.reasoningContent.reasoningText is not None:
            reasoning.append(block.reasoningContent.reasoningText.text)
    message = ResponseMessage(
        "".join(texts) if texts or not calls else None,
        "assistant",
        tool_calls=calls or None,
        reasoning_content="".join(reasoning) if reasoning else None,
    )
    choice = Choice(0, message, finish_reason(answer.stopReason, json_tool))
    usage = usage_of(answer.usage) if answer.usage is not None else None
    return _encoder.encode(ChatCompletion(completion_id(request_id), int(time.time()), model, [choice], usage))


# --- errors ------------------------------------------------------------------------------------------------


class _ErrorBody(msgspec.Struct):
    message: str | None = None
    Message: str | None = None


_error_decoder = msgspec.json.Decoder(_ErrorBody)

_AUTH = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignatureException",
        "MissingAuthenticationTokenException",
        "ExpiredTokenException",
        "InvalidClientTokenId",
    }
)
# Exception name → error class for the ones whose meaning does not depend on the message.
_BY_NAME: dict[str, type[errors.SwitchyardError]] = {
    "ThrottlingException": errors.UpstreamRateLimitError,
    "ServiceQuotaExceededException": errors.UpstreamRateLimitError,
    # The model is still being loaded: unavailable for now, worth another deployment or a later retry.
    "ModelNotReadyException": errors.UpstreamUnavailableError,
    "ServiceUnavailableException": errors.UpstreamUnavailableError,
    "ModelTimeoutException": errors.UpstreamTimeoutError,
    "InternalServerException": errors.UpstreamError,
    "ModelErrorException": errors.UpstreamError,
    "ModelStreamErrorException": errors.UpstreamError,
    # The configured model id does not exist (or reached end of life): an operator problem, fail over.
    "ResourceNotFoundException": errors.UpstreamError,
}
# Bedrock reports a prompt over the context window as a ValidationException with one of these phrases.
_CONTEXT_PHRASES = (
    "input is too long",
    "too many input tokens",
    "prompt is too long",
    "input length and `max_tokens` exceed context limit",
    "exceeds the context window",
    "maximum context length",
    "too many total text bytes",
)


def error_name(headers: Mapping[str, str]) -> str:
    """The exception name from ``x-amzn-ErrorType`` (e.g. ``ThrottlingException:http://internal...``)."""
    raw = headers.get("x-amzn-ErrorType") or headers.get("x-amzn-errortype") or ""
    return raw.split(":", 1)[0].strip()


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, secrets: tuple[str | None, ...]
) -> errors.SwitchyardError:
    """An error response to Converse or ConverseStream (before any event was sent)."""
    text = ""
    name = error_name(headers)
    try:
        parsed = _error_decoder.decode(body)
        text = parsed.message or parsed.Message or ""
    except msgspec.DecodeError:
        pass
    if not name:
        try:
            raw = msgspec.json.decode(body)
            name = str(raw.get("__type", "")).rsplit("#", 1)[-1] if isinstance(raw, dict) else ""
        except msgspec.DecodeError:
            pass
    return classify(name, status, text, retry_after_seconds(headers), secrets)


def classify(
    name: str, status: int, text: str, retry_after: float | None, secrets: tuple[str | None, ...]
) -> errors.SwitchyardError:
    """Map a Bedrock exception (by name, else by status) onto the error tree."""
    # Stream exception events name the member ("throttlingException"); responses name the shape.
    name = name[:1].upper() + name[1:]
    upstream_text = scrub(text, *secrets)[:1000]
    message = f"upstream {PROVIDER} returned {name or status}" + (f": {upstream_text}" if upstream_text else "")
    if name in _AUTH or status in (401, 403):
        # AWS's wording can name the account and the IAM principal; the client only needs who to call.
        return errors.UpstreamAuthError(f"upstream {PROVIDER} rejected the gateway's credentials ({name or status})")
    if name == "ValidationException" or (not name and status in (400, 413, 422)):
        lowered = upstream_text.lower()
        if any(phrase in lowered for phrase in _CONTEXT_PHRASES):
            return errors.ContextWindowExceededError(message, param="messages")
        return errors.UpstreamBadRequestError(message)
    known = _BY_NAME.get(name)
    if known is not None:
        return known(message, retry_after=retry_after)
    if status == 429:
        return errors.UpstreamRateLimitError(message, retry_after=retry_after)
    if status in (408, 504):
        return errors.UpstreamTimeoutError(message, retry_after=retry_after)
    if status == 503:
        return errors.UpstreamUnavailableError(message, retry_after=retry_after)
    return errors.UpstreamError(message, retry_after=retry_after)
