"""A canonical chat.completion → an Anthropic ``Message``; the pieces the stream encoder shares.

- content: ``reasoning_content`` → a ``thinking`` block (with an empty ``signature``: only Anthropic can sign,
  and the gateway drops thinking blocks sent back), then the text (or a refusal's text) → a ``text`` block, then
  each tool call → a ``tool_use`` block whose ``input`` is the arguments JSON decoded (arguments that are not a
  JSON object come back as ``{"arguments": "<the raw string>"}`` rather than being lost);
- ``finish_reason`` → ``stop_reason``: stop → end_turn, length → max_tokens, tool_calls (and the legacy
  function_call) → tool_use, content_filter → refusal, anything else → end_turn. OpenAI's format does not say
  whether a stop sequence ended the answer, so ``stop_sequence`` is never reported (``stop_sequence`` is null);
- usage: Anthropic counts the uncached input apart, so ``input_tokens`` is prompt_tokens minus the cached and
  cache-creation tokens, which go to ``cache_read_input_tokens`` and ``cache_creation_input_tokens``;
  ``output_tokens`` is completion_tokens (reasoning included, as in both formats);
- the id: ``msg_`` + the completion id without its ``chatcmpl-`` prefix (an id that already is a ``msg_`` one,
  as the Anthropic adapter makes, is kept as it is).
"""

from __future__ import annotations

import time

import msgspec

from switchyard.errors import UpstreamError
from switchyard.types import anthropic as wire
from switchyard.types.chat import ToolCall, Usage

_STOP_REASONS: dict[str, wire.StopReason] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}


class _Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None


class _Choice(msgspec.Struct):
    message: _Message = msgspec.field(default_factory=_Message)
    finish_reason: str | None = None


class _Completion(msgspec.Struct):
    id: str = ""
    model: str = ""
    choices: list[_Choice] = msgspec.field(default_factory=list)
    usage: Usage | None = None


_completion = msgspec.json.Decoder(_Completion)
_encode = msgspec.json.Encoder().encode


def stop_reason(finish_reason: str | None) -> wire.StopReason:
    return _STOP_REASONS.get(finish_reason or "stop", "end_turn")


def message_id(completion_id: str) -> str:
    bare = completion_id.removeprefix("chatcmpl-")
    if not bare:
        return f"msg_{time.time_ns():x}"
    return bare if bare.startswith("msg_") else f"msg_{bare}"


def usage_of(usage: Usage | None) -> wire.Usage:
    if usage is None:
        return wire.Usage(0, 0)
    details = usage.prompt_tokens_details
    read = (details.cached_tokens or 0) if details else 0
    created = (details.cache_creation_tokens or 0) if details else 0
    return wire.Usage(max(0, usage.prompt_tokens - read - created), usage.completion_tokens, created, read)


def tool_input(arguments: str) -> dict[str, object]:
    """The arguments JSON as the object Anthropic's ``input`` is; never loses what the model wrote."""
    if not arguments.strip():
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except msgspec.DecodeError:
        value = None
    return value if isinstance(value, dict) else {"arguments": arguments}


def to_message(body: bytes, model: str) -> bytes:
    """The Anthropic ``Message`` for a canonical completion body; ``model`` when the body names none."""
    try:
        completion = _completion.decode(body)
    except msgspec.DecodeError as exc:
        raise UpstreamError(f"the upstream answer could not be read as a chat completion: {exc}") from None
    choice = completion.choices[0] if completion.choices else _Choice()
    message = choice.message
    content: list[wire.OutputBlock] = []
    if message.reasoning_content:
        content.append(wire.ThinkingBlock(message.reasoning_content))
    text = message.content or message.refusal
    if text:
        content.append(wire.TextBlock(text))
    for call in message.tool_calls or ():
        content.append(wire.ToolUseBlock(call.id, call.function.name, tool_input(call.function.arguments)))
    result = wire.Message(
        id=message_id(completion.id),
        model=completion.model or model,
        content=content,
        stop_reason=stop_reason(choice.finish_reason),
        usage=usage_of(completion.usage),
    )
    return _encode(result)
