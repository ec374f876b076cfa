"""Typed errors → Anthropic's error envelope ``{"type": "error", "error": {"type", "message"}}``.

The HTTP status is the one the typed error carries; Anthropic's error ``type`` is chosen by that status, as
its API reference pairs them (400 invalid_request_error, 401 authentication_error, 402 billing_error,
403 permission_error, 404 not_found_error, 413 request_too_large, 429 rate_limit_error, 500 and 502
api_error, 503 and 529 overloaded_error, 504 timeout_error). Other 4xx are invalid requests, other 5xx
api_error. The same body, without ``request_id``, is the data of a stream's ``event: error``.

A context-window error is worded as Anthropic words it, "prompt is too long: ...", whichever upstream said so:
clients of this API (coding agents compacting their context) look for that phrase. An upstream speaking this
API already said it in those words (its adapter keeps them), so they are not repeated.
"""

from __future__ import annotations

import msgspec
from starlette.responses import Response

from switchyard.errors import ContextWindowExceededError, SwitchyardError
from switchyard.types.anthropic import ErrorDetail, ErrorResponse, ErrorType

_BY_STATUS: dict[int, ErrorType] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
_encode = msgspec.json.Encoder().encode
_TOO_LONG = "prompt is too long"


def error_type(exc: SwitchyardError) -> ErrorType:
    found = _BY_STATUS.get(exc.status)
    if found is not None:
        return found
    return "invalid_request_error" if 400 <= exc.status < 500 else "api_error"


def error_message(exc: SwitchyardError) -> str:
    text = exc.message
    if isinstance(exc, ContextWindowExceededError) and not text.lower().startswith(_TOO_LONG):
        return f"{_TOO_LONG}: {text}"
    return text


def error_body(exc: SwitchyardError, request_id: str | None = None) -> bytes:
    return _encode(ErrorResponse(ErrorDetail(error_type(exc), error_message(exc)), request_id))


def error_event(exc: SwitchyardError) -> bytes:
    """The SSE frame that ends a broken stream: Anthropic's ``error`` event, never a ``message_stop``."""
    return b"event: error\ndata: " + error_body(exc) + b"\n\n"


def error_response(exc: SwitchyardError, headers: dict[str, str], request_id: str) -> Response:
    all_headers = {**headers, **exc.headers}
    if exc.retry_after is not None:
        all_headers["retry-after"] = str(max(1, round(exc.retry_after)))
    return Response(error_body(exc, request_id), exc.status, all_headers, media_type="application/json")
