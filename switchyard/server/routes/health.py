"""Liveness (the process answers) and readiness (start-up finished, able to serve)."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.server.routes.common import Services


def routes(services: Services) -> list[Route]:
    async def liveness(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    async def readiness(request: Request) -> Response:
        body = {
            "status": "ready" if services.ready else "starting",
            "model_groups": len(services.config.model_groups),
            "log_queue_depth": services.log_sink.depth,
        }
        return Response(msgspec.json.encode(body), 200 if services.ready else 503, media_type="application/json")

    return [
        Route("/health/liveness", liveness, methods=["GET"]),
        Route("/health/readiness", readiness, methods=["GET"]),
        Route("/health", readiness, methods=["GET"]),
    ]
