"""Messages API answers and errors → OpenAI's chat.completion and the gateway's error tree.

Usage follows OpenAI's convention: ``prompt_tokens`` counts every input token, so it is Anthropic's
``input_tokens`` (the uncached part only) plus ``cache_read_input_tokens`` plus
``cache_creation_input_tokens``; the two cache counts are also reported as ``cached_tokens`` and
``cache_creation_tokens``, and ``output_tokens_details.thinking_tokens`` (where Anthropic reports it) as
``reasoning_tokens``. Text blocks become the content, ``thinking`` blocks ``reasoning_content``, ``tool_use``
blocks tool calls (the forced JSON tool's input becomes the content instead).
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime

import msgspec

from switchyard import errors
from switchyard.providers.base import retry_after_seconds, scrub
from switchyard.types.chat import (
    ChatCompletion,
    Choice,
    CompletionTokensDetails,
    FunctionCall,
    PromptTokensDetails,
    ResponseMessage,
    ToolCall,
    Usage,
)

PROVIDER = "anthropic"

# stop_reason → OpenAI finish_reason. Unknown future reasons become "stop".
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def finish_reason(stop_reason: str | None, client_tool_calls: bool) -> str:
    if stop_reason == "tool_use" and not client_tool_calls:
        return "stop"  # only the forced JSON tool was called: that is JSON mode's answer, not a tool call
    return FINISH_REASONS.get(stop_reason or "end_turn", "stop")


# --- wire structs (only the members we read) ---------------------------------------------------------------


class _OutputDetails(msgspec.Struct):
    thinking_tokens: int | None = None


class TokenUsage(msgspec.Struct):
    # Every member is optional: a stream's message_delta repeats only some of them.
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    output_tokens_details: _OutputDetails | None = None

    def merge(self, later: TokenUsage) -> TokenUsage:
        """These counts updated by a later (cumulative) report."""
        return TokenUsage(
            *(
                getattr(later, name) if getattr(later, name) is not None else getattr(self, name)
                for name in self.__struct_fields__
            )
        )


class Block(msgspec.Struct):
    type: str
    text: str | None = None
    thinking: str | None = None
    id: str | None = None
    name: str | None = None
    # Kept as raw JSON: it becomes the arguments string verbatim.
    input: msgspec.Raw = msgspec.Raw()


class MessageBody(msgspec.Struct):
    id: str = ""
    model: str = ""
    content: list[Block] = msgspec.field(default_factory=list)
    stop_reason: str | None = None
    usage: TokenUsage = msgspec.field(default_factory=TokenUsage)


class ErrorDetail(msgspec.Struct):
    type: str = ""
    message: str = ""


class _ErrorBody(msgspec.Struct):
    error: ErrorDetail | None = None


_message_decoder = msgspec.json.Decoder(MessageBody)
_error_decoder = msgspec.json.Decoder(_ErrorBody)
_encoder = msgspec.json.Encoder()


def usage_of(usage: TokenUsage) -> Usage:
    read, created = usage.cache_read_input_tokens, usage.cache_creation_input_tokens
    prompt = (usage.input_tokens or 0) + (read or 0) + (created or 0)
    completion = usage.output_tokens or 0
    details = PromptTokensDetails(cached_tokens=read or 0, cache_creation_tokens=created or None)
    reasoning = usage.output_tokens_details.thinking_tokens if usage.output_tokens_details else None
    completion_details = CompletionTokensDetails(reasoning_tokens=reasoning) if reasoning is not None else None
    return Usage(prompt, completion, prompt + completion, details, completion_details)


def completion_id(message_id: str) -> str:
    return f"chatcmpl-{message_id}" if message_id else f"chatcmpl-{time.time_ns():x}"


def to_completion(body: bytes, model: str, json_tool: str | None) -> bytes:
    try:
        answer = _message_decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise errors.UpstreamError(f"upstream {PROVIDER} sent an unreadable message: {exc}") from None
    texts: list[str] = []
    reasoning: list[str] = []
    calls: list[ToolCall] = []
    json_answer: str | None = None
    for block in answer.content:
        if block.type == "text" and block.text:
            texts.append(block.text)
        elif block.type == "thinking" and block.thinking:
            reasoning.append(block.thinking)
        elif block.type == "tool_use" and block.id and block.name:
            arguments = bytes(block.input).decode() if len(block.input) else "{}"
            if json_tool is not None and block.name == json_tool:
                json_answer = arguments
            else:
                calls.append(ToolCall(block.id, FunctionCall(block.name, arguments)))
        # redacted_thinking and server-tool blocks carry nothing an OpenAI client can use.
    content = json_answer if json_answer is not None else ("".join(texts) if texts or not calls else None)
    message = ResponseMessage(
        content, "assistant", tool_calls=calls or None, reasoning_content="".join(reasoning) or None
    )
    choice = Choice(0, message, finish_reason(answer.stop_reason, bool(calls)))
    completion = ChatCompletion(
        completion_id(answer.id), int(time.time()), answer.model or model, [choice], usage_of(answer.usage)
    )
    return _encoder.encode(completion)


# --- errors ------------------------------------------------------------------------------------------------

# Anthropic prefixes validation messages with the field's path ("messages.1.content: ..."); its first
# segment, in the client's vocabulary, becomes the error's param.
_FIELD = re.compile(r"^([a-z_]+)(?:\.[\w.]+)?: ")
_PARAMS = {"stop_sequences": "stop", "system": "messages", "thinking": "reasoning_effort", "metadata": "user"}
_CONTEXT_PHRASES = ("prompt is too long", "exceed context limit", "context window")


def http_error(
    status: int, headers: Mapping[str, str], body: bytes, secrets: tuple[str | None, ...], *, native: bool = False
) -> errors.SwitchyardError:
    detail = ErrorDetail()
    try:
        parsed = _error_decoder.decode(body)
        if parsed.error is not None:
            detail = parsed.error
    except msgspec.DecodeError:
        pass
    return classify(detail.type, status, detail.message, retry_after(headers), secrets, native=native)


def classify(
    kind: str,
    status: int,
    text: str,
    retry_after: float | None,
    secrets: tuple[str | None, ...],
    *,
    native: bool = False,
) -> errors.SwitchyardError:
    """One error from an HTTP status and/or Anthropic's error type (a stream's ``error`` event has no status).

    ``native``: the client speaks Anthropic's API too, so a context-window error keeps Anthropic's own wording
    ("prompt is too long: ..."), which clients (coding agents compacting their context) look for.
    """
    text = scrub(text, *secrets)
    where = f"upstream {PROVIDER} returned {status or kind}"
    message = f"{where}: {text}" if text else where
    if kind in ("authentication_error", "permission_error", "billing_error") or status in (401, 402, 403):
        # Operator problems (key, permissions, billing) another deployment may not have. Anthropic's wording
        # may quote part of the key, so it stays out.
        return errors.UpstreamAuthError(f"upstream {PROVIDER} refused the gateway's credentials ({status or kind})")
    if kind == "rate_limit_error" or status == 429:
        return errors.UpstreamRateLimitError(message, retry_after=retry_after)
    if kind == "overloaded_error" or status in (503, 529):
        return errors.UpstreamUnavailableError(message, retry_after=retry_after)
    if kind == "timeout_error" or status in (408, 504):
        return errors.UpstreamTimeoutError(message, retry_after=retry_after)
    if kind == "request_too_large" or status == 413:
        return errors.PayloadTooLargeError(message, param="messages")
    if kind == "not_found_error" or status == 404:
        # The deployment names a model this account cannot reach: another deployment may, a retry will not.
        return errors.UpstreamNotFoundError(message)
    if kind == "invalid_request_error" or 400 <= status < 500:
        lowered = text.lower()
        if any(phrase in lowered for phrase in _CONTEXT_PHRASES):
            return errors.ContextWindowExceededError(text if native else message, param="messages")
        if "credit balance" in lowered:  # an exhausted account: the operator's problem, not the request's
            return errors.UpstreamAuthError(message)
        if "content filtering" in lowered:
            return errors.ContentPolicyError(message, param="messages")
        field = _FIELD.match(text)
        param = _PARAMS.get(field.group(1), field.group(1)) if field else None
        return errors.UpstreamBadRequestError(message, param=param)
    return errors.UpstreamError(message, retry_after=retry_after)


def retry_after(headers: Mapping[str, str]) -> float | None:
    """``retry-after``, else the latest reset time among the exhausted ``anthropic-ratelimit-*`` limits."""
    seconds = retry_after_seconds(headers)
    if seconds is not None:
        return seconds
    waits = []
    for limit in ("requests", "tokens", "input-tokens", "output-tokens"):
        reset = headers.get(f"anthropic-ratelimit-{limit}-reset")
        if headers.get(f"anthropic-ratelimit-{limit}-remaining") == "0" and reset:
            try:  # RFC 3339, e.g. 2024-05-01T12:00:30Z
                waits.append(datetime.fromisoformat(reset).timestamp() - time.time())
            except ValueError:
                continue
    return max(0.0, *waits) if waits else None
