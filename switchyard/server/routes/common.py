"""What every handler needs: the services it calls and a fresh request context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from starlette.requests import Request

from switchyard.config.schema import Config
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.runner import Pipeline
from switchyard.storage.protocols import LogSink, LogStore


@dataclass(slots=True)
class Services:
    config: Config
    pipeline: Pipeline
    log_store: LogStore | None
    log_sink: LogSink
    ready: bool = False


def new_context(request: Request, endpoint: str) -> RequestContext:
    headers = request.headers
    request_id = headers.get("x-request-id")
    if not request_id or len(request_id) > 128 or not request_id.isprintable():
        request_id = uuid.uuid4().hex
    auth = headers.get("authorization")
    if auth is not None and auth[:7].lower() == "bearer ":
        key: str | None = auth[7:].strip() or None
    else:
        key = headers.get("x-api-key") or None
    return RequestContext(request_id, endpoint, key)
