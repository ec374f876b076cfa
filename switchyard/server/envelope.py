"""Typed errors → OpenAI's error envelope, the one place an error becomes JSON."""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from switchyard.errors import SwitchyardError


class _Detail(msgspec.Struct):
    message: str
    type: str
    param: str | None
    code: str


class _Envelope(msgspec.Struct):
    error: _Detail


_encode = msgspec.json.Encoder().encode


def error_body(exc: SwitchyardError) -> bytes:
    return _encode(_Envelope(_Detail(exc.message, exc.type, exc.param, exc.code)))


def error_response(exc: SwitchyardError, headers: dict[str, str] | None = None) -> Response:
    all_headers = {**(headers or {}), **exc.headers}
    if exc.retry_after is not None:
        all_headers["retry-after"] = str(max(1, round(exc.retry_after)))
    return Response(error_body(exc), exc.status, all_headers, media_type="application/json")
