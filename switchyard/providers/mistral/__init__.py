"""Mistral (La Plateforme): OpenAI-like chat, but strict about fields, so requests are rebuilt, not passed through.

Mistral rejects fields it does not know (422 ``extra_forbidden``), renames some (``random_seed``,
``tool_choice: "any"``, ``max_tokens`` only), wants tool-call ids of nine alphanumerics, and streams usage in
the last chunk unasked. Answers are decoded and re-encoded so tool calls, finish reasons and usage follow the
contract (a usage-only chunk after the finish chunk; every tool call opened with its name first). Ids Mistral
would refuse (another provider's ``call_...``) are mapped to nine characters by a hash, the same on the call
and on its result; Mistral's own ids already fit and are never changed.
"""

from __future__ import annotations

import hashlib
import re
import string
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers.base import ChatCall, EmbedCall, ProviderContext, Reply, timeouts_for
from switchyard.providers.mistral._errors import mistral_error
from switchyard.streaming.sse import DONE, SSEDecoder
from switchyard.transport import UpstreamResponse, UpstreamStream
from switchyard.types import chat as oa
from switchyard.types.embeddings import EmbeddingResponse

DEFAULT_API_BASE = "https://api.mistral.ai/v1"

# Parameter mapping as data: (canonical name, Mistral name) copied when set.
_PARAMS = (
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("stop", "stop"),
    ("n", "n"),
    ("seed", "random_seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
    ("parallel_tool_calls", "parallel_tool_calls"),
)
# Changing the answer in ways Mistral cannot do: refused rather than silently ignored.
_UNSUPPORTED = ("logprobs", "top_logprobs", "logit_bias", "modalities", "reasoning_effort")
# Dropped: bookkeeping for OpenAI's side (user, metadata, store, service_tier) that changes no answer.
_TOOL_CHOICE = {"auto": "auto", "none": "none", "required": "any"}
_FINISH = {"stop": "stop", "length": "length", "model_length": "length", "tool_calls": "tool_calls"}
_ID = re.compile(r"[A-Za-z0-9]{9}")
_ALPHABET = string.ascii_letters + string.digits


def mistral_tool_id(call_id: str) -> str:
    """A nine-character alphanumeric id Mistral accepts: the id itself when it fits, else a stable hash."""
    if _ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    chars = []
    for _ in range(9):
        number, digit = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[digit])
    return "".join(chars)


def _text(content: str | list[oa.ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    texts = []
    for part in content:
        if not isinstance(part, oa.TextPart):
            raise errors.InvalidRequestError(
                f"Mistral takes text (and user images) only, not {part.__class__.__name__}", param="messages"
            )
        texts.append(part.text)
    return "\n".join(texts)


def _user_content(content: str | list[oa.ContentPart]) -> str | list[dict[str, Any]]:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, oa.ImagePart):
            # Mistral fetches image URLs itself and reads data URLs, so the URL goes as it is.
            parts.append({"type": "image_url", "image_url": part.image_url.url})
        else:
            parts.append({"type": "text", "text": _text([part])})
    return parts


def _message(message: oa.Message) -> dict[str, Any]:
    if isinstance(message, (oa.SystemMessage, oa.DeveloperMessage)):
        return {"role": "system", "content": _text(message.content)}
    if isinstance(message, oa.UserMessage):
        return {"role": "user", "content": _user_content(message.content)}
    if isinstance(message, oa.AssistantMessage):
        out: dict[str, Any] = {"role": "assistant", "content": _text(message.content) or None}
        for call in message.tool_calls or []:
            function = {"name": call.function.name, "arguments": call.function.arguments}
            out.setdefault("tool_calls", []).append(
                {"id": mistral_tool_id(call.id), "type": "function", "function": function}
            )
        return out
    if isinstance(message, oa.ToolMessage):
        content = _text(message.content)
        return {"role": "tool", "tool_call_id": mistral_tool_id(message.tool_call_id), "content": content}
    raise errors.InvalidRequestError("legacy function messages are not supported; use tool messages", param="messages")


def _response_format(fmt: oa.ResponseFormat) -> dict[str, Any] | None:
    if fmt.type == "json_schema" and fmt.json_schema is not None:
        schema = msgspec.to_builtins(fmt.json_schema)
        schema.setdefault("schema", {"type": "object"})
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt.type} if fmt.type == "json_object" else None


