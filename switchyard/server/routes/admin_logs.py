"""/admin/logs and /admin/spend: read the request log, filtered and paged, and spend rolled up.

Readers are admins and viewers (everything) and team admins (their own team only: the team filter is forced,
and another team's record is reported as not found). Reads run off the event loop: SQLite through a thread,
PostgreSQL natively. A store that does not answer is a 503 ``store_unavailable``, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import logging
import math
from collections.abc import Awaitable
from typing import Literal, TypeVar, cast, get_args

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.auth.roles import require_reader
from switchyard.errors import InvalidRequestError, NotFoundError, StoreUnavailableError, SwitchyardError
from switchyard.server.routes.admin import Handler, admin_endpoint, json_response, paging, query_id
from switchyard.server.routes.admin_openapi import PAGING, Page, Query, RouteDoc
from switchyard.server.routes.common import Services
from switchyard.storage.logs_protocol import LogBackend
from switchyard.types.identity import Principal
from switchyard.types.logs import GroupBy, LogQuery, RequestLog, SpendQuery, SpendRow

log = logging.getLogger("switchyard.admin")

T = TypeVar("T")
_GROUPS: tuple[str, ...] = get_args(GroupBy)
_cursor_encode = msgspec.json.Encoder().encode
_cursor_decode = msgspec.json.Decoder(tuple[float, str]).decode


class Spend(msgspec.Struct):
    """Requests, tokens and cost per group, ordered by group (the group is null for requests without one)."""

    data: list[SpendRow]


_SINCE = Query("since", "unix seconds: records at or after this time", "number")
_UNTIL = Query("until", "unix seconds: records before this time", "number")

DOCS = [
    RouteDoc(
        "GET",
        "/admin/logs",
        "List request logs, newest first",
        Page[RequestLog],
        query=(
            Query("key_id", "only this key's requests"),
            Query("team_id", "only this team's requests (a team admin always sees only its own)"),
            Query("user_id", "only this user's requests"),
            Query("model", "only this model group"),
            Query("deployment", "only this deployment"),
            Query("status", "an HTTP status, or ok (below 400) or error (400 and above)"),
            _SINCE,
            _UNTIL,
            *PAGING,
        ),
        tag="logs",
    ),
    RouteDoc("GET", "/admin/logs/{request_id}", "One request's log record", RequestLog, tag="logs"),
    RouteDoc(
        "GET",
        "/admin/spend",
        "Spend rolled up by key, team, user, model, deployment or day (UTC)",
        Spend,
        query=(Query("group_by", "key | team | user | model | deployment | day", values=_GROUPS, required=True),
               _SINCE, _UNTIL),
        tag="logs",
    ),
]


def encode_cursor(after: tuple[float, str]) -> str:
    return base64.urlsafe_b64encode(_cursor_encode(after)).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[float, str]:
    try:
        return _cursor_decode(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        raise InvalidRequestError("cursor is not one this API returned", param="cursor") from None


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value < 1e11:
        raise InvalidRequestError(f"{name} must be a time in unix seconds", param=name)
    return value


def _status(request: Request) -> int | Literal["ok", "error"] | None:
    raw = request.query_params.get("status")
    if raw is None or raw == "":
        return None
    if raw == "ok":
        return "ok"
    if raw == "error":
        return "error"
    if raw.isascii() and raw.isdigit() and 100 <= int(raw) <= 599:
        return int(raw)
    raise InvalidRequestError("status must be an HTTP status code, ok or error", param="status")


def _narrowed(caller: Principal, requested: str | None) -> str | None:
    team = require_reader(caller)
    if team is not None and requested not in (None, team):
        raise NotFoundError("No logs for that team are visible to this key.")
    return team or requested


async def _read(call: Awaitable[T]) -> T:
    try:
        return await call
    except SwitchyardError:
        raise
    except Exception as exc:
        log.warning("request-log store read failed: %s: %s", type(exc).__name__, exc)
        raise StoreUnavailableError("The request-log store is not answering; try again shortly.") from None


def routes(services: Services, logs: LogBackend) -> tuple[list[Route], list[RouteDoc]]:
    def route(path: str, handler: Handler) -> Route:
        return Route(path, admin_endpoint(services, handler), methods=["GET"])

    async def list_logs(request: Request, caller: Principal) -> Response:
        limit, cursor = paging(request)
        query = LogQuery(
            key_id=query_id(request, "key_id"),
            team_id=_narrowed(caller, query_id(request, "team_id")),
            user_id=query_id(request, "user_id"),
            model=query_id(request, "model"),
            deployment=query_id(request, "deployment"),
            status=_status(request),
            since=_time(request, "since"),
            until=_time(request, "until"),
            limit=limit,
            after=decode_cursor(cursor) if cursor else None,
        )
        page = await _read(logs.search(query))
        return json_response(Page(page.data, encode_cursor(page.next) if page.next else None))

    async def get_log(request: Request, caller: Principal) -> Response:
        team = require_reader(caller)
        record = await _read(logs.get(request.path_params["request_id"]))
        if record is None or (team is not None and record.team_id != team):
            raise NotFoundError("No request log with that id.")
        return json_response(record)

    async def spend(request: Request, caller: Principal) -> Response:
        team = require_reader(caller)
        group_by = request.query_params.get("group_by", "")
        if group_by not in _GROUPS:
            raise InvalidRequestError(f"group_by must be one of {', '.join(_GROUPS)}", param="group_by")
        query = SpendQuery(
            group_by=cast(GroupBy, group_by),
            since=_time(request, "since"),
            until=_time(request, "until"),
            team_id=team,
        )
        return json_response(Spend(await _read(logs.spend(query))))

    mounted = [
        route("/admin/logs", list_logs),
        route("/admin/logs/{request_id}", get_log),
        route("/admin/spend", spend),
    ]
    return mounted, DOCS
