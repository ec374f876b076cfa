"""Everything known about one request as it moves through the pipeline."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from switchyard.limits.protocols import Reservation
from switchyard.routing.trace import Trace
from switchyard.types.chat import ChatRequest, Usage
from switchyard.types.embeddings import EmbeddingRequest
from switchyard.types.identity import Principal

if TYPE_CHECKING:
    from switchyard.routing.router_group import Decision


class StreamLog:
    """The payloads of a streamed answer, kept for the request log up to a size cap (the log truncates anyway)."""

    __slots__ = ("payloads", "size", "cap", "native")

    def __init__(self, cap: int) -> None:
        self.payloads: list[bytes] = []
        self.size = 0
        self.cap = cap
        self.native = False  # frames in the client's own API rather than OpenAI chunk JSON

    def add(self, payload: bytes) -> None:
        if self.size < self.cap:
            self.payloads.append(payload)
            self.size += len(payload)

    def body(self) -> bytes:
        """OpenAI chunks as one JSON array; native frames as the text the client received."""
        if self.native:
            return b"".join(self.payloads)
        return b"[" + b",".join(self.payloads) + b"]"


class RequestContext:
    __slots__ = (
        "request_id",
        "endpoint",
        "api_key",
        "principal",
        "started",
        "started_wall",
        "model_group",
        "stream",
        "trace",
        "usage",
        "status",
        "error_code",
        "ttft_ms",
        "upstream_request_id",
        "cost_usd",
        "finished",
        "cache_status",
        "extra_headers",
        "decision",
        "cache_headers",
        "request",
        "reservation",
        "reply_body",
        "stream_log",
    )

    def __init__(self, request_id: str, endpoint: str, api_key: str | None) -> None:
        self.request_id = request_id
        self.endpoint = endpoint
        self.api_key = api_key
        # Set by authentication; None when the gateway runs without keys.
        self.principal: Principal | None = None
        self.started = time.perf_counter()
        self.started_wall = time.time()
        self.model_group: str | None = None
        self.stream = False
        self.trace = Trace()
        self.usage: Usage | None = None
        self.status = 200
        self.error_code: str | None = None
        self.ttft_ms: float | None = None
        self.upstream_request_id: str | None = None
        self.cost_usd: float | None = None
        # Set once the after-stages have run, so a request is logged exactly once.
        self.finished = False
        # "hit", "miss", "semantic-hit", "bypass"; None when no cache is configured.
        self.cache_status: str | None = None
        # Headers a stage wants on the response (rate-limit state, router decision).
        self.extra_headers: dict[str, str] | None = None
        # A router group's decision (the log stores it as JSON, metrics count it); None for plain groups.
        self.decision: Decision | None = None
        # The caller's cache controls as sent (Cache-Control, x-switchyard-cache-*), read by the cache.
        self.cache_headers: dict[str, str] | None = None
        # The canonical request once decoded (the pipeline sets it), for stages that size it (limits).
        self.request: ChatRequest | EmbeddingRequest | None = None
        # What the limits stage reserved, settled in its after(); None when nothing was reserved.
        self.reservation: Reservation | None = None
        # A complete (non-streamed) answer's body, for the request log when bodies are logged.
        self.reply_body: bytes | None = None
        # A streamed answer's payloads as relayed, when bodies are logged (the log stage asks for them).
        self.stream_log: StreamLog | None = None

    def elapsed_ms(self) -> float:
        return (time.perf_counter() - self.started) * 1000

    def headers(self) -> dict[str, str]:
        """Response headers that explain what the gateway did."""
        headers = {"x-request-id": self.request_id}
        trace = self.trace
        if trace.attempts:
            headers["x-switchyard-attempts"] = str(len(trace.attempts))
            headers["x-switchyard-trace"] = trace.summary()
        if trace.deployment:
            headers["x-switchyard-deployment"] = trace.deployment
        if self.cost_usd is not None:
            headers["x-switchyard-cost-usd"] = f"{self.cost_usd:.8f}"
        if self.ttft_ms is not None:
            headers["x-switchyard-ttft-ms"] = f"{self.ttft_ms:.1f}"
        if trace.fallbacks:
            headers["x-switchyard-fallbacks"] = ",".join(trace.fallbacks)
        if self.cache_status is not None:
            headers["x-switchyard-cache"] = self.cache_status
        if self.extra_headers:
            headers.update(self.extra_headers)
        return headers
