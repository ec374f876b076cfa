"""Ollama's native API: ``POST /api/chat`` (one JSON object, or NDJSON lines when streaming) and ``/api/embed``.

The native API rather than Ollama's OpenAI-compatible one: it takes sampling ``options`` and JSON-schema
``format`` the compatible endpoint does not, and reports usage on every stream without being asked.

Translation choices worth knowing:
- images are sent as base64 in the message's ``images`` (http URLs fetched by the gateway, SSRF-guarded);
- Ollama gives tool calls no ids: ids are made here (``call_`` + 24 hex); tool results are matched back by
  name (``tool_name``), which the assistant message that made the call tells us;
- Ollama cannot force tool use, so ``tool_choice`` required or named is a 400; ``none`` sends no tools;
- ``n`` > 1, ``logprobs``, ``logit_bias``, ``parallel_tool_calls: false`` are a 400 naming the parameter;
- a model the server has not pulled (404) is this deployment's state, not the request's fault: an
  ``UpstreamError`` that may fall back to another deployment, never retried here.
"""

from __future__ import annotations

import base64
import struct
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers._images import load_image
from switchyard.providers._openai_compat import upstream_error
from switchyard.providers.base import ChatCall, EmbedCall, ProviderContext, Reply, timeouts_for
from switchyard.streaming.ndjson import NDJSONDecoder
from switchyard.transport import UpstreamResponse, UpstreamStream
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types import chat as oa
from switchyard.types.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage

DEFAULT_API_BASE = "http://localhost:11434"

_OPTIONS = (  # (canonical, Ollama ``options`` key) copied when set
    ("temperature", "temperature"),
    ("top_p", "top_p"),
    ("seed", "seed"),
    ("presence_penalty", "presence_penalty"),
    ("frequency_penalty", "frequency_penalty"),
)
_UNSUPPORTED = ("logprobs", "top_logprobs", "logit_bias", "modalities")
_THINK = ("low", "medium", "high")  # reasoning_effort values Ollama's ``think`` takes as they are
_encode = msgspec.json.Encoder().encode


