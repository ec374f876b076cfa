"""Fault descriptions and request records for the fake OpenAI upstream."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from tests.fakes.openai_errors import DEFAULT_ERROR_FOR_STATUS, JSON, CannedError

FaultKind = Literal[
    "status",  # answer with an OpenAI error body (429 / 500 / 503 / 400 ...) instead of the reply
    "slow_first_byte",  # wait ``delay`` seconds before sending anything
    "stall",  # stream: pause ``delay`` seconds after ``after_chunks`` chunks, then carry on
    "cut",  # stream: close the connection after ``after_chunks`` chunks (no [DONE])
    "malformed_chunk",  # stream: after ``after_chunks`` chunks send ``data: {not json``, then carry on
    "stream_error",  # stream: after ``after_chunks`` chunks send ``data: {"error": ...}`` and end (no [DONE])
    "wrong_content_type",  # 200 with a text/html body
    "drop_connection",  # close the socket without any response
]
FAULT_KINDS: tuple[str, ...] = get_args(FaultKind)
STREAM_FAULTS = ("stall", "cut", "malformed_chunk", "stream_error")


@dataclass
class Fault:
    """One injected failure, consumed by the next ``times`` matching requests.

    ``path`` limits it to one endpoint (e.g. "/v1/chat/completions"); None matches any request.
    For ``status``: the body is ``body`` if given, else the canned error named by ``error``, else the
    usual one for ``status`` (429 rate_limit_exceeded, 500 server_error, 503 overloaded, 400
    content_policy_violation). On a plain (non-stream) request the stream faults act on the JSON
    body instead: ``cut`` sends half of it and closes, ``stall`` pauses halfway, ``malformed_chunk``
    sends ``{not json``, ``stream_error`` answers with the error status.
    """

    kind: FaultKind
    status: int = 500
    error: CannedError | None = None
    body: JSON | None = None
    retry_after: float | None = None
    delay: float = 0.0
    after_chunks: int = 0
    times: int = 1
    path: str | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; expected one of {FAULT_KINDS}")
        if self.times < 1:
            raise ValueError("times must be >= 1")

    @property
    def error_name(self) -> CannedError:
        return self.error or DEFAULT_ERROR_FOR_STATUS.get(self.status, "server_error")

    # Shorthands for the documented error classes.
    @classmethod
    def rate_limit(
        cls, retry_after: float = 1.0, limit: Literal["requests", "tokens"] = "requests", **kw: Any
    ) -> Fault:
        error: CannedError = "rate_limit_requests" if limit == "requests" else "rate_limit_tokens"
        return cls("status", status=429, error=error, retry_after=retry_after, **kw)

    @classmethod
    def server_error(cls, **kw: Any) -> Fault:
        return cls("status", status=500, error="server_error", **kw)

    @classmethod
    def overloaded(cls, retry_after: float | None = None, **kw: Any) -> Fault:
        return cls("status", status=503, error="overloaded", retry_after=retry_after, **kw)

    @classmethod
    def context_length(cls, **kw: Any) -> Fault:
        return cls("status", status=400, error="context_length_exceeded", **kw)

    @classmethod
    def content_policy(cls, **kw: Any) -> Fault:
        return cls("status", status=400, error="content_policy_violation", **kw)

    @classmethod
    def invalid_prompt(cls, **kw: Any) -> Fault:
        return cls("status", status=400, error="invalid_prompt", **kw)


@dataclass
class RecordedRequest:
    """One request as the fake received it, plus what happened to its response."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    raw: bytes
    json: Any  # the parsed body, or None when it was not JSON
    time: float = field(default_factory=time.time)
    fault: Fault | None = None
    status: int | None = None
    stream: bool = False
    chunks_sent: int = 0
    completed: bool = False  # the whole response (for streams: through [DONE]) was written
    disconnected: bool = False  # the client went away before the response was complete
