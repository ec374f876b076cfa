"""GET /admin/routers: each router group's members, calibration, threshold, live windows and decisions.

Read-only, like /admin/status: the master key, admin and viewer keys. The views are computed when asked
(``RouterGroup.view``), from this process's routers: with several workers, each answers for itself.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.routing.snapshot import RoutersView
from switchyard.server.routes.admin import admin_endpoint, json_response
from switchyard.server.routes.admin_openapi import RouteDoc
from switchyard.server.routes.admin_status import require_operator
from switchyard.server.routes.common import Services
from switchyard.types.identity import Principal


def routers_view(services: Services) -> RoutersView:
    return RoutersView([router.view() for router in services.pipeline.routers.values()])


def routes(services: Services) -> tuple[list[Route], list[RouteDoc]]:
    async def routers(request: Request, caller: Principal) -> Response:
        require_operator(caller)
        return json_response(routers_view(services))

    return [Route("/admin/routers", admin_endpoint(services, routers), methods=["GET"])], DOCS


DOCS = [
    RouteDoc(
        "GET",
        "/admin/routers",
        "Router groups: members, threshold and its source, live windows, realised strong share, decisions "
        "(admin, viewer)",
        RoutersView,
        tag="status",
    ),
]
