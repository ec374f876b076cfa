"""DELETE /admin/cache: an operator purges every stored answer, for example after changing a model's prompt or
a deployment whose old answers should no longer be served. Admins only."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.auth.roles import require_admin
from switchyard.cache.protocols import CacheUnavailable
from switchyard.errors import StoreUnavailableError
from switchyard.server.routes.admin import admin_endpoint, json_response
from switchyard.server.routes.admin_openapi import RouteDoc
from switchyard.server.routes.common import Services
from switchyard.types.identity import Principal


class CachePurged(msgspec.Struct):
    enabled: bool
    deleted: int


def routes(services: Services) -> tuple[list[Route], list[RouteDoc]]:
    async def purge(request: Request, caller: Principal) -> Response:
        require_admin(caller)
        cache = services.pipeline.cache
        if cache is None:
            return json_response(CachePurged(enabled=False, deleted=0))
        try:
            deleted = await cache.clear()
        except CacheUnavailable:
            raise StoreUnavailableError("The cache store did not answer; nothing was purged for sure.") from None
        return json_response(CachePurged(enabled=True, deleted=deleted))

    mounted = [Route("/admin/cache", admin_endpoint(services, purge), methods=["DELETE"])]
    docs = [RouteDoc("DELETE", "/admin/cache", "Purge every cached answer (admin)", CachePurged, tag="cache")]
    return mounted, docs