def _text(content: str | list[oa.ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if any(not isinstance(part, (oa.TextPart, oa.ImagePart)) for part in content):
        raise errors.InvalidRequestError("Ollama takes text and image content only", param="messages")
    return "\n".join(part.text for part in content if isinstance(part, oa.TextPart))


async def _images(content: str | list[oa.ContentPart], fetcher: GuardedFetcher, limit: int) -> list[str]:
    if isinstance(content, str):
        return []
    return [(await load_image(p.image_url.url, fetcher, limit)).base64 for p in content if isinstance(p, oa.ImagePart)]


def _arguments(text: str) -> dict[str, Any]:
    try:
        value = msgspec.json.decode(text or "{}")
    except msgspec.DecodeError:
        value = None
    if not isinstance(value, dict):
        raise errors.InvalidRequestError("tool call arguments must be a JSON object for Ollama", param="messages")
    return value


async def _messages(request: oa.ChatRequest, fetcher: GuardedFetcher, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool call id → function name, for the tool results that follow
    for m in request.messages:
        if isinstance(m, (oa.SystemMessage, oa.DeveloperMessage)):
            out.append({"role": "system", "content": _text(m.content)})
        elif isinstance(m, oa.UserMessage):
            message: dict[str, Any] = {"role": "user", "content": _text(m.content)}
            if images := await _images(m.content, fetcher, limit):
                message["images"] = images
            out.append(message)
        elif isinstance(m, oa.AssistantMessage):
            message = {"role": "assistant", "content": _text(m.content)}
            if m.tool_calls:
                names.update((c.id, c.function.name) for c in m.tool_calls)
                message["tool_calls"] = [
                    {"function": {"name": c.function.name, "arguments": _arguments(c.function.arguments)}}
                    for c in m.tool_calls
                ]
            out.append(message)
        elif isinstance(m, oa.ToolMessage):
            message = {"role": "tool", "content": _text(m.content)}
            if m.tool_call_id in names:
                message["tool_name"] = names[m.tool_call_id]
            out.append(message)
        else:
            raise errors.InvalidRequestError("legacy function messages are not supported", param="messages")
    return out


async def build_body(
    request: oa.ChatRequest, model: str, default_max: int | None, stream: bool, fetcher: GuardedFetcher, limit: int
) -> dict[str, Any]:
    if (request.n or 1) > 1:
        raise errors.InvalidRequestError("Ollama returns one choice per request; n must be 1", param="n")
    for name in _UNSUPPORTED:
        if getattr(request, name) not in (None, False):
            raise errors.InvalidRequestError(f"Ollama does not support {name}", param=name)
    if request.parallel_tool_calls is False:
        raise errors.InvalidRequestError("Ollama cannot turn off parallel tool calls", param="parallel_tool_calls")
    choice = request.tool_choice
    if request.tools and (choice == "required" or isinstance(choice, oa.NamedToolChoice)):
        raise errors.InvalidRequestError("Ollama cannot force a tool call; use tool_choice auto", param="tool_choice")
    body: dict[str, Any] = {"model": model, "messages": await _messages(request, fetcher, limit), "stream": stream}
    options = {theirs: value for ours, theirs in _OPTIONS if (value := getattr(request, ours)) is not None}
    if request.stop is not None:
        options["stop"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if (limit_tokens := request.max_completion_tokens or request.max_tokens or default_max) is not None:
        options["num_predict"] = limit_tokens
    if options:
        body["options"] = options
    fmt = request.response_format
    if fmt is not None and fmt.type == "json_object":
        body["format"] = "json"
    elif fmt is not None and fmt.type == "json_schema" and fmt.json_schema is not None:
        body["format"] = fmt.json_schema.schema or {"type": "object"}
    if request.tools and choice != "none":
        body["tools"] = [{"type": "function", "function": msgspec.to_builtins(t.function)} for t in request.tools]
    if request.reasoning_effort is not None:
        if request.reasoning_effort not in _THINK:
            raise errors.InvalidRequestError("Ollama's think takes low, medium or high", param="reasoning_effort")
        body["think"] = request.reasoning_effort
    return body


class _Function(msgspec.Struct):
    name: str = ""
    arguments: dict[str, Any] | str | None = None


class _ToolCall(msgspec.Struct):
    function: _Function


class _Message(msgspec.Struct):
    content: str | None = None
    thinking: str | None = None
    tool_calls: list[_ToolCall] | None = None


class _Answer(msgspec.Struct):
    model: str = ""
    message: _Message | None = None
    done: bool = False
    done_reason: str | None = None
    prompt_eval_count: int = 0  # absent when the whole prompt came from Ollama's cache
    eval_count: int = 0
    error: str | None = None


_answer = msgspec.json.Decoder(_Answer)


def _decode(line: bytes) -> _Answer:
    try:
        answer = _answer.decode(line)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise errors.UpstreamError("upstream ollama sent a malformed answer") from None
    if answer.error is not None:
        raise errors.UpstreamError(f"upstream ollama reported an error: {answer.error[:300]}")
    return answer


def _calls(message: _Message) -> list[oa.ToolCall]:
    return [
        oa.ToolCall(f"call_{uuid.uuid4().hex[:24]}", oa.FunctionCall(c.function.name, _json(c.function.arguments)))
        for c in message.tool_calls or []
    ]


def _json(arguments: dict[str, Any] | str | None) -> str:
    return arguments if isinstance(arguments, str) else _encode(arguments or {}).decode()


def _finish(answer: _Answer, called: bool) -> str:
    return "tool_calls" if called else "length" if answer.done_reason == "length" else "stop"


def _usage(answer: _Answer) -> oa.Usage:
    return oa.Usage(answer.prompt_eval_count, answer.eval_count, answer.prompt_eval_count + answer.eval_count)


def _id() -> str:
    return f"chatcmpl-{uuid.uuid4().hex[:24]}"


def to_completion(payload: bytes, model: str) -> bytes:
    answer = _decode(payload)
    message = answer.message or _Message()
    calls = _calls(message)
    response = oa.ResponseMessage(
        message.content or ("" if not calls else None), "assistant", tool_calls=calls or None,
        reasoning_content=message.thinking or None,
    )  # fmt: skip
    choice = oa.Choice(0, response, _finish(answer, bool(calls)))
    return _encode(oa.ChatCompletion(_id(), int(time.time()), answer.model or model, [choice], _usage(answer)))


class _OllamaStream:
    """NDJSON lines → OpenAI chunks. Ends properly only at the line with ``done: true``."""

    __slots__ = ("_stream", "_model", "_id", "_created", "_calls", "_opened", "upstream_request_id")

    def __init__(self, stream: UpstreamStream, model: str) -> None:
        self._stream, self._model, self._id, self._created = stream, model, _id(), int(time.time())
        self._calls, self._opened = 0, False
        self.upstream_request_id: str | None = None

    def _chunk(self, delta: oa.Delta | None, finish: str | None = None, usage: oa.Usage | None = None) -> bytes:
        if delta is not None and not self._opened:
            self._opened, delta.role = True, "assistant"
        choices = [] if delta is None else [oa.ChunkChoice(0, delta, finish)]
        return _encode(oa.ChatCompletionChunk(self._id, self._created, self._model, choices, usage=usage))

    def _translate(self, answer: _Answer) -> list[bytes]:
        message = answer.message or _Message()
        self._model = answer.model or self._model
        out: list[bytes] = []
        if message.content or message.thinking or not self._opened:
            out.append(self._chunk(oa.Delta(content=message.content or "", reasoning_content=message.thinking)))
        for call in _calls(message):
            head = oa.ToolCallDelta(self._calls, call.id, "function", {"name": call.function.name, "arguments": ""})
            body = oa.ToolCallDelta(self._calls, function={"arguments": call.function.arguments})
            out += [self._chunk(oa.Delta(tool_calls=[head])), self._chunk(oa.Delta(tool_calls=[body]))]
            self._calls += 1
        if answer.done:
            out += [self._chunk(oa.Delta(), _finish(answer, self._calls > 0)), self._chunk(None, usage=_usage(answer))]
        return out

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder = NDJSONDecoder()
        try:
            async for data in self._stream.chunks():
                batch: list[bytes] = []
                done = False
                for line in decoder.feed(data):
                    try:
                        answer = _decode(line)
                    except errors.UpstreamError:
                        if batch:  # what arrived before the bad line still reaches the client
                            yield batch
                        raise
                    batch += self._translate(answer)
                    done = done or answer.done
                if batch:
                    yield batch
                if done:
                    return
            for line in decoder.flush():  # a last line without its newline
                answer = _decode(line)
                yield self._translate(answer)
                if answer.done:
                    return
            raise errors.UpstreamError("upstream ollama ended the stream before its done line")
        finally:
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._stream.aclose()


def ollama_error(status: int, headers: Mapping[str, str], body: bytes, secret: str | None) -> errors.SwitchyardError:
    """Ollama's ``{"error": "..."}`` bodies (the OpenAI-compatible mapper reads a string ``error``)."""
    error = upstream_error("ollama", status, headers, body, secret)
    if status == 404:
        error = errors.UpstreamNotFoundError(f"upstream ollama cannot serve this model: {error.message}")
    return error


class OllamaProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        base = deployment.api_base or DEFAULT_API_BASE
        self._model, self._secret, self._default_max = deployment.model, key, deployment.max_output_tokens
        self._transport, self._timeouts = context.transport, timeouts_for(deployment, context.router)
        self._images, self._image_limit = context.images, context.image_max_bytes
        self._max_connections = deployment.max_connections
        self._chat_url, self._embed_url = f"{base}/api/chat", f"{base}/api/embed"
        # No key is needed by Ollama itself; one is sent for proxies in front of it that want a bearer token.
        self._headers = {"Content-Type": "application/json", **deployment.headers}
        if key:
            self._headers["Authorization"] = f"Bearer {key}"

    async def _body(self, call: ChatCall, stream: bool) -> bytes:
        limits = self._default_max, stream, self._images, self._image_limit
        return _encode(await build_body(call.request, self._model, *limits))

    async def _post(self, url: str, body: bytes) -> UpstreamResponse:
        response = await self._transport.post(url, body, self._headers, self._timeouts, self._max_connections)
        if response.status >= 400:
            raise ollama_error(response.status, response.headers, response.body, self._secret)
        return response

    async def chat(self, call: ChatCall) -> Reply:
        response = await self._post(self._chat_url, await self._body(call, stream=False))
        return Reply(to_completion(response.body, self._model))

    async def chat_stream(self, call: ChatCall) -> _OllamaStream:
        body = await self._body(call, stream=True)
        stream = await self._transport.open_stream(
            self._chat_url, body, self._headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise ollama_error(stream.status, stream.headers, await stream.read(), self._secret)
            finally:
                await stream.aclose()
        return _OllamaStream(stream, self._model)

    async def embed(self, call: EmbedCall) -> Reply:
        request = call.request
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not all(isinstance(text, str) for text in texts):
            raise errors.InvalidRequestError("Ollama embeddings take text, not token ids", param="input")
        body: dict[str, Any] = {"model": self._model, "input": texts}
        if request.dimensions is not None:
            body["dimensions"] = request.dimensions
        response = await self._post(self._embed_url, _encode(body))
        try:
            answer = msgspec.json.decode(response.body, type=_EmbedAnswer)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise errors.UpstreamError("upstream ollama sent a malformed embeddings answer") from None
        b64 = request.encoding_format == "base64"
        data = [Embedding(i, _b64(v) if b64 else v) for i, v in enumerate(answer.embeddings)]
        usage = EmbeddingUsage(answer.prompt_eval_count, answer.prompt_eval_count)
        return Reply(_encode(EmbeddingResponse(data, answer.model or self._model, usage)))


class _EmbedAnswer(msgspec.Struct):
    embeddings: list[list[float]]
    model: str = ""
    prompt_eval_count: int = 0


def _b64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
