"""The fake Anthropic API's error bodies (``{"type": "error", "error": {"type", "message"}, "request_id"}``),
the exception its checks raise, and its ids."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

JSON = dict[str, Any]
DEFAULT_ERRORS = {
    400: ("invalid_request_error", "messages: Field required"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error", "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit"),
    500: ("api_error", "Internal server error"),
    529: ("overloaded_error", "Overloaded"),
}


def anthropic_error(type_: str, message: str) -> JSON:
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": make_id("req_")}


class ApiError(Exception):
    def __init__(self, message: str, status: int = 400, type_: str = "invalid_request_error") -> None:
        super().__init__(message)
        self.status, self.body = status, anthropic_error(type_, message)


def make_id(prefix: str, seed: str | None = None) -> str:
    tail = hashlib.sha256(seed.encode()).hexdigest()[:24] if seed is not None else secrets.token_hex(12)
    return prefix + tail
