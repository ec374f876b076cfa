"""The API's fixed paths, called without Starlette's routing and middleware layers.

A request for one of them (chat completions, embeddings, messages, ...) is found by one dict lookup on
(method, path) and handed to the same handler the Starlette route has; everything else (admin, dashboard,
paths with parameters, wrong methods, 404s) goes to the Starlette app. Starlette's error and exception
middleware, router and request wrapper cost about 30 µs per request here, close to a tenth of the
gateway's CPU per call (docs/performance.md).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

Endpoint = Callable[[Request], Awaitable[Callable[[Scope, Receive, Send], Awaitable[None]]]]
OnError = Callable[[Request, Exception], Awaitable[Callable[[Scope, Receive, Send], Awaitable[None]]]]


class FastPaths:
    def __init__(self, app: ASGIApp, routes: Iterable[BaseRoute], on_error: OnError) -> None:
        self.inner = app
        self._on_error = on_error
        self._endpoints: dict[tuple[str, str], Endpoint] = {}
        for route in routes:
            if isinstance(route, Route) and "{" not in route.path and route.methods:
                for method in route.methods:
                    self._endpoints[(method, route.path)] = route.endpoint

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # Mounted or behind a root_path, the route path is not scope["path"]: Starlette works it out.
        if scope["type"] == "http" and not scope.get("root_path"):
            endpoint = self._endpoints.get((scope["method"], scope["path"]))
            if endpoint is not None:
                request = Request(scope, receive, send)
                try:
                    response = await endpoint(request)
                except Exception as exc:  # noqa: BLE001 - a bug of ours still gets the error envelope
                    response = await self._on_error(request, exc)
                await response(scope, receive, send)
                return
        await self.inner(scope, receive, send)
