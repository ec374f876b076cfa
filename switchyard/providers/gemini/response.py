"""Gemini ``GenerateContentResponse`` → OpenAI ``chat.completion`` and ``chat.completion.chunk`` payloads.

Gemini omits proto3 defaults on the wire (candidate index 0, zero token counts), so every field has a
default. Tool calls carry no ids on the Gemini API: we derive ``call_`` ids from the response id and the
call's position, and a call's ``thoughtSignature`` (which Gemini 3 requires back on the next turn) rides
inside the id in a URL-safe form, so an ordinary OpenAI client returns it without knowing.
"""

from __future__ import annotations

import hashlib
import re
import time
import uuid
from typing import Any

import msgspec

from switchyard import errors
from switchyard.types.chat import (
    ChatCompletion,
    ChatCompletionChunk,
    Choice,
    ChunkChoice,
    CompletionTokensDetails,
    Delta,
    FunctionCall,
    PromptTokensDetails,
    ResponseMessage,
    ToolCall,
    ToolCallDelta,
    Usage,
)


class _Camel(msgspec.Struct, rename="camel"):
    pass


class GeminiFunctionCall(_Camel):
    name: str
    args: dict[str, Any] | None = None


class GeminiPart(_Camel):
    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: GeminiFunctionCall | None = None


class GeminiContent(_Camel):
    parts: list[GeminiPart] = []
    role: str | None = None


class GeminiCandidate(_Camel):
    content: GeminiContent | None = None
    finish_reason: str | None = None
    index: int = 0


class PromptFeedback(_Camel):
    block_reason: str | None = None
    block_reason_message: str | None = None


class UsageMetadata(_Camel):
    prompt_token_count: int = 0
    candidates_token_count: int = 0
    cached_content_token_count: int = 0
    thoughts_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    total_token_count: int = 0


