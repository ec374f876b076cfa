"""The adapter protocol every provider implements, and helpers they share.

An adapter is built once per deployment at start-up (URLs, headers and timeouts computed then) and is
called concurrently. Chat results are always in OpenAI's wire format: plain responses as one JSON body,
streams as batches of ``chat.completion.chunk`` JSON payloads (one batch per network read, so a relay can
write them in one go). Adapters raise only ``switchyard.errors`` types.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time
from typing import Protocol

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import InvalidRequestError
from switchyard.transport import HttpTransport, Timeouts
from switchyard.transport.guarded import GuardedFetcher
from switchyard.types.chat import ChatRequest, Usage
from switchyard.types.embeddings import EmbeddingRequest


@dataclass(slots=True)
class ChatCall:
    request: ChatRequest
    # The client's JSON body as received, so a same-format upstream can get it without re-encoding.
    body: bytes


@dataclass(slots=True)
class EmbedCall:
    request: EmbeddingRequest
    body: bytes


@dataclass(slots=True)
class Reply:
    """A complete (non-streamed) answer in OpenAI's wire format."""

    body: bytes
    upstream_request_id: str | None = None
    # Filled in by the executor, which reads it while checking the body is JSON at all.
    usage: Usage | None = None


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
