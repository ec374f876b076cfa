"""Cohere's v2 API: ``POST /v2/chat`` (plain or SSE stream) and ``POST /v2/embed``.

Translation choices worth knowing:
- ``tool_plan`` (Cohere's text before its tool calls) is the assistant's ``content`` both ways, so a plan
  shown to the client comes back to Cohere as the plan;
- Cohere forces tool use only as a whole (REQUIRED), so a named ``tool_choice`` sends that tool alone;
- image URLs are fetched by the gateway (SSRF-guarded) and sent inline; usage is ``billed_units`` (charged);
- ``n`` > 1, ``logprobs``, ``logit_bias``, ``parallel_tool_calls: false`` and ``reasoning_effort`` are a 400
  naming the parameter; ``user``, ``metadata``, ``store``, ``service_tier`` are dropped (bookkeeping only);
- embeddings use ``input_type: search_document`` (the caller's intent is unknown; documents are what most
  embedding calls index) and ``embedding_types: ["float"]``; base64 is encoded here.
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
from switchyard.streaming.sse import DONE, SSEDecoder
from switchyard.transport import UpstreamResponse, UpstreamStream
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types import chat as oa
from switchyard.types.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage

DEFAULT_API_BASE = "https://api.cohere.com"
EMBED_INPUT_TYPE = "search_document"

# (canonical, Cohere, lowest, highest): copied when set, clamped into Cohere's documented range.
_PARAMS: tuple[tuple[str, str, float | None, float | None], ...] = (
    ("temperature", "temperature", 0.0, None),
    ("top_p", "p", 0.01, 0.99),  # OpenAI's default 1.0 is outside Cohere's range
    ("seed", "seed", None, None),
    ("presence_penalty", "presence_penalty", 0.0, 1.0),  # OpenAI allows -2..2, Cohere 0..1
    ("frequency_penalty", "frequency_penalty", 0.0, 1.0),
)
_UNSUPPORTED = ("logprobs", "top_logprobs", "logit_bias", "modalities", "reasoning_effort")
_FINISH = {"COMPLETE": "stop", "STOP_SEQUENCE": "stop", "MAX_TOKENS": "length", "TOOL_CALL": "tool_calls"}
_encode = msgspec.json.Encoder().encode


def _text(content: str | list[oa.ContentPart] | None) -> str:
    if content is None or isinstance(content, str):
        return content or ""
    if any(not isinstance(part, oa.TextPart) for part in content):
        raise errors.InvalidRequestError("Cohere takes images in user messages only", param="messages")
    return "\n".join(part.text for part in content if isinstance(part, oa.TextPart))


async def _user_content(content: str | list[oa.ContentPart], fetcher: GuardedFetcher, limit: int) -> Any:
    if isinstance(content, str):
        return content
    parts: list[dict[str, Any]] = []
    for part in content:
        if isinstance(part, oa.TextPart):
            parts.append({"type": "text", "text": part.text})
        elif isinstance(part, oa.ImagePart):
            image = await load_image(part.image_url.url, fetcher, limit)
            url = {"url": f"data:{image.media_type};base64,{image.base64}", "detail": part.image_url.detail}
            parts.append({"type": "image_url", "image_url": {k: v for k, v in url.items() if v is not None}})
        else:
            raise errors.InvalidRequestError("Cohere chat takes text and image content only", param="messages")
    return parts


async def _messages(request: oa.ChatRequest, fetcher: GuardedFetcher, limit: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in request.messages:
        if isinstance(m, (oa.SystemMessage, oa.DeveloperMessage)):
            out.append({"role": "system", "content": _text(m.content)})
        elif isinstance(m, oa.UserMessage):
            out.append({"role": "user", "content": await _user_content(m.content, fetcher, limit)})
        elif isinstance(m, oa.AssistantMessage):
            text, message = _text(m.content), dict[str, Any](role="assistant")
            if m.tool_calls:
                message["tool_calls"] = [msgspec.to_builtins(c) | {"type": "function"} for c in m.tool_calls]
                if text:
                    message["tool_plan"] = text
            elif text:
                message["content"] = text
            out.append(message)
        elif isinstance(m, oa.ToolMessage):
            out.append({"role": "tool", "tool_call_id": m.tool_call_id, "content": _text(m.content)})
        else:
            raise errors.InvalidRequestError("legacy function messages are not supported", param="messages")
    return out


def _tools(request: oa.ChatRequest, body: dict[str, Any]) -> None:
    tools, choice = request.tools or [], request.tool_choice
    if isinstance(choice, oa.NamedToolChoice):
        tools = [t for t in tools if t.function.name == choice.function.name]
        if not tools:
            raise errors.InvalidRequestError("tool_choice names a tool that is not in tools", param="tool_choice")
        body["tool_choice"] = "REQUIRED"
    elif choice in ("required", "none") and tools:
        body["tool_choice"] = choice.upper()
    if tools:
        functions = [{k: v for k, v in msgspec.to_builtins(t.function).items() if k != "strict"} for t in tools]
        body["tools"] = [{"type": "function", "function": function} for function in functions]
        if any(t.function.strict for t in tools):
            body["strict_tools"] = True


async def build_body(
    request: oa.ChatRequest, model: str, default_max: int | None, stream: bool, fetcher: GuardedFetcher, limit: int
) -> dict[str, Any]:
    if (request.n or 1) > 1:
        raise errors.InvalidRequestError("Cohere returns one choice per request; n must be 1", param="n")
    for name in _UNSUPPORTED:
        if getattr(request, name) not in (None, False):
            raise errors.InvalidRequestError(f"Cohere does not support {name}", param=name)
    if request.parallel_tool_calls is False:
        raise errors.InvalidRequestError("Cohere cannot turn off parallel tool calls", param="parallel_tool_calls")
    body: dict[str, Any] = {"model": model, "messages": await _messages(request, fetcher, limit), "stream": stream}
    for ours, theirs, low, high in _PARAMS:
        if (value := getattr(request, ours)) is not None:
            value = value if low is None else max(low, value)
            body[theirs] = value if high is None else min(high, value)
    if request.stop is not None:
        body["stop_sequences"] = [request.stop] if isinstance(request.stop, str) else request.stop
    if (limit_tokens := request.max_completion_tokens or request.max_tokens or default_max) is not None:
        body["max_tokens"] = limit_tokens
    fmt = request.response_format
    if fmt is not None and fmt.type != "text":
        body["response_format"] = {"type": "json_object"}
        if fmt.json_schema is not None and fmt.json_schema.schema is not None:
            body["response_format"]["json_schema"] = fmt.json_schema.schema
    _tools(request, body)
    return body


class _Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _ToolCall(msgspec.Struct):
    id: str | None = None
    function: _Function | None = None


class _Content(msgspec.Struct):
    type: str | None = None
    text: str | None = None
    thinking: str | None = None


class _Message(msgspec.Struct):
    content: list[_Content] | _Content | None = None
    tool_plan: str | None = None
    tool_calls: list[_ToolCall] | _ToolCall | None = None


class _Tokens(msgspec.Struct):
    input_tokens: float = 0
    output_tokens: float = 0


class _Usage(msgspec.Struct):
    billed_units: _Tokens | None = None
    tokens: _Tokens | None = None


class _Answer(msgspec.Struct):  # also the ``delta`` of stream events
    id: str = ""
    finish_reason: str | None = None
    message: _Message | None = None
    usage: _Usage | None = None
    error: str | None = None


def _usage(usage: _Usage | None) -> oa.Usage | None:
    counts = usage and (usage.billed_units or usage.tokens)
    if not counts:
        return None
    prompt, completion = int(counts.input_tokens), int(counts.output_tokens)
    return oa.Usage(prompt, completion, prompt + completion)


def _finish(reason: str | None, detail: str | None = None) -> str:
    if reason == "TIMEOUT":
        raise errors.UpstreamTimeoutError("upstream cohere timed out while generating")
    if reason == "ERROR" or reason is None:
        raise errors.UpstreamError("upstream cohere failed while generating" + (f": {detail}" if detail else ""))
    return _FINISH.get(reason, "stop")


def _listed(value: Any) -> list[Any]:  # events carry one item where answers carry a list
    return value if isinstance(value, list) else [] if value is None else [value]


def to_completion(payload: bytes, model: str) -> bytes:
    try:
        answer = msgspec.json.decode(payload, type=_Answer)
    except (msgspec.ValidationError, msgspec.DecodeError):
        raise errors.UpstreamError("upstream cohere sent a malformed answer") from None
    message = answer.message or _Message()
    contents = _listed(message.content)
    text = "".join(c.text or "" for c in contents if c.type == "text")
    thinking = "".join(c.thinking or "" for c in contents if c.type == "thinking") or None
    calls = [
        oa.ToolCall(c.id or "", oa.FunctionCall(c.function.name or "", c.function.arguments or "{}"))
        for c in _listed(message.tool_calls)
        if c.function is not None
    ]
    content = (message.tool_plan or text or None) if calls else text
    response = oa.ResponseMessage(content, "assistant", tool_calls=calls or None, reasoning_content=thinking)
    choice = oa.Choice(0, response, _finish(answer.finish_reason))
    return _encode(oa.ChatCompletion(answer.id, int(time.time()), model, [choice], _usage(answer.usage)))


class _Event(msgspec.Struct):
    type: str = ""
    id: str | None = None
    index: int | None = None
    delta: _Answer | None = None


_event = msgspec.json.Decoder(_Event)


class _CohereStream:
    """Cohere's typed SSE events → OpenAI chunks. Ends properly only after ``message-end``."""

    __slots__ = ("_stream", "_model", "_id", "_created", "_calls", "upstream_request_id")

    def __init__(self, stream: UpstreamStream, model: str) -> None:
        self._stream, self._model = stream, model
        self._id, self._created, self._calls = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time()), 0
        self.upstream_request_id = stream.headers.get("x-request-id")

    def _chunk(self, delta: oa.Delta | None, finish: str | None = None, usage: oa.Usage | None = None) -> bytes:
        choices = [] if delta is None else [oa.ChunkChoice(0, delta, finish)]
        return _encode(oa.ChatCompletionChunk(self._id, self._created, self._model, choices, usage=usage))

    def _translate(self, event: _Event) -> list[bytes]:
        message = (event.delta and event.delta.message) or _Message()
        if event.type == "message-start":
            self._id = event.id or self._id
            return [self._chunk(oa.Delta(role="assistant", content=""))]
        if event.type == "content-delta":
            piece = next(iter(_listed(message.content)), _Content())
            if piece.thinking:
                return [self._chunk(oa.Delta(reasoning_content=piece.thinking))]
            return [self._chunk(oa.Delta(content=piece.text))] if piece.text else []
        if event.type == "tool-plan-delta" and message.tool_plan:
            return [self._chunk(oa.Delta(content=message.tool_plan))]
        call = next(iter(_listed(message.tool_calls)), None)
        if event.type == "tool-call-start" and call is not None and call.function is not None:
            self._calls += 1
            head = {"name": call.function.name or "", "arguments": ""}
            out = [self._chunk(oa.Delta(tool_calls=[oa.ToolCallDelta(self._calls - 1, call.id, "function", head)]))]
            return out + self._arguments(call.function.arguments)
        if event.type == "tool-call-delta" and call is not None and call.function is not None:
            return self._arguments(call.function.arguments)
        if event.type == "message-end":
            delta = event.delta or _Answer()
            finish = _finish(delta.finish_reason, delta.error)
            usage = _usage(delta.usage)
            return [self._chunk(oa.Delta(), finish)] + ([self._chunk(None, usage=usage)] if usage else [])
        return []  # content-start/-end, tool-call-end, citations: nothing for an OpenAI client

    def _arguments(self, fragment: str | None) -> list[bytes]:
        if not fragment:
            return []
        return [self._chunk(oa.Delta(tool_calls=[oa.ToolCallDelta(self._calls - 1, function={"arguments": fragment})]))]

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder, ended = SSEDecoder(), False
        try:
            async for data in self._stream.chunks():
                batch: list[bytes] = []
                for sse in decoder.feed(data):
                    if not sse.data or sse.data == DONE:
                        continue
                    try:
                        event = _event.decode(sse.data)
                        batch += self._translate(event)
                    except (msgspec.ValidationError, msgspec.DecodeError, errors.UpstreamError) as exc:
                        if batch:  # what arrived before the bad event still reaches the client
                            yield batch
                        malformed = errors.UpstreamError("upstream cohere sent a malformed stream event")
                        raise exc if isinstance(exc, errors.UpstreamError) else malformed from None
                    ended = ended or event.type == "message-end"
                if batch:
                    yield batch
                if ended:
                    return
            raise errors.UpstreamError("upstream cohere ended the stream before message-end")
        finally:
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._stream.aclose()


