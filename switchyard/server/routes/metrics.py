"""GET /metrics: the Prometheus text format, behind the master key unless ``observability.metrics_public``."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp

from switchyard.errors import SwitchyardError
from switchyard.observability.build import Observability
from switchyard.observability.metrics import CONTENT_TYPE, GatewayMetrics
from switchyard.server.envelope import error_response
from switchyard.server.routes.admin_status import operator_from
from switchyard.server.routes.common import Services


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


def traced(app: ASGIApp, observe: Observability) -> ASGIApp:
    """The app behind the tracing middleware when tracing is on; the app itself otherwise."""
    tracing = observe.tracing
    return app if tracing is None else tracing.middleware(app)
