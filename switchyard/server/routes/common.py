"""What every handler needs: the services it calls and a fresh request context."""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from switchyard.auth.authenticator import Authenticator
from switchyard.config.schema import Config
from switchyard.errors import InvalidRequestError
from switchyard.observability.logs import bind_request_id
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.routing.options import DEFAULT_OPTIONS, RouteOptions
from switchyard.storage.logs_protocol import LogBackend, SyncLogStore
from switchyard.storage.protocols import LogSink


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
    log_store: SyncLogStore | LogBackend | None
    log_sink: LogSink
    ready: bool = False
    ids: RequestIds = field(default_factory=RequestIds)
    # Who is calling: the master key, a virtual key, or nobody on an open gateway (admin routes use it too).
    authenticator: Authenticator | None = None


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
        elif raw_name == b"x-switchyard-strong-share":
            found["strong_share"] = _share(name, value)
        elif raw_name == b"x-switchyard-router-threshold":
            found["router_threshold"] = _number(name, value, float, 0.0, 1.0)
        elif raw_name == b"x-switchyard-cost-weight":
            found["cost_weight"] = _number(name, value, float, -1.0, 1e9)  # the router rejects < 0
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


def _share(name: str, value: str) -> float:
    """A share may be 0 (nothing strong), unlike the thresholds and timeouts ``_number`` reads."""
    try:
        share = float(value)
    except ValueError:
        raise InvalidRequestError(f"header {name} must be a number, got {value!r}", param=name) from None
    if not 0.0 <= share <= 1.0:  # NaN fails this too
        raise InvalidRequestError(f"header {name} must be in [0, 1]", param=name)
    return share


def new_context(request: Request, endpoint: str, ids: RequestIds) -> RequestContext:
    # One pass over the raw headers for everything the context needs (Starlette's lookups each scan them).
    request_id = auth = api_key = None
    cache: dict[str, str] | None = None
    for raw_name, raw_value in request.scope["headers"]:
        if raw_name == b"authorization":
            auth = auth if auth is not None else raw_value.decode("latin-1")  # the first, as Starlette's get
        elif raw_name == b"x-request-id":
            request_id = request_id if request_id is not None else raw_value.decode("latin-1")
        elif raw_name == b"x-api-key":
            api_key = api_key if api_key is not None else raw_value.decode("latin-1")
        elif raw_name == b"cache-control" or raw_name.startswith(b"x-switchyard-cache-"):
            # The caller's cache controls, as sent; the cache validates them (a bad value is the pipeline's 400).
            cache = cache or {}
            cache[raw_name.decode("latin-1")] = raw_value.decode("latin-1").strip()
    if not request_id or len(request_id) > 128 or not request_id.isprintable():
        request_id = ids.next()
    bind_request_id(request_id)  # every log line written while serving this request carries it
    if auth is not None and auth[:7].lower() == "bearer ":
        key: str | None = auth[7:].strip() or None
    else:
        key = api_key or None
    ctx = RequestContext(request_id, endpoint, key)
    ctx.cache_headers = cache
    return ctx
