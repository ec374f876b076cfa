"""The adapter protocol every provider implements, and helpers they share.

An adapter is built once per deployment at start-up (URLs, headers and timeouts computed then) and is
called concurrently. Chat results are in OpenAI's wire format: plain responses as one JSON body, streams as
batches of ``chat.completion.chunk`` JSON payloads (one batch per network read, so a relay can write them in
one go). Adapters raise only ``switchyard.errors`` types.

Same-format pass-through: an inbound route that decoded a body written for another API (say Anthropic's
Messages API) keeps that body on the call (``ChatCall.native``). An adapter whose upstream speaks that API opts
in with ``native_formats`` and the two ``chat_native*`` methods (``NativeProvider``): it forwards the body with
only the model renamed, and answers in that API's own format (``Reply.format``, ``NativeStream``), plus the
usage in canonical form so cost and logs stay right. Format names name an API, never a provider.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from typing import Protocol, cast

import msgspec

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import InvalidRequestError
from switchyard.transport import HttpTransport, Timeouts
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types.chat import ChatRequest, Usage
from switchyard.types.embeddings import EmbeddingRequest

# Native formats: the client-facing APIs whose bodies can pass through to an upstream speaking the same API.
ANTHROPIC_MESSAGES = "anthropic.messages"


@dataclass(frozen=True, slots=True)
class NativeBody:
    """A client's body exactly as received, and the API it is written for (``format``, e.g. ANTHROPIC_MESSAGES)."""

    format: str
    body: bytes
    # Headers of that API the client sent and an upstream speaking it should see too (lower-case names; the
    # route chooses which, e.g. a beta-features header): the body alone can depend on them.
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class ChatCall:
    request: ChatRequest
    # The JSON body in OpenAI's format (the client's own when it spoke OpenAI), so an OpenAI-compatible
    # upstream can get it without re-encoding.
    body: bytes
    # Set by routes for other APIs: adapters that speak ``native.format`` may forward it instead (see above).
    native: NativeBody | None = None


@dataclass(slots=True)
class EmbedCall:
    request: EmbeddingRequest
    body: bytes


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) answer: in OpenAI's wire format, or in the native format ``format`` names."""

    body: bytes
    upstream_request_id: str | None = None
    # Filled in by the executor, which reads it while checking the body is JSON at all; for a native answer,
    # by the adapter (the executor cannot read that format).
    usage: Usage | None = None
    format: str | None = None


class ChunkStream(Protocol):
    """An open stream of OpenAI chunk payloads (without SSE framing and without ``[DONE]``).

    Iteration ends normally only when the upstream finished properly; a cut or broken stream raises.
    """

    upstream_request_id: str | None

    def batches(self) -> AsyncIterator[list[bytes]]: ...

    async def aclose(self) -> None: ...


class Provider(Protocol):
    async def chat(self, call: ChatCall) -> Reply: ...

    async def chat_stream(self, call: ChatCall) -> ChunkStream: ...

    async def embed(self, call: EmbedCall) -> Reply: ...


@dataclass(frozen=True, slots=True)
class EventProbe:
    """What the gateway needs from one event of a native stream."""

    # The event carries content: once one arrives the stream is committed and failover is over.
    meaningful: bool
    # The stream's usage so far (cumulative), when this event reported some.
    usage: Usage | None = None


class NativeStream(Protocol):
    """An open stream in a native format: batches of complete SSE frames, each ``event:`` line included, ready to
    be written to a client of that format as they are. Iteration ends normally only after the format's own end of
    stream; a cut or broken stream raises.
    """

    upstream_request_id: str | None
    format: str

    def batches(self) -> AsyncIterator[list[bytes]]: ...

    def probe(self, frame: bytes) -> EventProbe:
        """Read one frame (in order, once or more: it must be idempotent); an in-band error raises its typed error,
        a malformed frame an ``UpstreamError``."""
        ...

    async def aclose(self) -> None: ...


class NativeProvider(Protocol):
    """An adapter that can forward ``ChatCall.native`` bodies in ``native_formats``: only the model renamed, the
    answer in the same format, the upstream's errors mapped to the error tree as for translated calls."""

    native_formats: frozenset[str]

    async def chat_native(self, call: ChatCall) -> Reply: ...

    async def chat_native_stream(self, call: ChatCall) -> NativeStream: ...


_NO_FORMATS: frozenset[str] = frozenset()


def native_provider(provider: Provider, call: ChatCall) -> NativeProvider | None:
    """``provider`` as a native one when ``call`` carries a body in a format it speaks, else None (translate)."""
    native = call.native
    if native is None or native.format not in getattr(provider, "native_formats", _NO_FORMATS):
        return None
    return cast(NativeProvider, provider)


@dataclass(frozen=True, slots=True)
class ProviderContext:
    """What every adapter may use, shared by all of them: built once by the composition root."""

    transport: HttpTransport
    router: RouterSettings
    images: GuardedFetcher
    image_max_bytes: int


class ProviderFactory(Protocol):
    def __call__(self, deployment: Deployment, context: ProviderContext) -> Provider: ...


class NoEmbeddings:
    """Mixin for providers without an embeddings endpoint: a clear 400, not a 500."""

    async def embed(self, call: EmbedCall) -> Reply:
        raise InvalidRequestError(
            f"model group {call.request.model!r} is served by a provider without embeddings", param="model"
        )


def timeouts_for(deployment: Deployment, router: RouterSettings) -> Timeouts:
    return Timeouts(
        total=deployment.timeout_s or router.timeout_s,
        connect=deployment.connect_timeout_s or router.connect_timeout_s,
    )


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms``, ``retry-after`` (seconds or HTTP date) or reset headers."""
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                return max(0.0, parsedate_to_datetime(value).timestamp() - time())
            except (TypeError, ValueError):
                pass
    # OpenAI-style reset durations such as "1s", "6m0s", "20ms".
    for name in ("x-ratelimit-reset-requests", "x-ratelimit-reset-tokens"):
        value = headers.get(name)
        if value:
            parts = _DURATION.findall(value)
            if parts:
                return sum(float(n) * _UNIT_SECONDS[u] for n, u in parts)
    return None


def scrub(text: str, *secrets: str | None) -> str:
    """Remove secrets from text that may reach a client or a log."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "[redacted]")
    return text


class _Model(msgspec.Struct):
    model: str | None = None


_model_decoder = msgspec.json.Decoder(_Model)
_MODEL_KEY = re.compile(rb'"model"\s*:\s*')


def with_model(body: bytes, model: str) -> bytes:
    """The JSON object ``body`` with its top-level ``model`` set to ``model`` and every other byte as it was.

    The common case splices the new value in where the old one stands; a ``"model"`` member nested deeper (in a
    tool's input, say) is told apart by decoding the result. Only a body whose top-level key or value is written
    with escapes falls back to re-encoding the top level, which still keeps every other member's value verbatim.
    """
    try:
        current = _model_decoder.decode(body).model
    except msgspec.DecodeError:
        raise InvalidRequestError("the request body is not a JSON object with a string model") from None
    if current == model:
        return body
    if current is not None:
        old, new = msgspec.json.encode(current), msgspec.json.encode(model)
        for match in _MODEL_KEY.finditer(body):
            start = match.end()
            if body.startswith(old, start):
                spliced = body[:start] + new + body[start + len(old) :]
                try:
                    if _model_decoder.decode(spliced).model == model:
                        return spliced
                except msgspec.DecodeError:
                    continue
    members = msgspec.json.decode(body, type=dict[str, msgspec.Raw])
    members["model"] = msgspec.Raw(msgspec.json.encode(model))
    return msgspec.json.encode(members)
