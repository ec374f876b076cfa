"""The Google Gemini API adapter (generativelanguage.googleapis.com): chat, streams and embeddings.

The key travels in the ``x-goog-api-key`` header, never in the URL, so it cannot end up in a log line.
Streams use ``:streamGenerateContent?alt=sse``: each SSE event is a whole ``GenerateContentResponse``, and
there is no ``[DONE]``; the body simply ends. A stream counts as finished only when every candidate it
started reported a ``finishReason`` and no event was left half-received.
"""

from __future__ import annotations

import asyncio
import base64
import math
import re
import struct
from collections.abc import AsyncIterator, Mapping
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
from switchyard.providers.gemini.request import RequestOptions, generate_content_body
from switchyard.providers.gemini.response import StreamTranslator, completion, response_decoder
from switchyard.streaming.sse import SSEDecoder, SSEEvent
from switchyard.transport import UpstreamStream
from switchyard.types.embeddings import Embedding, EmbeddingResponse, EmbeddingUsage

DEFAULT_API_BASE = "https://generativelanguage.googleapis.com/v1beta"
# batchEmbedContents takes at most 100 requests; larger inputs are split and sent concurrently.
EMBED_BATCH = 100
_encoder = msgspec.json.Encoder()


class GeminiProvider:
    def __init__(self, deployment: Deployment, context: ProviderContext) -> None:
        key = deployment.api_key.get_secret_value() if deployment.api_key else None
        if not key:
            raise errors.ConfigError(
                "api_key", "provider 'gemini' needs an api_key", "api_key: os.environ/GEMINI_API_KEY"
            )
        base = deployment.api_base or (
            f"https://generativelanguage.googleapis.com/{deployment.api_version}"
            if deployment.api_version
            else DEFAULT_API_BASE
        )
        self._model = deployment.model.removeprefix("models/")
        self._secret = key
        self._transport = context.transport
        self._timeouts = timeouts_for(deployment, context.router)
        self._max_connections = deployment.max_connections
        self._options = RequestOptions(
            self._model, deployment.max_output_tokens, context.images, context.image_max_bytes
        )
        model_url = f"{base}/models/{self._model}"
        self._chat_url = f"{model_url}:generateContent"
        self._stream_url = f"{model_url}:streamGenerateContent?alt=sse"
        self._embed_url = f"{model_url}:batchEmbedContents"
        self._headers = {"Content-Type": "application/json", **deployment.headers, "x-goog-api-key": key}

    async def chat(self, call: ChatCall) -> Reply:
        body = _encoder.encode(await generate_content_body(call.request, self._options))
        response = await self._transport.post(
            self._chat_url, body, self._headers, self._timeouts, self._max_connections
        )
        if response.status >= 400:
            raise upstream_error(response.status, response.headers, response.body, self._secret)
        try:
            decoded = response_decoder.decode(response.body)
        except msgspec.DecodeError:
            raise errors.UpstreamError(
                "upstream gemini sent a response that is not a GenerateContentResponse"
            ) from None
        return Reply(_encoder.encode(completion(decoded, self._model)), decoded.response_id)

    async def chat_stream(self, call: ChatCall) -> GeminiStream:
        body = _encoder.encode(await generate_content_body(call.request, self._options))
        stream = await self._transport.open_stream(
            self._stream_url, body, self._headers, self._timeouts, self._max_connections
        )
        if stream.status >= 400:
            try:
                raise upstream_error(stream.status, stream.headers, await stream.read(), self._secret)
            finally:
                await stream.aclose()
        content_type = stream.headers.get("content-type", "")
        if not content_type.startswith("text/event-stream"):
            await stream.aclose()
            raise errors.UpstreamError(f"upstream gemini answered a stream request with {content_type or 'nothing'}")
        return GeminiStream(stream, self._model, self._secret)

    async def embed(self, call: EmbedCall) -> Reply:
        request = call.request
        texts = [request.input] if isinstance(request.input, str) else request.input
        if not all(isinstance(text, str) for text in texts):
            raise errors.InvalidRequestError("this model embeds text only, not token ids", param="input")
        batches = [texts[i : i + EMBED_BATCH] for i in range(0, len(texts), EMBED_BATCH)]
        results = await asyncio.gather(*(self._embed_batch(batch, request.dimensions) for batch in batches))
        vectors = [vector for result in results for vector in result]
        data = [Embedding(i, _encode_vector(v, request.encoding_format)) for i, v in enumerate(vectors)]
        # Gemini reports no token counts for embeddings: about four characters a token, as OpenAI's rule of
        # thumb, keeps budgets and rate limits roughly right.
        tokens = sum(math.ceil(len(str(text)) / 4) for text in texts)
        return Reply(_encoder.encode(EmbeddingResponse(data, self._model, EmbeddingUsage(tokens, tokens))))

    async def _embed_batch(self, texts: list[Any], dimensions: int | None) -> list[list[float]]:
        requests = []
        for text in texts:
            item: dict[str, Any] = {"model": f"models/{self._model}", "content": {"parts": [{"text": text}]}}
            if dimensions is not None:
                item["outputDimensionality"] = dimensions
            requests.append(item)
        body = _encoder.encode({"requests": requests})
        response = await self._transport.post(
            self._embed_url, body, self._headers, self._timeouts, self._max_connections
        )
        if response.status >= 400:
            raise upstream_error(response.status, response.headers, response.body, self._secret)
        try:
            embeddings = msgspec.json.decode(response.body, type=_Embeddings).embeddings
        except msgspec.DecodeError:
            raise errors.UpstreamError("upstream gemini sent an unreadable embeddings response") from None
        if len(embeddings) != len(texts):
            raise errors.UpstreamError("upstream gemini returned a different number of embeddings than inputs")
        return [embedding.values for embedding in embeddings]


