"""Reading OpenAI chunk payloads just enough to relay them safely.

One msgspec decode per chunk into a struct of three fields validates the JSON (msgspec must parse what it
skips) and yields what the gateway needs: whether the chunk carries content, its usage, an in-band error.
"""

from __future__ import annotations

import msgspec

from switchyard import errors
from switchyard.types.chat import Usage


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[msgspec.Raw] | None = None
    reasoning_content: str | None = None
    refusal: str | None = None
    function_call: msgspec.Raw | None = None


class _Choice(msgspec.Struct):
    delta: _Delta | None = None
    finish_reason: str | None = None


class Probe(msgspec.Struct):
    choices: list[_Choice] | None = None
    usage: Usage | None = None
    error: msgspec.Raw | None = None

    @property
    def meaningful(self) -> bool:
        """Carries more than the opening role-only delta: text, a tool call, a finish, or usage."""
        for choice in self.choices or ():
            if choice.finish_reason is not None:
                return True
            delta = choice.delta
            if delta is not None and (
                delta.content or delta.tool_calls or delta.reasoning_content or delta.refusal or delta.function_call
            ):
                return True
        return self.usage is not None


_decoder = msgspec.json.Decoder(Probe)


def probe(payload: bytes) -> Probe:
    """Decode a chunk; a malformed one or an in-band error becomes a typed error."""
    try:
        result = _decoder.decode(payload)
    except msgspec.DecodeError:
        raise errors.UpstreamError("upstream sent a malformed stream chunk") from None
    if result.error is not None:
        raise errors.UpstreamError("upstream reported an error mid-stream: " + _message(result.error))
    return result


class _UsageOnly(msgspec.Struct):
    usage: Usage | None = None


class _EmbeddingUsage(msgspec.Struct):
    prompt_tokens: int = 0
    total_tokens: int = 0


class _EmbeddingUsageOnly(msgspec.Struct):
    usage: _EmbeddingUsage | None = None


_chat_usage = msgspec.json.Decoder(_UsageOnly)
_embedding_usage = msgspec.json.Decoder(_EmbeddingUsageOnly)
_NOT_JSON = "upstream sent a response that is not valid JSON"


def chat_usage(body: bytes) -> Usage | None:
    """Usage of a complete answer; a body that is not JSON is the upstream's failure (so: fail over)."""
    try:
        return _chat_usage.decode(body).usage
    except msgspec.DecodeError:
        raise errors.UpstreamError(_NOT_JSON) from None


def embedding_usage(body: bytes) -> Usage | None:
    try:
        usage = _embedding_usage.decode(body).usage
    except msgspec.DecodeError:
        raise errors.UpstreamError(_NOT_JSON) from None
    return None if usage is None else Usage(usage.prompt_tokens, 0, usage.total_tokens)


def _message(raw: msgspec.Raw) -> str:
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return "unreadable error"
    if isinstance(value, dict):
        return str(value.get("message", "unknown error"))[:500]
    return str(value)[:500]