def build_body(request: oa.ChatRequest, model: str, default_max: int | None, stream: bool) -> dict[str, Any]:
    for name in _UNSUPPORTED:
        if getattr(request, name) not in (None, False):
            raise errors.InvalidRequestError(f"Mistral does not support {name}", param=name)
    body: dict[str, Any] = {"model": model, "messages": [_message(m) for m in request.messages], "stream": stream}
    for ours, theirs in _PARAMS:
        value = getattr(request, ours)
        if value is not None:
            body[theirs] = value
    limit = request.max_completion_tokens or request.max_tokens or default_max
    if limit is not None:
        body["max_tokens"] = limit
    if request.response_format is not None and (fmt := _response_format(request.response_format)):
        body["response_format"] = fmt
    if request.tools:
        body["tools"] = [{"type": "function", "function": msgspec.to_builtins(tool.function)} for tool in request.tools]
    choice = request.tool_choice
    if isinstance(choice, oa.NamedToolChoice):
        body["tool_choice"] = {"type": "function", "function": {"name": choice.function.name}}
    elif choice is not None:
        body["tool_choice"] = _TOOL_CHOICE[choice]
    return body


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | dict[str, Any] | None = None


class _ToolCall(msgspec.Struct):
    function: _Function
    id: str | None = None


class _Message(msgspec.Struct):
    content: str | list[dict[str, Any]] | None = None
    tool_calls: list[_ToolCall] | None = None


class _Choice(msgspec.Struct):  # ``message`` in answers, ``delta`` in chunks
    index: int = 0
    message: _Message | None = None
    delta: _Message | None = None
    finish_reason: str | None = None


class _Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class _Answer(msgspec.Struct):
    id: str = ""
    model: str = ""
    created: int = 0
    choices: list[_Choice] = []
    usage: _Usage | None = None
    object: str | None = None
    message: Any = None


_answer = msgspec.json.Decoder(_Answer)
_encode = msgspec.json.Encoder().encode


def _split(content: str | list[dict[str, Any]] | None) -> tuple[str | None, str | None]:
    """(text, reasoning): reasoning models answer with typed chunks, thinking apart from text."""
    if content is None or isinstance(content, str):
        return content, None
    text, thinking = [], []
    for chunk in content:
        if chunk.get("type") == "text":
            text.append(str(chunk.get("text", "")))
        elif chunk.get("type") == "thinking":
            thinking += [str(t.get("text", "")) for t in chunk.get("thinking") or [] if isinstance(t, dict)]
    return "".join(text), ("".join(thinking) or None)


def _arguments(value: str | dict[str, Any] | None) -> str:
    return value if isinstance(value, str) else _encode(value or {}).decode()


def _finish(reason: str | None) -> str | None:
    if reason == "error":
        raise errors.UpstreamError("upstream mistral stopped generating with an error")
    return _FINISH.get(reason, reason) if reason is not None else None


def _usage(usage: _Usage | None) -> oa.Usage | None:
    return oa.Usage(usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) if usage else None


def _decode(payload: bytes) -> _Answer:
    try:
        answer = _answer.decode(payload)
    except msgspec.DecodeError:
        raise errors.UpstreamError("upstream mistral sent a malformed answer") from None
    if answer.object == "error":
        raise errors.UpstreamError(f"upstream mistral reported an error: {str(answer.message)[:300]}")
    return answer


def to_completion(payload: bytes) -> bytes:
    answer = _decode(payload)
    choices = []
    for choice in answer.choices:
        message = choice.message or _Message()
        text, reasoning = _split(message.content)
        calls = [
            oa.ToolCall(call.id or "", oa.FunctionCall(call.function.name or "", _arguments(call.function.arguments)))
            for call in message.tool_calls or []
        ]
        response = oa.ResponseMessage(text, "assistant", tool_calls=calls or None, reasoning_content=reasoning)
        choices.append(oa.Choice(choice.index, response, _finish(choice.finish_reason)))
    created = answer.created or int(time.time())
    return _encode(oa.ChatCompletion(answer.id, created, answer.model, choices, _usage(answer.usage)))