class _Values(msgspec.Struct):
    values: list[float] = []


class _Embeddings(msgspec.Struct):
    embeddings: list[_Values] = []


def _encode_vector(vector: list[float], encoding: str | None) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


class GeminiStream:
    """Relays a Gemini SSE stream as batches of OpenAI chunk payloads, one batch per network read."""

    __slots__ = ("_stream", "_translator", "_secret", "upstream_request_id")

    def __init__(self, stream: UpstreamStream, model: str, secret: str) -> None:
        self._stream = stream
        self._translator = StreamTranslator(model)
        self._secret = secret
        self.upstream_request_id: str | None = None

    async def batches(self) -> AsyncIterator[list[bytes]]:
        decoder, translator = SSEDecoder(), self._translator
        try:
            async for chunk in self._stream.chunks():
                batch, broken = self._translate(decoder.feed(chunk))
                if batch:
                    yield batch
                if broken is not None:
                    raise broken
            batch, broken = self._translate(decoder.flush())
            if broken is None and (decoder.pending or not translator.complete):
                broken = errors.UpstreamError("upstream gemini ended the stream before its final event")
            if broken is not None:
                if batch:
                    yield batch
                raise broken
            yield batch + translator.final()
        finally:
            await self._stream.aclose()

    def _translate(self, events: list[SSEEvent]) -> tuple[list[bytes], errors.SwitchyardError | None]:
        """The chunks of a read's events, and the error that ends the stream after them (if any): the good
        chunks before a broken event still reach the client."""
        batch: list[bytes] = []
        for event in events:
            if not event.data:
                continue
            try:
                decoded = response_decoder.decode(event.data)
            except msgspec.DecodeError:
                return batch, errors.UpstreamError("upstream gemini sent a malformed stream event")
            if decoded.error is not None:
                return batch, _mapped(decoded.error, None, {}, self._secret)
            try:
                batch += self._translator.feed(decoded)
            except errors.SwitchyardError as exc:
                return batch, exc
            self.upstream_request_id = self._translator.response_id
        return batch, None

    async def aclose(self) -> None:
        await self._stream.aclose()


# --- errors --------------------------------------------------------------------------------------------------

_CONTEXT_WINDOW = re.compile(r"input token count.*exceeds|exceeds the maximum number of tokens", re.IGNORECASE)
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def upstream_error(status: int, headers: Mapping[str, str], body: bytes, secret: str) -> errors.SwitchyardError:
    """Map Google's ``{"error": {"code", "message", "status", "details"}}`` onto the error tree."""
    try:
        parsed: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        parsed = None
    if isinstance(parsed, list) and parsed:  # streaming endpoints may wrap the error in an array
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, dict) else None
    return _mapped(error if isinstance(error, dict) else {}, status, headers, secret)


def _mapped(
    error: dict[str, Any], http_status: int | None, headers: Mapping[str, str], secret: str
) -> errors.SwitchyardError:
    """``http_status`` is None for an error sent inside a stream: the error's own code stands in for it."""
    code = error.get("code")
    status = http_status or (code if isinstance(code, int) else 500)
    google_status = str(error.get("status") or "")
    details = [d for d in error.get("details") or () if isinstance(d, dict)]
    reasons = {str(d.get("reason")) for d in details if d.get("@type") == _ERROR_INFO}
    text = scrub(str(error.get("message") or ""), secret)
    label = f"{status} {google_status}".strip()
    message = f"upstream gemini returned {label}" + (f": {text}" if text else "")
    if (
        "API_KEY_INVALID" in reasons
        or google_status in ("UNAUTHENTICATED", "PERMISSION_DENIED")
        or status in (401, 403)
    ):
        # Google's wording may quote the key: the client only needs to know whose credentials failed.
        return errors.UpstreamAuthError(f"upstream gemini rejected the gateway's credentials ({label})")
    if google_status == "FAILED_PRECONDITION":
        # Billing or region not set up for this key: the deployment's account, not the request, is at fault.
        return errors.UpstreamAuthError(message)
    if status == 429 or google_status == "RESOURCE_EXHAUSTED":
        return errors.UpstreamRateLimitError(message, retry_after=retry_after_seconds(headers) or _retry_delay(details))
    if status == 400 and _CONTEXT_WINDOW.search(text):
        return errors.ContextWindowExceededError(message, param="messages")
    if status == 504 or google_status == "DEADLINE_EXCEEDED":
        return errors.UpstreamTimeoutError(message)
    if status == 503 or google_status == "UNAVAILABLE":
        return errors.UpstreamUnavailableError(message, retry_after=retry_after_seconds(headers))
    if status in (400, 413) or google_status == "INVALID_ARGUMENT":
        return errors.UpstreamBadRequestError(message)
    # 404 NOT_FOUND here means the deployment names a model the key cannot use: a configuration problem
    # another deployment may not have, so it stays a fallback-able upstream error.
    return errors.UpstreamError(message, retry_after=retry_after_seconds(headers))


def _retry_delay(details: list[dict[str, Any]]) -> float | None:
    for detail in details:
        if detail.get("@type") == _RETRY_INFO:
            delay = str(detail.get("retryDelay") or "")
            try:
                return max(0.0, float(delay.removesuffix("s")))
            except ValueError:
                return None
    return None
