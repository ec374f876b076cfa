"""What every handler needs: the services it calls and a fresh request context."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from switchyard.config.schema import Config
from switchyard.errors import InvalidRequestError
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.storage.protocols import LogSink, LogStore


class RequestIds:
    """Unique ids without a uuid4 per request: a random per-process prefix and a counter (32 hex digits)."""

    def __init__(self) -> None:
        self._prefix = os.urandom(8).hex()
        self._counter = itertools.count(1)

    def next(self) -> str:
        return f"{self._prefix}{next(self._counter):016x}"


@dataclass(slots=True)
class Services:
    config: Config
    pipeline: Pipeline
    log_store: LogStore | None
    log_sink: LogSink
    ready: bool = False
    ids: RequestIds = field(default_factory=RequestIds)


_FLOAT_OPTIONS = {
    b"x-switchyard-timeout-s": "timeout_s",
    b"x-switchyard-total-timeout-s": "total_timeout_s",
    b"x-switchyard-ttft-timeout-s": "ttft_timeout_s",
    b"x-switchyard-stall-timeout-s": "stall_timeout_s",
}


def route_options(request: Request) -> RouteOptions:
    """Per-request routing overrides from ``x-switchyard-*`` headers; a bad value is the caller's 400."""
    found: dict[str, Any] = {}
    for raw_name, raw_value in request.scope["headers"]:
        if not raw_name.startswith(b"x-switchyard-"):
            continue
        value = raw_value.decode("latin-1").strip()
        name = raw_name.decode("latin-1")
        if raw_name in _FLOAT_OPTIONS:
            found[_FLOAT_OPTIONS[raw_name]] = _number(name, value, float, 0.0, 86400.0)
        elif raw_name == b"x-switchyard-num-retries":
            found["num_retries"] = _number(name, value, int, 0, 10)
        elif raw_name == b"x-switchyard-pin":
            found["pin"] = value
        elif raw_name == b"x-switchyard-exclude":
            found["exclude"] = frozenset(v.strip() for v in value.split(",") if v.strip())
    return RouteOptions(**found) if found else DEFAULT_OPTIONS


def _number(name: str, value: str, kind: type[float] | type[int], low: float, high: float) -> Any:
    try:
        number = kind(value)
    except ValueError:
        raise InvalidRequestError(f"header {name} must be a number, got {value!r}", param=name) from None
    if not low < number <= high and not (kind is int and number == low):
        raise InvalidRequestError(f"header {name} must be in ({low:g}, {high:g}]", param=name)
    return number


def new_context(request: Request, endpoint: str, ids: RequestIds) -> RequestContext:
    headers = request.headers
    request_id = headers.get("x-request-id")
    if not request_id or len(request_id) > 128 or not request_id.isprintable():
        request_id = ids.next()
    auth = headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        key: str | None = auth[7:].strip() or None
    else:
        key = headers.get("x-api-key") or None
    return RequestContext(request_id, endpoint, key)
