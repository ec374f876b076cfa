"""The request-log record: one per request, written off the request path."""

from __future__ import annotations

import msgspec


class RequestLog(msgspec.Struct, omit_defaults=True):
    request_id: str
    ts: float
    endpoint: str
    status: int
    latency_ms: float
    model_group: str | None = None
    deployment: str | None = None
    stream: bool = False
    error_code: str | None = None
    ttft_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    total_tokens: int | None = None
    attempts: int = 0
    # JSON list of the executor's attempts: deployment, milliseconds, error code.
    trace: str | None = None
    upstream_request_id: str | None = None
    cost_usd: float | None = None
