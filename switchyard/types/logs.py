"""The request-log record (one per request, written off the request path) and the shapes of log queries."""

from __future__ import annotations

from typing import Literal

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
    # Unique per record, made by the gateway: a client may reuse x-request-id, and a batch replayed after a
    # failed write whose commit did succeed must not be stored twice (stores insert "if absent" on it).
    log_id: str | None = None
    key_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    # "hit", "miss", "semantic-hit", "bypass"; None when no cache is configured.
    cache_status: str | None = None
    # A short JSON string from the router explaining its choice (which member, why).
    decision: str | None = None
    # Only with ``server.log_bodies: true``, redacted: the request body and the answer, as JSON text.
    request_body: str | None = None
    response_body: str | None = None


GroupBy = Literal["key", "team", "user", "model", "deployment", "day"]


class LogQuery(msgspec.Struct, frozen=True, omit_defaults=True):
    """Filters for listing logs, newest first. ``status`` is a code, or "ok" (< 400) / "error" (>= 400)."""

    key_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    model: str | None = None
    deployment: str | None = None
    status: int | Literal["ok", "error"] | None = None
    since: float | None = None
    until: float | None = None
    limit: int = 100
    # Opaque to callers: the (ts, log_id) of the last record of the previous page.
    after: tuple[float, str] | None = None


class LogPage(msgspec.Struct, frozen=True):
    data: list[RequestLog]
    next: tuple[float, str] | None = None


class SpendQuery(msgspec.Struct, frozen=True, omit_defaults=True):
    group_by: GroupBy
    since: float | None = None
    until: float | None = None
    # A team admin's view: only this team's requests.
    team_id: str | None = None


class SpendRow(msgspec.Struct, frozen=True):
    group: str | None
    requests: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
