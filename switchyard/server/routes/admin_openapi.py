"""The admin API's OpenAPI document, built from route descriptions and the msgspec structs they name.

Every admin route module exports a list of ``RouteDoc``; ``openapi(docs)`` turns them all into one document,
so a route added anywhere under /admin is documented by adding its description to the list it registers.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import msgspec

T = TypeVar("T")

_REF = "#/components/schemas/{name}"
_PATH_PARAM = re.compile(r"{(\w+)}")


class Page(msgspec.Struct, Generic[T]):
    """One page of a listing; pass ``next_cursor`` back as ``cursor`` for the next, None on the last page."""

    data: list[T]
    next_cursor: str | None


class ErrorDetail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str


class ErrorBody(msgspec.Struct):
    """OpenAI's error envelope, used by every error the gateway answers with."""

    error: ErrorDetail


@dataclass(frozen=True, slots=True)
class Query:
    name: str
    description: str
    kind: str = "string"
    values: tuple[str, ...] = ()  # the only accepted values, when there is a fixed set
    required: bool = False


@dataclass(frozen=True, slots=True)
class RouteDoc:
    method: str
    path: str
    summary: str
    response: Any = None
    body: Any = None
    status: int = 200
    query: tuple[Query, ...] = ()
    tag: str = "admin"
    body_required: bool = True  # False when an empty body means "all defaults"


PAGING = (
    Query("limit", "page size, 1 to 200 (default 50)", "integer"),
    Query("cursor", "next_cursor of the previous page"),
)

_ERRORS = {
    "400": "invalid request (the error's param names the field)",
    "401": "missing, unknown, expired or revoked key",
    "403": "the key's role does not allow this",
    "404": "no such record (or not visible to this key)",
    "409": "duplicate alias, team name or email",
}


def openapi(docs: Sequence[RouteDoc], version: str) -> dict[str, Any]:
    types = [t for doc in docs for t in (doc.response, doc.body) if t is not None]
    refs, components = msgspec.json.schema_components([*types, ErrorBody], ref_template=_REF)
    schema_of = dict(zip([*types, ErrorBody], refs, strict=True))
    error = {"description": "", "content": {"application/json": {"schema": schema_of[ErrorBody]}}}
    paths: dict[str, dict[str, Any]] = {}
    for doc in docs:
        parameters = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in _PATH_PARAM.findall(doc.path)
        ]
        parameters += [
            {"name": q.name, "in": "query", "required": q.required, "description": q.description,
             "schema": {"type": q.kind, **({"enum": list(q.values)} if q.values else {})}}
            for q in doc.query
        ]
        operation: dict[str, Any] = {
            "summary": doc.summary,
            "tags": [doc.tag],
            "operationId": _operation_id(doc),
            "security": [{"bearer": []}],
            "parameters": parameters,
            "responses": {
                str(doc.status): {
                    "description": doc.summary,
                    **({"content": {"application/json": {"schema": schema_of[doc.response]}}} if doc.response else {}),
                },
                **{status: {**error, "description": text} for status, text in _ERRORS.items()},
            },
        }
        if doc.body is not None:
            operation["responses"]["413"] = {**error, "description": "request body larger than 64 KiB"}
            operation["requestBody"] = {
                "required": doc.body_required,
                "content": {"application/json": {"schema": schema_of[doc.body]}},
            }
        paths.setdefault(doc.path, {})[doc.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Switchyard admin API", "version": version},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation_id(doc: RouteDoc) -> str:
    words = [part.strip("{}") for part in doc.path.strip("/").split("/")]
    return "_".join([doc.method.lower(), *words])