def cohere_error(status: int, headers: Mapping[str, str], body: bytes, secret: str | None) -> errors.SwitchyardError:
    try:
        parsed = msgspec.json.decode(body)
        message = str(parsed.get("message")) if isinstance(parsed, dict) else None
    except msgspec.DecodeError:
        message = body.decode(errors="replace")[:300] or None
    code = "context_length_exceeded" if message and "too many tokens" in message else None
    normalised = _encode({"error": {"message": message, "code": code}})
    error = upstream_error("cohere", status, headers, normalised, secret)
    if status == 402:  # the account behind the key cannot pay: an operator problem, like a refused key
        error = errors.UpstreamAuthError("upstream cohere refused the gateway's account: payment required (402)")
    elif status == 404:  # this deployment names a model the account cannot use; another deployment may serve
        error = errors.UpstreamNotFoundError(f"upstream cohere returned 404: {error.message}")
    return error


class CohereProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        if not key:
            raise errors.ConfigError("api_key", "provider 'cohere' needs an api_key", "api_key: os.environ/CO_API_KEY")
        base = deployment.api_base or DEFAULT_API_BASE
        self._model, self._secret, self._default_max = deployment.model, key, deployment.max_output_tokens
        self._transport, self._timeouts = context.transport, timeouts_for(deployment, context.router)
        self._images, self._image_limit = context.images, context.image_max_bytes
        self._max_connections = deployment.max_connections
        self._chat_url, self._embed_url = f"{base}/v2/chat", f"{base}/v2/embed"
        self._headers = {"Content-Type": "application/json", **deployment.headers, "Authorization": f"Bearer {key}"}
        self._stream_headers = {**self._headers, "Accept": "text/event-stream"}

    async def _body(self, call: ChatCall, stream: bool) -> bytes:
        limits = self._default_max, stream, self._images, self._image_limit
        return _encode(await build_body(call.request, self._model, *limits))

    async def _post(self, url: str, body: bytes) -> UpstreamResponse:
        response = await self._transport.post(url, body, self._headers, self._timeouts, self._max_connections)
        if response.status >= 400:
            raise cohere_error(response.status, response.headers, response.body, self._secret)
        return response

    async def chat(self, call: ChatCall) -> Reply:
        response = await self._post(self._chat_url, await self._body(call, stream=False))
        return Reply(to_completion(response.body, self._model), response.headers.get("x-request-id"))

    async def chat_stream(self, call: ChatCall) -> _CohereStream:
        body = await self._body(call, stream=True)
        stream = await self._transport.open_stream(
            self._chat_url, body, self._stream_headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise cohere_error(stream.status, stream.headers, await stream.read(), self._secret)
            finally:
                await stream.aclose()
        if stream.headers.get("content-type", "").startswith("text/event-stream"):
            return _CohereStream(stream, self._model)
        await stream.aclose()
        raise errors.UpstreamError("upstream cohere answered a stream request without an event stream")

    async def embed(self, call: EmbedCall) -> Reply:
        request = call.request
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not all(isinstance(text, str) for text in texts):
            raise errors.InvalidRequestError("Cohere embeddings take text, not token ids", param="input")
        body: dict[str, Any] = {"model": self._model, "texts": texts, "input_type": EMBED_INPUT_TYPE,
                                "embedding_types": ["float"]}  # fmt: skip
        if request.dimensions is not None:
            body["output_dimension"] = request.dimensions
        response = await self._post(self._embed_url, _encode(body))
        try:
            answer = msgspec.json.decode(response.body, type=_EmbedAnswer)
        except (msgspec.ValidationError, msgspec.DecodeError):
            raise errors.UpstreamError("upstream cohere sent a malformed embeddings answer") from None
        b64 = request.encoding_format == "base64"
        data = [Embedding(i, _b64(v) if b64 else v) for i, v in enumerate(answer.embeddings.floats)]
        billed = int(answer.meta.billed_units.input_tokens) if answer.meta and answer.meta.billed_units else 0
        usage = EmbeddingUsage(billed, billed)
        return Reply(_encode(EmbeddingResponse(data, self._model, usage)), response.headers.get("x-request-id"))


def _b64(vector: list[float]) -> str:
    """OpenAI's ``encoding_format: base64``: little-endian float32 bytes."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()


class _Vectors(msgspec.Struct):
    floats: list[list[float]] = msgspec.field(default_factory=list, name="float")


class _EmbedAnswer(msgspec.Struct):
    embeddings: _Vectors
    meta: _Usage | None = None  # only its billed_units
