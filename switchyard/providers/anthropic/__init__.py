"""Anthropic's Messages API (``POST {api_base}/v1/messages``), translated to and from OpenAI's chat format.

Configuration (per deployment):

- ``model``: the Anthropic model id, e.g. ``claude-sonnet-4-5``;
- ``api_key`` (required): sent as ``x-api-key``; write it as ``os.environ/ANTHROPIC_API_KEY``;
- ``api_base`` (optional): instead of ``https://api.anthropic.com`` (a proxy, a test double); a trailing
  ``/v1`` is accepted;
- ``api_version`` (optional): the ``anthropic-version`` header, ``2023-06-01`` by default; beta features go
  in ``headers: {anthropic-beta: ...}``;
- ``max_output_tokens`` (optional): the ``max_tokens`` Anthropic requires when the client sets none (else 4096).

Requests: see ``_request`` for what maps and what is refused. Answers: see ``_response`` (plain answers,
usage and errors) and ``_stream`` (streamed). Anthropic has no embeddings, so ``embed`` is a clear 400.

Clients that speak the Messages API themselves (the gateway's ``/v1/messages``) are served without translation:
the adapter declares that format in ``native_formats``, and ``chat_native`` / ``chat_native_stream`` forward the
client's body with only the model renamed (see ``_native``), with the client's ``anthropic-version`` (instead of
the deployment's) and ``anthropic-beta`` (added to the deployment's own betas), since the body may need them.
"""

from __future__ import annotations

from collections.abc import Mapping

import msgspec

from switchyard import errors
from switchyard.config.schema import Deployment
from switchyard.providers.anthropic._native import NativeAnthropicStream, client_headers, message_usage
from switchyard.providers.anthropic._request import build_body
from switchyard.providers.anthropic._response import PROVIDER, http_error, to_completion
from switchyard.providers.anthropic._stream import AnthropicStream
from switchyard.providers.base import (
    ANTHROPIC_MESSAGES,
    ChatCall,
    NoEmbeddings,
    ProviderContext,
    Reply,
    timeouts_for,
    with_model,
)
from switchyard.transport import UpstreamStream

__all__ = ["AnthropicProvider"]

DEFAULT_API_BASE = "https://api.anthropic.com"
DEFAULT_VERSION = "2023-06-01"
_encoder = msgspec.json.Encoder()


class AnthropicProvider(NoEmbeddings):
    native_formats = frozenset({ANTHROPIC_MESSAGES})

    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        if not key:
            raise errors.ConfigError(
                "api_key", f"provider {PROVIDER!r} needs an api_key", "api_key: os.environ/ANTHROPIC_API_KEY"
            )
        base = (deployment.api_base or DEFAULT_API_BASE).removesuffix("/v1")
        self._url = f"{base}/v1/messages"
        self._model = deployment.model
        self._secrets = (key,)
        self._transport = context.transport
        self._timeouts = timeouts_for(deployment, context.router)
        self._max_connections = deployment.max_connections
        self._max_tokens = deployment.max_output_tokens
        self._image_max_bytes = context.image_max_bytes
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "anthropic-version": deployment.api_version or DEFAULT_VERSION,
            **deployment.headers,
            "x-api-key": key,
        }
        self._headers = headers
        self._stream_headers = {**headers, "Accept": "text/event-stream"}

    def _payload(self, call: ChatCall, stream: bool) -> tuple[bytes, str | None]:
        body, json_tool = build_body(call.request, self._model, self._max_tokens, self._image_max_bytes)
        if stream:
            body["stream"] = True
        return _encoder.encode(body), json_tool

    async def chat(self, call: ChatCall) -> Reply:
        payload, json_tool = self._payload(call, stream=False)
        response = await self._transport.post(self._url, payload, self._headers, self._timeouts, self._max_connections)
        if response.status >= 400:
            raise http_error(response.status, response.headers, response.body, self._secrets)
        return Reply(to_completion(response.body, self._model, json_tool), response.headers.get("request-id"))

    async def chat_stream(self, call: ChatCall) -> AnthropicStream:
        payload, json_tool = self._payload(call, stream=True)
        stream = await self._open(payload, native=False)
        return AnthropicStream(stream, self._model, json_tool, self._secrets)

    # --- the client's own Messages API body, passed through ------------------------------------------------

    def _native_payload(self, call: ChatCall) -> bytes:
        assert call.native is not None, "the executor calls chat_native only for calls with a native body"
        return with_model(call.native.body, self._model)

    async def chat_native(self, call: ChatCall) -> Reply:
        payload = self._native_payload(call)
        headers = client_headers(self._headers, call.native)
        response = await self._transport.post(self._url, payload, headers, self._timeouts, self._max_connections)
        if response.status >= 400:
            raise http_error(response.status, response.headers, response.body, self._secrets, native=True)
        usage = message_usage(response.body)
        return Reply(response.body, response.headers.get("request-id"), usage, ANTHROPIC_MESSAGES)

    async def chat_native_stream(self, call: ChatCall) -> NativeAnthropicStream:
        headers = client_headers(self._stream_headers, call.native)
        stream = await self._open(self._native_payload(call), native=True, headers=headers)
        return NativeAnthropicStream(stream, self._secrets)

    async def _open(self, payload: bytes, *, native: bool, headers: Mapping[str, str] | None = None) -> UpstreamStream:
        stream = await self._transport.open_stream(
            self._url, payload, headers or self._stream_headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise http_error(stream.status, stream.headers, await stream.read(), self._secrets, native=native)
            finally:
                await stream.aclose()
        content_type = stream.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await stream.aclose()
            raise errors.UpstreamError(
                f"upstream {PROVIDER} answered a stream request with {content_type or 'no content type'}"
            )
        return stream
