"""The operator dashboard at /ui: a server-rendered shell, and static JS/CSS shipped in the package.

The shell holds no data; the page signs in with a key and reads the admin API like any other client, so the
dashboard can show nothing the key could not fetch itself. Charts are uPlot, vendored (nothing is fetched from
the internet at run time).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from switchyard import __version__
from switchyard.server.routes.common import Services

UI_DIR = Path(__file__).resolve().parent.parent / "ui"
# Scripts only from here; uPlot sets element styles, hence inline styles. No framing (clickjacking).
_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


def shell(services: Services) -> bytes:
    """The page with what every view needs to build its filters: version, model groups, deployment ids."""
    executor = services.pipeline.executor
    gateway = {
        "version": __version__,
        "groups": sorted(services.config.model_groups),
        "deployments": sorted(t.id for g in executor.groups.values() for t in g.targets),
    }
    # Inside <script type="application/json">: "<" escaped so no value can close the element.
    data = json.dumps(gateway).replace("<", "\\u003c")
    template = (UI_DIR / "index.html").read_text(encoding="utf-8")
    return template.replace("{version}", html.escape(__version__)).replace("{gateway_json}", data).encode()


def routes(services: Services) -> list[BaseRoute]:
    if not services.config.observability.dashboard:
        return []
    page = shell(services)

    async def index(request: Request) -> Response:
        return Response(page, media_type="text/html; charset=utf-8", headers=_HEADERS)

    async def redirect(request: Request) -> Response:
        return RedirectResponse("/ui/", status_code=308)

    return [
        Route("/ui", redirect, methods=["GET"]),
        Route("/ui/", index, methods=["GET"]),
        Mount("/ui/static", app=StaticFiles(directory=UI_DIR / "static"), name="ui-static"),
    ]
