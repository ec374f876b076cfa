"""GET /metrics: the Prometheus text format, behind the master key unless ``observability.metrics_public``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from switchyard.errors import SwitchyardError
from switchyard.observability.build import Observability
from switchyard.observability.metrics import CONTENT_TYPE, GatewayMetrics
from switchyard.server.envelope import error_response
from switchyard.server.routes.admin_status import operator_from
from switchyard.server.routes.common import Services

if TYPE_CHECKING:
    from switchyard.observability.tracing import Tracing


def routes(services: Services, metrics: GatewayMetrics) -> list[Route]:
    public = services.config.observability.metrics_public

    async def scrape(request: Request) -> Response:
        if not public:
            try:
                await operator_from(request, services)
            except SwitchyardError as exc:
                return error_response(exc)
        return Response(metrics.render(), 200, media_type=CONTENT_TYPE)

    return [Route("/metrics", scrape, methods=["GET"])]


def middleware(observe: Observability) -> list[Middleware]:
    """ASGI middleware the app needs for observability: the tracing one, when tracing is on."""
    tracing = observe.tracing
    if tracing is None:
        return []
    return [Middleware(_Traced, tracing=tracing)]


class _Traced:
    def __init__(self, app: ASGIApp, tracing: Tracing) -> None:
        self._app = tracing.middleware(app)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._app(scope, receive, send)
