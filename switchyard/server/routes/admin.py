"""The admin API under /admin: authentication of the caller, JSON in and out, and the OpenAPI document.

Route modules (keys, teams and users here; logs and spend elsewhere) write handlers that take the request and
the authenticated caller, wrap them with ``admin_endpoint``, and describe each route with a ``RouteDoc`` so
``GET /admin/openapi.json`` documents it.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard import __version__
from switchyard.auth.roles import admin_caller
from switchyard.errors import InvalidRequestError, SwitchyardError
from switchyard.server.decode import decode, read_body
from switchyard.server.envelope import error_response
from switchyard.server.routes.admin_openapi import RouteDoc, openapi
from switchyard.server.routes.common import Services, new_context
from switchyard.types.identity import Principal

T = TypeVar("T")
Handler = Callable[[Request, Principal], Awaitable[Response]]

_JSON = "application/json"
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_encode = msgspec.json.Encoder().encode
# Admin bodies are small; a tight limit keeps a fuzzer (or worse) from making the gateway buffer megabytes.
_MAX_BODY = 64 * 1024


def admin_endpoint(services: Services, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """Authenticate (master key or a key whose role may use the admin API), run, answer errors as envelopes."""

    async def endpoint(request: Request) -> Response:
        ctx = new_context(request, request.url.path, services.ids)
        try:
            authenticator = services.authenticator
            principal = await authenticator.authenticate(ctx.api_key) if authenticator is not None else None
            response = await handler(request, admin_caller(principal))
        except SwitchyardError as exc:
            return error_response(exc, {"x-request-id": ctx.request_id})
        response.headers["x-request-id"] = ctx.request_id
        return response

    return endpoint


def json_response(value: Any, status: int = 200) -> Response:
    return Response(_encode(value), status, media_type=_JSON)


async def read_json(request: Request, decoder: msgspec.json.Decoder[T]) -> T:
    try:
        return decode(await read_body(request, _MAX_BODY), decoder)
    except InvalidRequestError as exc:
        unknown = _UNKNOWN_FIELD.search(exc.message)
        if exc.param is None and unknown:
            exc.param = unknown.group(1)  # name the field a typo introduced
        raise


def paging(request: Request) -> tuple[int, str | None]:
    """``limit`` (1-200, default 50) and ``cursor`` from the query string."""
    params = request.query_params
    raw = params.get("limit", "50")
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 200:  # "²".isdigit(), but int() refuses it
        raise InvalidRequestError("limit must be an integer from 1 to 200", param="limit")
    cursor = params.get("cursor") or None
    if cursor is not None and (len(cursor) > 100 or not cursor.isascii()):
        raise InvalidRequestError("cursor is not one this API returned", param="cursor")
    return int(raw), cursor


def query_id(request: Request, name: str) -> str | None:
    value = request.query_params.get(name) or None
    if value is not None and len(value) > 100:
        raise InvalidRequestError(f"{name} is too long", param=name)
    return value


def routes(services: Services, sections: Sequence[tuple[list[Route], list[RouteDoc]]]) -> list[Route]:
    """Every admin section's routes, and ``GET /admin/openapi.json`` describing all of them."""
    docs = [doc for _, section_docs in sections for doc in section_docs]
    docs.append(RouteDoc("GET", "/admin/openapi.json", "This document (no key needed)"))
    body = _encode(openapi(docs, __version__))

    async def openapi_json(request: Request) -> Response:
        return Response(body, 200, media_type=_JSON)

    mounted = [route for section_routes, _ in sections for route in section_routes]
    return [*mounted, Route("/admin/openapi.json", openapi_json, methods=["GET"])]