class GeminiResponse(_Camel):
    candidates: list[GeminiCandidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    # An error sent as a stream event instead of a reply.
    error: dict[str, Any] | None = None


response_decoder = msgspec.json.Decoder(GeminiResponse)
_encoder = msgspec.json.Encoder()

# Why generation stopped → OpenAI's finish_reason. Everything not listed (OTHER, LANGUAGE,
# MALFORMED_FUNCTION_CALL, ...) ends the answer without a better OpenAI word for it: "stop".
FINISH_REASONS = {
    "STOP": "stop",
    "MAX_TOKENS": "length",
    "SAFETY": "content_filter",
    "RECITATION": "content_filter",
    "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter",
    "SPII": "content_filter",
    "IMAGE_SAFETY": "content_filter",
}


def finish_reason(reason: str | None, has_calls: bool) -> str:
    mapped = FINISH_REASONS.get(reason or "STOP", "stop")
    return "tool_calls" if has_calls and mapped == "stop" else mapped


# --- tool-call ids ------------------------------------------------------------------------------------------

_SIGNED_ID = re.compile(r"call_[0-9a-f]{24}_ts_([A-Za-z0-9_-]+)")


def tool_call_id(seed: str, position: int, signature: str | None) -> str:
    digest = hashlib.sha256(f"{seed}:{position}".encode()).hexdigest()[:24]
    if not signature:
        return f"call_{digest}"
    # URL-safe and unpadded, so the id stays within [A-Za-z0-9_-] as strict clients expect.
    safe = signature.replace("+", "-").replace("/", "_").rstrip("=")
    return f"call_{digest}_ts_{safe}"


def signature_of(call_id: str) -> str | None:
    """The thought signature a tool-call id carries, in Gemini's standard base64 form."""
    match = _SIGNED_ID.fullmatch(call_id)
    if match is None:
        return None
    safe = match.group(1)
    return safe.replace("-", "+").replace("_", "/") + "=" * (-len(safe) % 4)


# --- plain responses ----------------------------------------------------------------------------------------


def usage(meta: UsageMetadata | None) -> Usage | None:
    if meta is None:
        return None
    prompt = meta.prompt_token_count + meta.tool_use_prompt_token_count
    # Thinking is billed as output: OpenAI counts reasoning tokens inside completion_tokens.
    completion = meta.candidates_token_count + meta.thoughts_token_count
    return Usage(
        prompt,
        completion,
        meta.total_token_count or prompt + completion,
        PromptTokensDetails(cached_tokens=meta.cached_content_token_count),
        CompletionTokensDetails(reasoning_tokens=meta.thoughts_token_count),
    )


def check_blocked(response: GeminiResponse) -> None:
    """A prompt blocked by safety filters comes back as a 200 with no candidates: the caller's 400."""
    feedback = response.prompt_feedback
    if not response.candidates and feedback is not None and feedback.block_reason:
        detail = f": {feedback.block_reason_message}" if feedback.block_reason_message else ""
        raise errors.ContentPolicyError(
            f"upstream gemini blocked the prompt ({feedback.block_reason}){detail}", param="messages"
        )


def completion(response: GeminiResponse, model: str) -> ChatCompletion:
    check_blocked(response)
    if not response.candidates:
        raise errors.UpstreamError("upstream gemini returned no candidates")
    seed = response.response_id or uuid.uuid4().hex
    choices = []
    for candidate in response.candidates:
        texts: list[str] = []
        thoughts: list[str] = []
        calls: list[ToolCall] = []
        for part in candidate.content.parts if candidate.content else ():
            if part.function_call is not None:
                calls.append(_tool_call(part, f"{seed}:{candidate.index}", len(calls)))
            elif part.text is not None:
                (thoughts if part.thought else texts).append(part.text)
        message = ResponseMessage(
            "".join(texts) if texts else None,
            "assistant",
            tool_calls=calls or None,
            reasoning_content="".join(thoughts) or None,
        )
        choices.append(Choice(candidate.index, message, finish_reason(candidate.finish_reason, bool(calls))))
    choices.sort(key=lambda choice: choice.index)
    return ChatCompletion(
        _completion_id(response.response_id),
        int(time.time()),
        response.model_version or model,
        choices,
        usage(response.usage_metadata),
    )


def _tool_call(part: GeminiPart, seed: str, position: int) -> ToolCall:
    call = part.function_call
    assert call is not None
    arguments = _encoder.encode(call.args or {}).decode()
    call_id = tool_call_id(seed, position, part.thought_signature)
    return ToolCall(call_id, FunctionCall(call.name, arguments))


def _completion_id(response_id: str | None) -> str:
    return f"chatcmpl-{response_id or uuid.uuid4().hex[:24]}"


# --- streams -------------------------------------------------------------------------------------------------


class StreamTranslator:
    """Turns each streamed ``GenerateContentResponse`` into OpenAI chunk payloads.

    Every event carries whole parts (Gemini sends a function call complete, never in fragments), so a call
    becomes OpenAI's opening delta (id, name, empty arguments) followed by one delta with all arguments.
    """

    __slots__ = ("_model", "_id", "_seed", "_created", "_calls", "_finished", "usage", "response_id")

    def __init__(self, model: str) -> None:
        self._model = model
        self._id: str | None = None
        self._seed = uuid.uuid4().hex
        self._created = int(time.time())
        self._calls: dict[int, int] = {}  # candidate index → tool calls so far; present once started
        self._finished: set[int] = set()
        self.usage: Usage | None = None
        self.response_id: str | None = None

    @property
    def complete(self) -> bool:
        """Every candidate that started has finished: the upstream ended the stream properly."""
        return bool(self._calls) and self._finished >= self._calls.keys()

    def feed(self, event: GeminiResponse) -> list[bytes]:
        if self._id is None:
            self.response_id = event.response_id
            self._id = _completion_id(event.response_id)
            self._seed = event.response_id or self._seed
        if event.model_version:
            self._model = event.model_version
        check_blocked(event)
        if event.usage_metadata is not None:
            self.usage = usage(event.usage_metadata)
        out: list[bytes] = []
        for candidate in event.candidates:
            out += self._candidate(candidate)
        return out

    def final(self) -> list[bytes]:
        if self.usage is None:
            return []
        return [self._chunk([], usage=self.usage)]

    def _candidate(self, candidate: GeminiCandidate) -> list[bytes]:
        index = candidate.index
        out: list[bytes] = []
        if index not in self._calls:
            self._calls[index] = 0
            out.append(self._delta(index, Delta(role="assistant", content="")))
        for part in candidate.content.parts if candidate.content else ():
            if part.function_call is not None:
                position = self._calls[index]
                self._calls[index] = position + 1
                call = _tool_call(part, f"{self._seed}:{index}", position)
                head = ToolCallDelta(position, call.id, "function", {"name": call.function.name, "arguments": ""})
                body = ToolCallDelta(position, function={"arguments": call.function.arguments})
                out += [self._delta(index, Delta(tool_calls=[head])), self._delta(index, Delta(tool_calls=[body]))]
            elif part.text:
                delta = Delta(reasoning_content=part.text) if part.thought else Delta(content=part.text)
                out.append(self._delta(index, delta))
        if candidate.finish_reason is not None and index not in self._finished:
            self._finished.add(index)
            reason = finish_reason(candidate.finish_reason, self._calls[index] > 0)
            out.append(self._delta(index, Delta(), reason))
        return out

    def _delta(self, index: int, delta: Delta, finish: str | None = None) -> bytes:
        return self._chunk([ChunkChoice(index, delta, finish)])

    def _chunk(self, choices: list[ChunkChoice], usage: Usage | None = None) -> bytes:
        chunk = ChatCompletionChunk(self._id or _completion_id(None), self._created, self._model, choices, usage=usage)
        return _encoder.encode(chunk)
