"""/admin/keys, /admin/teams and /admin/users: thin handlers over ``switchyard.auth.admin.AdminService``."""

from __future__ import annotations

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from switchyard.auth.admin import AdminService
from switchyard.auth.schema import (
    KeyCreate,
    KeyCreated,
    KeyRotate,
    KeyUpdate,
    KeyView,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
)
from switchyard.server.decode import decode, read_body
from switchyard.server.routes.admin import Handler, admin_endpoint, json_response, paging, query_id, read_json
from switchyard.server.routes.admin_openapi import PAGING, Page, Query, RouteDoc
from switchyard.server.routes.common import Services
from switchyard.storage.keys_protocol import TeamRecord, UserRecord
from switchyard.types.identity import Principal

_key_create = msgspec.json.Decoder(KeyCreate)
_key_update = msgspec.json.Decoder(KeyUpdate)
_key_rotate = msgspec.json.Decoder(KeyRotate)
_team_create = msgspec.json.Decoder(TeamCreate)
_team_update = msgspec.json.Decoder(TeamUpdate)
_user_create = msgspec.json.Decoder(UserCreate)
_user_update = msgspec.json.Decoder(UserUpdate)

_TEAM_FILTER = Query("team_id", "only records of this team (a team admin always sees only its own)")

DOCS = [
    RouteDoc("POST", "/admin/keys", "Create a virtual key; the secret is in this answer only", KeyCreated, KeyCreate,
             201, tag="keys"),
    RouteDoc("GET", "/admin/keys", "List keys by prefix (never the secret)", Page[KeyView],
             query=(_TEAM_FILTER, *PAGING), tag="keys"),
    RouteDoc("GET", "/admin/keys/{id}", "Show a key", KeyView, tag="keys"),
    RouteDoc("PATCH", "/admin/keys/{id}", "Change a key (null clears a field)", KeyView, KeyUpdate, tag="keys"),
    RouteDoc("POST", "/admin/keys/{id}/rotate", "New secret for the key; the old one works for grace_s more seconds",
             KeyCreated, KeyRotate, tag="keys", body_required=False),
    RouteDoc("DELETE", "/admin/keys/{id}", "Revoke a key", KeyView, tag="keys"),
    RouteDoc("POST", "/admin/teams", "Create a team", TeamRecord, TeamCreate, 201, tag="teams"),
    RouteDoc("GET", "/admin/teams", "List teams", Page[TeamRecord], query=PAGING, tag="teams"),
    RouteDoc("GET", "/admin/teams/{id}", "Show a team", TeamRecord, tag="teams"),
    RouteDoc("PATCH", "/admin/teams/{id}", "Change a team", TeamRecord, TeamUpdate, tag="teams"),
    RouteDoc("DELETE", "/admin/teams/{id}", "Delete a team; its keys stop working", TeamRecord, tag="teams"),
    RouteDoc("POST", "/admin/users", "Create a user", UserRecord, UserCreate, 201, tag="users"),
    RouteDoc("GET", "/admin/users", "List users", Page[UserRecord], query=(_TEAM_FILTER, *PAGING), tag="users"),
    RouteDoc("GET", "/admin/users/{id}", "Show a user", UserRecord, tag="users"),
    RouteDoc("PATCH", "/admin/users/{id}", "Change a user", UserRecord, UserUpdate, tag="users"),
    RouteDoc("DELETE", "/admin/users/{id}", "Delete a user", UserRecord, tag="users"),
]


def routes(services: Services, admin: AdminService) -> tuple[list[Route], list[RouteDoc]]:
    def route(path: str, method: str, handler: Handler) -> Route:
        return Route(path, admin_endpoint(services, handler), methods=[method])

    # --- keys ---
    async def create_key(request: Request, caller: Principal) -> Response:
        return json_response(await admin.create_key(caller, await read_json(request, _key_create)), 201)

    async def list_keys(request: Request, caller: Principal) -> Response:
        limit, cursor = paging(request)
        data, next_cursor = await admin.list_keys(caller, query_id(request, "team_id"), limit, cursor)
        return json_response(Page(data, next_cursor))

    async def get_key(request: Request, caller: Principal) -> Response:
        return json_response(await admin.get_key(caller, request.path_params["id"]))

    async def update_key(request: Request, caller: Principal) -> Response:
        body = await read_json(request, _key_update)
        return json_response(await admin.update_key(caller, request.path_params["id"], body))

    async def rotate_key(request: Request, caller: Principal) -> Response:
        # The body is optional: no body (or {}) rotates without a grace period.
        raw = await read_body(request, 64 * 1024)
        body = decode(raw, _key_rotate) if raw.strip() else KeyRotate()
        return json_response(await admin.rotate_key(caller, request.path_params["id"], body.grace_s))

    async def revoke_key(request: Request, caller: Principal) -> Response:
        return json_response(await admin.revoke_key(caller, request.path_params["id"]))

    # --- teams ---
    async def create_team(request: Request, caller: Principal) -> Response:
        return json_response(await admin.create_team(caller, await read_json(request, _team_create)), 201)

    async def list_teams(request: Request, caller: Principal) -> Response:
        limit, cursor = paging(request)
        data, next_cursor = await admin.list_teams(caller, limit, cursor)
        return json_response(Page(data, next_cursor))

    async def get_team(request: Request, caller: Principal) -> Response:
        return json_response(await admin.get_team(caller, request.path_params["id"]))

    async def update_team(request: Request, caller: Principal) -> Response:
        body = await read_json(request, _team_update)
        return json_response(await admin.update_team(caller, request.path_params["id"], body))

    async def delete_team(request: Request, caller: Principal) -> Response:
        return json_response(await admin.delete_team(caller, request.path_params["id"]))

    # --- users ---
    async def create_user(request: Request, caller: Principal) -> Response:
        return json_response(await admin.create_user(caller, await read_json(request, _user_create)), 201)

    async def list_users(request: Request, caller: Principal) -> Response:
        limit, cursor = paging(request)
        data, next_cursor = await admin.list_users(caller, query_id(request, "team_id"), limit, cursor)
        return json_response(Page(data, next_cursor))

    async def get_user(request: Request, caller: Principal) -> Response:
        return json_response(await admin.get_user(caller, request.path_params["id"]))

    async def update_user(request: Request, caller: Principal) -> Response:
        body = await read_json(request, _user_update)
        return json_response(await admin.update_user(caller, request.path_params["id"], body))

    async def delete_user(request: Request, caller: Principal) -> Response:
        return json_response(await admin.delete_user(caller, request.path_params["id"]))

    mounted = [
        route("/admin/keys", "POST", create_key),
        route("/admin/keys", "GET", list_keys),
        route("/admin/keys/{id}", "GET", get_key),
        route("/admin/keys/{id}", "PATCH", update_key),
        route("/admin/keys/{id}/rotate", "POST", rotate_key),
        route("/admin/keys/{id}", "DELETE", revoke_key),
        route("/admin/teams", "POST", create_team),
        route("/admin/teams", "GET", list_teams),
        route("/admin/teams/{id}", "GET", get_team),
        route("/admin/teams/{id}", "PATCH", update_team),
        route("/admin/teams/{id}", "DELETE", delete_team),
        route("/admin/users", "POST", create_user),
        route("/admin/users", "GET", list_users),
        route("/admin/users/{id}", "GET", get_user),
        route("/admin/users/{id}", "PATCH", update_user),
        route("/admin/users/{id}", "DELETE", delete_user),
    ]
    return mounted, DOCS