class _ChunkTranslator:
    """Mistral chunks → OpenAI chunks; remembers which choices and tool calls it has opened."""

    def __init__(self) -> None:
        self._opened: set[int] = set()
        self._calls: dict[int, int] = {}  # choice index → tool calls opened so far
        self._answer, self._out = _Answer(), list[bytes]()

    def translate(self, answer: _Answer) -> list[bytes]:
        self._answer, self._out = answer, []
        for choice in answer.choices:
            delta = choice.delta or _Message()
            text, reasoning = _split(delta.content)
            if text or reasoning or choice.index not in self._opened:
                self._emit(choice.index, oa.Delta(content=text or "", reasoning_content=reasoning))
            for call in delta.tool_calls or []:
                self._tool_call(choice.index, call)
            if (finish := _finish(choice.finish_reason)) is not None:
                self._emit(choice.index, oa.Delta(), finish)
        if answer.usage is not None:
            usage = _usage(answer.usage)
            self._out.append(_encode(oa.ChatCompletionChunk(answer.id, answer.created, answer.model, [], usage=usage)))
        return self._out

    def _emit(self, index: int, delta: oa.Delta, finish: str | None = None) -> None:
        if index not in self._opened:
            self._opened.add(index)
            delta.role = "assistant"
        a = self._answer
        self._out.append(
            _encode(oa.ChatCompletionChunk(a.id, a.created, a.model, [oa.ChunkChoice(index, delta, finish)]))
        )

    def _tool_call(self, choice: int, call: _ToolCall) -> None:
        # Mistral sends each call whole; a call without an id continues the previous one's arguments.
        arguments = _arguments(call.function.arguments) if call.function.arguments is not None else ""
        if call.id and call.id != "null":
            index = self._calls.get(choice, 0)
            self._calls[choice] = index + 1
            head = oa.ToolCallDelta(index, call.id, "function", {"name": call.function.name or "", "arguments": ""})
            self._emit(choice, oa.Delta(tool_calls=[head]))
        else:
            index = max(0, self._calls.get(choice, 1) - 1)
        if arguments:
            self._emit(choice, oa.Delta(tool_calls=[oa.ToolCallDelta(index, function={"arguments": arguments})]))


class _MistralStream:
    __slots__ = ("_stream", "upstream_request_id")

    def __init__(self, stream: UpstreamStream) -> None:
        self._stream = stream
        self.upstream_request_id = stream.headers.get("x-request-id")

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder, translator = SSEDecoder(), _ChunkTranslator()
        try:
            async for data in self._stream.chunks():
                batch: list[bytes] = []
                for event in decoder.feed(data):
                    if event.data == DONE:
                        if batch:
                            yield batch
                        return
                    try:
                        batch += translator.translate(_decode(event.data)) if event.data else []
                    except errors.UpstreamError:
                        if batch:  # what arrived before the bad chunk still reaches the client
                            yield batch
                        raise
                if batch:
                    yield batch
            raise errors.UpstreamError("upstream mistral ended the stream without [DONE]")
        finally:
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._stream.aclose()


class MistralProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        if not key:
            raise errors.ConfigError(
                "api_key", "provider 'mistral' needs an api_key", "api_key: os.environ/MISTRAL_KEY"
            )
        base = deployment.api_base or DEFAULT_API_BASE
        self._model, self._secret, self._default_max = deployment.model, key, deployment.max_output_tokens
        self._transport, self._timeouts = context.transport, timeouts_for(deployment, context.router)
        self._max_connections = deployment.max_connections
        self._chat_url, self._embed_url = f"{base}/chat/completions", f"{base}/embeddings"
        self._headers = {"Content-Type": "application/json", **deployment.headers, "Authorization": f"Bearer {key}"}
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}

    async def _post(self, url: str, body: dict[str, Any]) -> UpstreamResponse:
        response = await self._transport.post(url, _encode(body), self._headers, self._timeouts, self._max_connections)
        if response.status >= 400:
            raise mistral_error(response.status, response.headers, response.body, self._secret)
        return response

    async def chat(self, call: ChatCall) -> Reply:
        response = await self._post(self._chat_url, build_body(call.request, self._model, self._default_max, False))
        return Reply(to_completion(response.body), response.headers.get("x-request-id"))

    async def chat_stream(self, call: ChatCall) -> _MistralStream:
        body = _encode(build_body(call.request, self._model, self._default_max, stream=True))
        stream = await self._transport.open_stream(
            self._chat_url, body, self._stream_headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise mistral_error(stream.status, stream.headers, await stream.read(), self._secret)
            finally:
                await stream.aclose()
        if not stream.headers.get("content-type", "").startswith("text/event-stream"):
            await stream.aclose()
            raise errors.UpstreamError("upstream mistral answered a stream request without an event stream")
        return _MistralStream(stream)

    async def embed(self, call: EmbedCall) -> Reply:
        request, inputs = call.request, call.request.input
        if not isinstance(inputs, str) and not all(isinstance(item, str) for item in inputs):
            raise errors.InvalidRequestError("Mistral embeddings take text, not token ids", param="input")
        body: dict[str, Any] = {"model": self._model, "input": inputs}
        if request.encoding_format is not None:
            body["encoding_format"] = request.encoding_format
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        response = await self._post(self._embed_url, body)
        try:
            answer = msgspec.json.decode(response.body, type=EmbeddingResponse)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise errors.UpstreamError("upstream mistral sent a malformed embeddings answer") from None
        return Reply(_encode(answer), response.headers.get("x-request-id"))
