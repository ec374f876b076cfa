"""Operator views: GET /admin/status (deployments, breakers, load) and GET /admin/summary (recent traffic).

Both are read-only: admin and viewer principals (or the master key) may call them.
"""

from __future__ import annotations

import time

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard import __version__
from switchyard.auth.roles import admin_caller
from switchyard.errors import InvalidRequestError, PermissionDeniedError
from switchyard.observability.summary import KEEP_S, RecentTraffic, Summary
from switchyard.routing.executor import Executor
from switchyard.server.routes.admin import admin_endpoint, json_response
from switchyard.server.routes.admin_openapi import Query, RouteDoc
from switchyard.server.routes.common import Services, new_context
from switchyard.types.identity import Principal

_READERS = frozenset({"admin", "viewer"})


class DeploymentStatus(msgspec.Struct):
    id: str
    provider: str
    model: str
    breaker: str
    available: bool
    in_flight: int
    latency_ms: float | None
    ttft_ms: float | None
    consecutive_failures: int
    cooldown_s: float
    attempts_in_window: int
    failures_in_window: int


class GroupStatus(msgspec.Struct):
    name: str
    deployments: list[DeploymentStatus]


class GatewayStatus(msgspec.Struct):
    status: str
    version: str
    uptime_s: float
    log_queue_depth: int
    model_groups: list[GroupStatus]


def require_operator(caller: Principal) -> None:
    """Deployment health is not a team's business: admins and viewers only."""
    if caller.role not in _READERS:
        raise PermissionDeniedError("This endpoint needs the master key, an admin key or a viewer key.")


async def operator_from(request: Request, services: Services) -> Principal:
    """The caller of a non-admin route held to the admin rules (``GET /metrics``)."""
    ctx = new_context(request, request.url.path, services.ids)
    authenticator = services.authenticator
    principal = await authenticator.authenticate(ctx.api_key) if authenticator is not None else None
    caller = admin_caller(principal)
    require_operator(caller)
    return caller


def deployment_status(executor: Executor) -> list[GroupStatus]:
    health = executor.health
    now = time.monotonic()
    groups = []
    for name, group in executor.groups.items():
        rows = []
        for target in group.targets:
            h = health.record(target.id)
            attempts, failures, _ = h.outcomes.totals(now)
            rows.append(
                DeploymentStatus(
                    id=target.id,
                    provider=target.config.provider,
                    model=target.config.model,
                    breaker=h.state.value,
                    available=health.available(target.id),
                    in_flight=h.in_flight,
                    latency_ms=None if h.latency_ms is None else round(h.latency_ms, 2),
                    ttft_ms=None if h.ttft_ms is None else round(h.ttft_ms, 2),
                    consecutive_failures=h.consecutive_failures,
                    cooldown_s=round(health.seconds_until_available(target.id), 3),
                    attempts_in_window=attempts,
                    failures_in_window=failures,
                )
            )
        groups.append(GroupStatus(name, rows))
    return groups


def routes(services: Services, recent: RecentTraffic) -> tuple[list[Route], list[RouteDoc]]:
    started = time.monotonic()

    async def status(request: Request, caller: Principal) -> Response:
        require_operator(caller)
        body = GatewayStatus(
            status="ready" if services.ready else "starting",
            version=__version__,
            uptime_s=round(time.monotonic() - started, 1),
            log_queue_depth=services.log_sink.depth,
            model_groups=deployment_status(services.pipeline.executor),
        )
        return json_response(body)

    async def summary(request: Request, caller: Principal) -> Response:
        require_operator(caller)
        return json_response(recent.summary(_window(request.query_params.get("window"))))

    mounted = [
        Route("/admin/status", admin_endpoint(services, status), methods=["GET"]),
        Route("/admin/summary", admin_endpoint(services, summary), methods=["GET"]),
    ]
    return mounted, DOCS


DOCS = [
    RouteDoc(
        "GET",
        "/admin/status",
        "Deployments with breaker state, load and latency (admin, viewer)",
        GatewayStatus,
        tag="status",
    ),
    RouteDoc(
        "GET",
        "/admin/summary",
        "Recent traffic of this instance in 5 s buckets (admin, viewer)",
        Summary,
        query=(Query("window", "seconds to cover, 1-3600 (default 900)", "integer"),),
        tag="status",
    ),
]


def _window(raw: str | None) -> int:
    if raw is None:
        return 900
    try:
        window = int(raw)
    except ValueError:
        raise InvalidRequestError("window must be a number of seconds", param="window") from None
    if not 0 < window <= KEEP_S:
        raise InvalidRequestError(f"window must be between 1 and {KEEP_S} seconds", param="window")
    return window
