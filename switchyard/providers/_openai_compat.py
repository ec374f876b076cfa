"""The shared base for every provider that speaks OpenAI's API: the body passes through untouched.

A new OpenAI-compatible provider is one ``OpenAICompatSpec`` in the registry. The request body is
forwarded as the client sent it, re-encoded only to rename the model or to ask for usage on streams (the
gateway needs the token counts even when the client did not ask for them).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers.base import (
    ChatCall,
    EmbedCall,
    ProviderContext,
    Reply,
    retry_after_seconds,
    scrub,
    timeouts_for,
)
from switchyard.streaming.sse import DONE, SSEDecoder
from switchyard.transport import Timeouts, UpstreamStream


@dataclass(frozen=True, slots=True)
class OpenAICompatSpec:
    """What distinguishes one OpenAI-compatible provider from another."""

    name: str
    default_api_base: str | None
    requires_api_key: bool = True
    # Whether the server understands stream_options.include_usage (old vLLM and some proxies do not).
    stream_usage: bool = True
    auth_header: str = "Authorization"
    auth_prefix: str = "Bearer "


class _OpenAIError(msgspec.Struct):
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | int | None = None


class _ErrorBody(msgspec.Struct):
    error: _OpenAIError | str | None = None
    message: str | None = None


_error_decoder = msgspec.json.Decoder(_ErrorBody)


class OpenAICompatProvider:
    def __init__(
        self,
        spec: OpenAICompatSpec,
        deployment: Deployment,
        context: ProviderContext,
    ) -> None:
        base = deployment.api_base or spec.default_api_base
        if base is None:
            raise errors.ConfigError("api_base", f"provider {spec.name!r} needs an api_base", "add api_base:")
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        if spec.requires_api_key and not key:
            raise errors.ConfigError(
                "api_key", f"provider {spec.name!r} needs an api_key", "api_key: os.environ/YOUR_KEY_VAR"
            )
        self._spec = spec
        self._model = deployment.model
        self._secret = key
        self._transport = context.transport
        self._timeouts = timeouts_for(deployment, context.router)
        self._max_connections = deployment.max_connections
        self._chat_url, self._embed_url = self._urls(base, deployment)
        self._health_url = f"{base}/models"
        self._health_timeouts = Timeouts(total=5.0, connect=2.0)
        self._headers = {"Content-Type": "application/json", **deployment.headers, **self._auth(key, deployment)}
        headers = self._headers
        self._stream_headers = {**headers, "Accept": "text/event-stream"}

    # Hooks for providers that speak OpenAI's format at other URLs or with other credentials (Azure).

    def _urls(self, base: str, deployment: Deployment) -> tuple[str, str]:
        """The chat-completions and embeddings URLs."""
        return f"{base}/chat/completions", f"{base}/embeddings"

    def _auth(self, key: str | None, deployment: Deployment) -> dict[str, str]:
        """The headers that carry the credentials."""
        return {self._spec.auth_header: self._spec.auth_prefix + key} if key else {}

    def _chunk_filter(self) -> Callable[[bytes], bool] | None:
        """A predicate for stream chunks to drop before the relay sees them; None keeps all (the fast path)."""
        return None

    async def health(self) -> None:
        """Active health check: the free models list. Any answer short of a server error, a refused key or a
        rate limit means the upstream is up (some servers and Azure answer 404 here, and that is fine)."""
        response = await self._transport.get(self._health_url, self._headers, self._health_timeouts)
        if response.status >= 500 or response.status in (401, 403, 429):
            raise self._error(response.status, response.headers, response.body)

    async def chat(self, call: ChatCall) -> Reply:
        body = self._body(call.body, call.request.model != self._model, ask_usage=False)
        response = await self._transport.post(
            self._chat_url, body, self._headers, self._timeouts, self._max_connections
        )
        if response.status >= 400:
            raise self._error(response.status, response.headers, response.body)
        return Reply(response.body, response.headers.get("x-request-id"))

    async def chat_stream(self, call: ChatCall) -> _OpenAIStream:
        options = call.request.stream_options
        ask_usage = self._spec.stream_usage and not (options and options.include_usage)
        body = self._body(call.body, call.request.model != self._model, ask_usage=ask_usage)
        stream = await self._transport.open_stream(
            self._chat_url, body, self._stream_headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise self._error(stream.status, stream.headers, await stream.read())
            finally:
                await stream.aclose()
        content_type = stream.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await stream.aclose()
            raise errors.UpstreamError(
                f"upstream {self._spec.name} answered a stream request with {content_type or 'no content type'}"
            )
        return _OpenAIStream(stream, self._spec.name, self._chunk_filter())

    async def embed(self, call: EmbedCall) -> Reply:
        body = self._body(call.body, call.request.model != self._model, ask_usage=False)
        response = await self._transport.post(
            self._embed_url, body, self._headers, self._timeouts, self._max_connections
        )
        if response.status >= 400:
            raise self._error(response.status, response.headers, response.body)
        return Reply(response.body, response.headers.get("x-request-id"))

    def _body(self, body: bytes, rename: bool, ask_usage: bool) -> bytes:
        if not rename and not ask_usage:
            return body
        data: dict[str, Any] = msgspec.json.decode(body)
        data["model"] = self._model
        if ask_usage:
            options = data.get("stream_options")
            data["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        return msgspec.json.encode(data)

    def _error(self, status: int, headers: Mapping[str, str], body: bytes) -> errors.SwitchyardError:
        return upstream_error(self._spec.name, status, headers, body, self._secret)


def upstream_error(
    provider: str, status: int, headers: Mapping[str, str], body: bytes, secret: str | None
) -> errors.SwitchyardError:
    """Map an OpenAI-style error response onto the error tree, keeping the upstream's explanation."""
    detail = _OpenAIError()
    try:
        parsed = _error_decoder.decode(body)
        if isinstance(parsed.error, _OpenAIError):
            detail = parsed.error
        elif isinstance(parsed.error, str):
            detail = _OpenAIError(message=parsed.error)
        elif parsed.message:
            detail = _OpenAIError(message=parsed.message)
    except msgspec.DecodeError:
        pass
    code = str(detail.code) if detail.code is not None else ""
    upstream_text = scrub(detail.message or "", secret)
    message = f"upstream {provider} returned {status}" + (f": {upstream_text}" if upstream_text else "")
    retry_after = retry_after_seconds(headers)
    if status in (401, 403):
        # The upstream's wording names (part of) our key; the client only needs to know who to call.
        return errors.UpstreamAuthError(f"upstream {provider} rejected the gateway's credentials ({status})")
    if status == 429:
        return errors.UpstreamRateLimitError(message, retry_after=retry_after)
    if status == 400 and (code == "context_length_exceeded" or "maximum context length" in upstream_text):
        return errors.ContextWindowExceededError(message, param=detail.param or "messages")
    if code in ("content_policy_violation", "content_filter", "invalid_prompt"):
        return errors.ContentPolicyError(message, param=detail.param)
    if status in (408, 504):
        return errors.UpstreamTimeoutError(message, retry_after=retry_after)
    if status in (503, 529):
        return errors.UpstreamUnavailableError(message, retry_after=retry_after)
    if status == 404:
        return errors.UpstreamNotFoundError(message)
    if status in (400, 413, 422):
        return errors.UpstreamBadRequestError(message, param=detail.param)
    return errors.UpstreamError(message, retry_after=retry_after)


class _OpenAIStream:
    """Relays an upstream SSE stream as batches of chunk payloads; ``[DONE]`` ends it."""

    __slots__ = ("_stream", "_provider", "_drop", "upstream_request_id")

    def __init__(self, stream: UpstreamStream, provider: str, drop: Callable[[bytes], bool] | None = None) -> None:
        self._stream = stream
        self._provider = provider
        self._drop = drop
        self.upstream_request_id = stream.headers.get("x-request-id")

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder, drop = SSEDecoder(), self._drop
        try:
            async for chunk in self._stream.chunks():
                batch: list[bytes] = []
                for event in decoder.feed(chunk):
                    if event.data == DONE:
                        if batch:
                            yield batch
                        return
                    if event.data and not (drop is not None and drop(event.data)):
                        batch.append(event.data)
                if batch:
                    yield batch
            raise errors.UpstreamError(f"upstream {self._provider} ended the stream without [DONE]")
        finally:
            await self._stream.aclose()

    async def aclose(self) -> None:
        await self._stream.aclose()
