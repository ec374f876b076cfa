"""Writing answers on the wire: OpenAI's headers, JSON bodies, SSE streams, and the faults that break them."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field

from aiohttp import web

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_errors as errors
from tests.fakes.openai_bodies import JSON
from tests.fakes.openai_faults import STREAM_FAULTS, Fault, RecordedRequest

HTML_BODY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
MALFORMED_EVENT = b"data: {not json\n\n"
DONE_EVENT = b"data: [DONE]\n\n"


@dataclass
class RateWindow:
    """A one-minute window standing in for the API's replenishing rate-limit buckets."""

    requests_limit: int
    tokens_limit: int
    _start: float = field(default_factory=time.monotonic)
    _requests: int = 0
    _tokens: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        with self._lock:
            self._start, self._requests, self._tokens = time.monotonic(), 0, 0

    def headers(self, tokens: int) -> dict[str, str]:
        with self._lock:
            if time.monotonic() - self._start >= 60:
                self._start, self._requests, self._tokens = time.monotonic(), 0, 0
            self._requests += 1
            self._tokens += tokens
            used_requests, used_tokens = self._requests, self._tokens
        return {
            "x-ratelimit-limit-requests": str(self.requests_limit),
            "x-ratelimit-limit-tokens": str(self.tokens_limit),
            "x-ratelimit-remaining-requests": str(max(0, self.requests_limit - used_requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.tokens_limit - used_tokens)),
            "x-ratelimit-reset-requests": errors.format_duration(60 * used_requests / self.requests_limit),
            "x-ratelimit-reset-tokens": errors.format_duration(60 * used_tokens / self.tokens_limit),
        }


@dataclass
class Exchange:
    """One request in flight, with what the writers need to answer it."""

    request: web.Request
    record: RecordedRequest
    rates: RateWindow
    request_id: str = field(default_factory=bodies.new_request_id)
    started: float = field(default_factory=time.monotonic)
    closed_by_us: bool = False  # a fault closed the socket: not a client disconnect

    def headers(self, tokens: int = 0) -> dict[str, str]:
        return {
            "x-request-id": self.request_id,
            "openai-organization": errors.ORGANIZATION,
            "openai-processing-ms": str(int((time.monotonic() - self.started) * 1000)),
            "openai-version": bodies.OPENAI_VERSION,
            "access-control-expose-headers": "X-Request-ID",
            **self.rates.headers(tokens),
        }


def json_response(ex: Exchange, status: int, body: JSON, tokens: int = 0) -> web.Response:
    ex.record.status = status
    return web.Response(
        status=status, body=bodies.dumps(body).encode(), content_type="application/json", headers=ex.headers(tokens)
    )


def html_response(ex: Exchange) -> web.Response:
    ex.record.status = 200
    return web.Response(status=200, body=HTML_BODY, content_type="text/html", headers=ex.headers())


def close_connection(ex: Exchange, response: web.StreamResponse) -> web.StreamResponse:
    """Close the socket (FIN, after anything already written) and hand aiohttp a dead response."""
    ex.closed_by_us = True
    if ex.request.transport is not None:
        ex.request.transport.close()
    return response


def fault_body(fault: Fault, model: str) -> JSON:
    retry_after = fault.retry_after if fault.retry_after is not None else 20.0
    return fault.body or errors.canned_error(fault.error_name, model=model, retry_after=retry_after)


def fault_response(ex: Exchange, fault: Fault) -> web.Response:
    """The error answer of a ``status`` fault, with ``retry-after`` and rate-limit headers as the API sends."""
    model = ex.record.json.get("model") if isinstance(ex.record.json, dict) else None
    response = json_response(ex, fault.status, fault_body(fault, str(model or "gpt-4o-mini")))
    if fault.status == 429:
        limit = "tokens" if fault.error_name == "rate_limit_tokens" else "requests"
        response.headers[f"x-ratelimit-remaining-{limit}"] = "0"
        reset = fault.retry_after if fault.retry_after is not None else 20.0
        response.headers[f"x-ratelimit-reset-{limit}"] = errors.format_duration(reset)
    if fault.retry_after is not None:
        response.headers["retry-after"] = f"{fault.retry_after:g}"
        response.headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
    response.headers.update(fault.headers)
    return response


async def send_json(ex: Exchange, body: JSON, fault: Fault | None, tokens: int = 0) -> web.StreamResponse:
    """A 200 JSON answer; stream faults act on the body (half then close / pause / not JSON)."""
    response = json_response(ex, 200, body, tokens)
    if fault is None or fault.kind not in STREAM_FAULTS:
        return response
    if fault.kind == "stream_error":
        return fault_response(ex, fault)
    data = b"{not json" if fault.kind == "malformed_chunk" else bodies.dumps(body).encode()
    streamed = web.StreamResponse(status=200, headers=response.headers)
    streamed.content_length = len(data)
    await streamed.prepare(ex.request)
    half = len(data) // 2
    await streamed.write(data[:half])
    if fault.kind == "cut":
        return close_connection(ex, streamed)
    if fault.kind == "stall":
        await asyncio.sleep(fault.delay)
    await streamed.write(data[half:])
    return streamed


async def send_stream(
    ex: Exchange, chunks: list[JSON], tokens: int, fault: Fault | None, chunk_delay: float
) -> web.StreamResponse:
    """``data: {chunk}\\n\\n`` events then ``data: [DONE]``; a stream fault fires after ``after_chunks``."""
    response = web.StreamResponse(status=200, headers=ex.headers(tokens))
    response.headers["Content-Type"] = "text/event-stream; charset=utf-8"
    ex.record.status = 200
    await response.prepare(ex.request)
    fault_at = min(fault.after_chunks, len(chunks)) if fault and fault.kind in STREAM_FAULTS else -1
    for index, chunk in enumerate([*chunks, None]):
        if fault is not None and index == fault_at and await _stream_fault(ex, response, fault):
            return response
        if index and chunk_delay:
            await asyncio.sleep(chunk_delay)  # lets a test see the client leave mid-stream
        if chunk is None:
            break
        await response.write(b"data: " + bodies.dumps(chunk).encode() + b"\n\n")
        ex.record.chunks_sent = index + 1
    await response.write(DONE_EVENT)
    await response.write_eof()
    ex.record.completed = True
    return response


async def _stream_fault(ex: Exchange, response: web.StreamResponse, fault: Fault) -> bool:
    """Apply a mid-stream fault; True when it ended the stream."""
    if fault.kind == "stall":
        await asyncio.sleep(fault.delay)
        return False
    if fault.kind == "malformed_chunk":
        await response.write(MALFORMED_EVENT)
        return False
    if fault.kind == "cut":
        close_connection(ex, response)
        return True
    # stream_error: the API reports a failure inside an open stream as a bare error object.
    model = ex.record.json.get("model", "gpt-4o-mini") if isinstance(ex.record.json, dict) else "gpt-4o-mini"
    await response.write(b"data: " + bodies.dumps(fault_body(fault, str(model))).encode() + b"\n\n")
    await response.write_eof()
    return True
