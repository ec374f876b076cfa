"""A fake OpenAI upstream: OpenAI's documented wire format on a local port, with fault injection.

    fake = FakeOpenAI(models=["gpt-4o-mini", "text-embedding-3-small"], api_key="sk-test-123")
    with fake:                                  # or fake.start() ... fake.stop()
        fake.base_url                           # "http://127.0.0.1:PORT/v1"
        fake.push_fault(Fault.rate_limit(retry_after=1.5))
        fake.requests                           # what the fake received

The server is aiohttp on its own event loop in a daemon thread, so sync and async tests can both use
it. Run it standalone with ``python -m tests.fakes.openai_upstream --port 8081``.
It imports nothing from ``switchyard``: it stands for the provider, not for the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiohttp import web

from tests.fakes import openai_bodies as bodies
from tests.fakes import openai_requests as reqs
from tests.fakes.openai_bodies import JSON
from tests.fakes.openai_faults import STREAM_FAULTS, Fault, RecordedRequest

__all__ = ["FakeOpenAI", "Fault", "RecordedRequest", "fake_openai_server", "DEFAULT_MODELS"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")
HTML_BODY = b"<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
MALFORMED_EVENT = b"data: {not json\n\n"
DONE_EVENT = b"data: [DONE]\n\n"


@dataclass
class _Exchange:
    """Per-request state shared by the response writers."""

    request: web.Request
    record: RecordedRequest
    request_id: str
    started: float
    closed_by_us: bool = False  # a fault closed the socket: not a client disconnect


class FakeOpenAI:
    def __init__(
        self,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | Sequence[str] | None = "sk-test-123",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: reqs.Reply = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        embedding_dim: int = 8,
        context_window: int = 128_000,
        obfuscation: bool = False,
        max_recorded: int = 10_000,
        rate_limit_requests: int = 10_000,
        rate_limit_tokens: int = 10_000_000,
    ) -> None:
        """``api_key`` None accepts any bearer key (a missing header is still a 401)."""
        self.models = list(models)
        self.api_keys: frozenset[str] | None = (
            None if api_key is None else frozenset([api_key] if isinstance(api_key, str) else api_key)
        )
        self.host = host
        self.reply = reply
        self.embedding_dim = embedding_dim
        self.context_window = context_window
        self.obfuscation = obfuscation
        self.rate_limit_requests = rate_limit_requests
        self.rate_limit_tokens = rate_limit_tokens
        self.system_fingerprint = bodies.new_system_fingerprint()
        self._defaults = (latency, chunk_delay)
        self.latency, self.chunk_delay = latency, chunk_delay
        self._wanted_port = port
        self._port: int | None = None
        self._lock = threading.Condition()
        self._faults: deque[list[Any]] = deque()  # [fault, uses left]
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._disconnects = 0
        self._window = [time.monotonic(), 0, 0]  # rate-limit window: start, requests, tokens
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False

    # ------------------------------------------------------------------------------ lifecycle

    def start(self) -> FakeOpenAI:
        if self._thread is not None:
            return self
        ready = threading.Event()
        failure: list[BaseException] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._serve, args=(ready, failure), name="fake-openai", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            self._thread = None
            raise failure[0]
        return self

    def stop(self) -> None:
        if self._thread is None or self._loop is None or self._runner is None:
            return
        self._stopping = True
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._thread = self._loop = self._runner = None

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _serve(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._listen())
        except BaseException as exc:  # report bind errors to start(), not to a dead thread
            failure.append(exc)
            ready.set()
            loop.close()
            return
        self._loop = loop
        ready.set()
        loop.run_forever()
        loop.close()

    async def _listen(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # handler_cancellation: a client disconnect cancels the handler at once, so it is recorded
        # even while the fake is sleeping between chunks.
        self._runner = web.AppRunner(app, handler_cancellation=True, access_log=None, shutdown_timeout=0.2)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.host, self._wanted_port).start()
        self._port = int(self._runner.addresses[0][1])

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # ------------------------------------------------------------------------- test controls

    def push_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append([fault, fault.times])

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return [f for f, _ in self._faults]

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def set_chunk_delay(self, seconds: float) -> None:
        self.chunk_delay = seconds

    def set_reply(self, reply: reqs.Reply) -> None:
        self.reply = reply

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest | None:
        with self._lock:
            return self._requests[-1] if self._requests else None

    @property
    def disconnects(self) -> int:
        """How many clients went away before their response was complete."""
        with self._lock:
            return self._disconnects

    def wait_for_disconnects(self, count: int = 1, timeout: float = 5.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: self._disconnects >= count, timeout)

    def wait_for_requests(self, count: int = 1, timeout: float = 5.0) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: len(self._requests) >= count, timeout)

    def reset(self) -> None:
        """Forget requests, faults and disconnects; restore latency, chunk delay and reply defaults."""
        with self._lock:
            self._requests.clear()
            self._faults.clear()
            self._disconnects = 0
            self._window = [time.monotonic(), 0, 0]
        self.latency, self.chunk_delay = self._defaults

    # --------------------------------------------------------------------------- bookkeeping

    def _record(self, request: web.Request, raw: bytes) -> RecordedRequest:
        try:
            parsed = reqs.parse_json(raw) if raw else None
        except reqs.ApiError:
            parsed = None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query=dict(request.query),
            headers={k.lower(): v for k, v in request.headers.items()},
            raw=raw,
            json=parsed,
        )
        record.stream = isinstance(parsed, dict) and parsed.get("stream") is True
        with self._lock:
            self._requests.append(record)
            self._lock.notify_all()
        return record

    def _take_fault(self, path: str) -> Fault | None:
        with self._lock:
            for entry in self._faults:
                fault, left = entry
                if fault.path is None or fault.path == path:
                    if left <= 1:
                        self._faults.remove(entry)
                    else:
                        entry[1] = left - 1
                    return fault  # type: ignore[no-any-return]
        return None

    def _note_disconnect(self, ex: _Exchange) -> None:
        if ex.closed_by_us or ex.record.completed or self._stopping:
            return
        with self._lock:
            ex.record.disconnected = True
            self._disconnects += 1
            self._lock.notify_all()

    def _ratelimit_headers(self, tokens: int) -> dict[str, str]:
        # A one-minute window standing in for the API's replenishing buckets.
        with self._lock:
            if time.monotonic() - self._window[0] >= 60:
                self._window = [time.monotonic(), 0, 0]
            self._window[1] += 1
            self._window[2] += tokens
            used_requests, used_tokens = self._window[1], self._window[2]
        return {
            "x-ratelimit-limit-requests": str(self.rate_limit_requests),
            "x-ratelimit-limit-tokens": str(self.rate_limit_tokens),
            "x-ratelimit-remaining-requests": str(max(0, self.rate_limit_requests - used_requests)),
            "x-ratelimit-remaining-tokens": str(max(0, self.rate_limit_tokens - used_tokens)),
            "x-ratelimit-reset-requests": bodies.format_duration(60 * used_requests / self.rate_limit_requests),
            "x-ratelimit-reset-tokens": bodies.format_duration(60 * used_tokens / self.rate_limit_tokens),
        }

    def _headers(self, ex: _Exchange, tokens: int = 0) -> dict[str, str]:
        return {
            "x-request-id": ex.request_id,
            "openai-organization": bodies.ORGANIZATION,
            "openai-processing-ms": str(int((time.monotonic() - ex.started) * 1000)),
            "openai-version": bodies.OPENAI_VERSION,
            "access-control-expose-headers": "X-Request-ID",
            **self._ratelimit_headers(tokens),
        }

    # ------------------------------------------------------------------------------ handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        ex = _Exchange(request, self._record(request, await request.read()), bodies.new_request_id(), started)
        try:
            response = await self._respond(ex)
        except asyncio.CancelledError:
            self._note_disconnect(ex)
            raise
        except ConnectionError:  # the client closed while we were writing
            self._note_disconnect(ex)
            raise
        if ex.record.status is None:
            ex.record.status = response.status
        if not ex.record.stream and not ex.closed_by_us:
            ex.record.completed = True
        return response

    async def _respond(self, ex: _Exchange) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(ex.request.path)
        ex.record.fault = fault
        if fault is not None:
            early = await self._early_fault(ex, fault)
            if early is not None:
                return early
        auth_error = self._check_auth(ex.request)
        if auth_error is not None:
            return self._json(ex, 401, auth_error)
        try:
            return await self._route(ex, fault)
        except reqs.ApiError as err:
            return self._json(ex, err.status, err.body)

    async def _early_fault(self, ex: _Exchange, fault: Fault) -> web.StreamResponse | None:
        """Faults that act before the request is looked at; None lets the request go on."""
        if fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
            return None
        if fault.kind == "drop_connection":
            return self._close(ex, web.Response())
        if fault.kind == "wrong_content_type":
            return web.Response(status=200, body=HTML_BODY, content_type="text/html", headers=self._headers(ex))
        if fault.kind == "status" or (fault.kind == "stream_error" and not ex.record.stream):
            return self._fault_error(ex, fault)
        return None

    def _fault_error(self, ex: _Exchange, fault: Fault) -> web.StreamResponse:
        model = ex.record.json.get("model") if isinstance(ex.record.json, dict) else None
        retry_after = fault.retry_after if fault.retry_after is not None else 20.0
        body = fault.body or bodies.canned_error(fault.error_name, model=str(model or "gpt-4o-mini"), retry_after=retry_after)
        status = fault.status
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["retry-after"] = f"{fault.retry_after:g}"
            headers["retry-after-ms"] = str(round(fault.retry_after * 1000))
        response = self._json(ex, status, body)
        if status == 429:
            limit = "tokens" if fault.error_name == "rate_limit_tokens" else "requests"
            response.headers[f"x-ratelimit-remaining-{limit}"] = "0"
            response.headers[f"x-ratelimit-reset-{limit}"] = bodies.format_duration(retry_after)
        response.headers.update(headers)
        return response

    def _check_auth(self, request: web.Request) -> JSON | None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return bodies.missing_api_key()
        if self.api_keys is not None and key not in self.api_keys:
            return bodies.invalid_api_key(key)
        return None

    async def _route(self, ex: _Exchange, fault: Fault | None) -> web.StreamResponse:
        method, path = ex.request.method, ex.request.path
        if method == "POST" and path == "/v1/chat/completions":
            return await self._chat(ex, fault)
        if method == "POST" and path == "/v1/embeddings":
            return await self._embeddings(ex, fault)
        if method == "GET" and path == "/v1/models":
            return await self._send_json(ex, 200, bodies.models_list(self.models), fault)
        if method == "GET" and path.startswith("/v1/models/"):
            model = path.removeprefix("/v1/models/")
            if model not in self.models:
                return self._json(ex, 404, bodies.model_not_found_retrieve(model))
            return await self._send_json(ex, 200, bodies.model_object(model), fault)
        return self._json(ex, 404, bodies.invalid_url(method, path))

    async def _chat(self, ex: _Exchange, fault: Fault | None) -> web.StreamResponse:
        body = reqs.validate_chat(reqs.parse_json(ex.record.raw), self.models, self.context_window)
        plan = reqs.plan_chat(body, self.reply, self.system_fingerprint)
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            chunks = bodies.chat_chunks(plan, include_usage=include_usage, obfuscation=self.obfuscation)
            return await self._send_stream(ex, chunks, plan.prompt_tokens, fault)
        return await self._send_json(ex, 200, bodies.chat_completion(plan), fault, plan.prompt_tokens)

    async def _embeddings(self, ex: _Exchange, fault: Fault | None) -> web.StreamResponse:
        body, items = reqs.validate_embeddings(reqs.parse_json(ex.record.raw), self.models)
        size = body.get("dimensions") or self.embedding_dim
        full = max(size, self.embedding_dim)
        vectors = [bodies.embedding_vector(body["model"], item, full) for item in items]
        if size < full:  # shortening keeps a renormalised prefix, like the v3 models
            vectors = [bodies.unit_float32(v[:size]) for v in vectors]
        tokens = reqs.embedding_tokens(items)
        encoding = body.get("encoding_format", "float")
        return await self._send_json(ex, 200, bodies.embeddings_response(body["model"], vectors, encoding, tokens), fault, tokens)

    # ------------------------------------------------------------------------------- writers

    def _json(self, ex: _Exchange, status: int, body: JSON, tokens: int = 0) -> web.Response:
        ex.record.status = status
        return web.Response(
            status=status,
            body=bodies.dumps(body).encode(),
            content_type="application/json",
            headers=self._headers(ex, tokens),
        )

    def _close(self, ex: _Exchange, response: web.StreamResponse) -> web.StreamResponse:
        """Close the socket (FIN, after anything already written) and hand aiohttp a dead response."""
        ex.closed_by_us = True
        if ex.request.transport is not None:
            ex.request.transport.close()
        return response

    async def _send_json(
        self, ex: _Exchange, status: int, body: JSON, fault: Fault | None, tokens: int = 0
    ) -> web.StreamResponse:
        response = self._json(ex, status, body, tokens)
        if fault is None or fault.kind not in STREAM_FAULTS:
            return response
        data = bytes(response.body) if fault.kind != "malformed_chunk" else b"{not json"  # type: ignore[arg-type]
        streamed = web.StreamResponse(status=status, headers=response.headers)
        streamed.content_length = len(data)
        await streamed.prepare(ex.request)
        half = len(data) // 2
        await streamed.write(data[:half])
        if fault.kind == "cut":
            return self._close(ex, streamed)
        if fault.kind == "stall":
            await asyncio.sleep(fault.delay)
        await streamed.write(data[half:])
        return streamed

    async def _send_stream(
        self, ex: _Exchange, chunks: list[JSON], tokens: int, fault: Fault | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(status=200, headers=self._headers(ex, tokens))
        response.headers["Content-Type"] = "text/event-stream; charset=utf-8"
        ex.record.status = 200
        await response.prepare(ex.request)
        fault_at = min(fault.after_chunks, len(chunks)) if fault and fault.kind in STREAM_FAULTS else -1
        for index, chunk in enumerate([*chunks, None]):
            if index == fault_at and fault is not None:
                if await self._stream_fault(ex, response, fault):
                    return response
            if index and self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            if chunk is None:
                break
            await response.write(b"data: " + bodies.dumps(chunk).encode() + b"\n\n")
            ex.record.chunks_sent = index + 1
        await response.write(DONE_EVENT)
        await response.write_eof()
        ex.record.completed = True
        return response

    async def _stream_fault(self, ex: _Exchange, response: web.StreamResponse, fault: Fault) -> bool:
        """Apply a mid-stream fault; True when it ended the stream."""
        if fault.kind == "stall":
            await asyncio.sleep(fault.delay)
            return False
        if fault.kind == "malformed_chunk":
            await response.write(MALFORMED_EVENT)
            return False
        if fault.kind == "cut":
            self._close(ex, response)
            return True
        error = fault.body or bodies.canned_error(fault.error_name, model="gpt-4o-mini", retry_after=20.0)
        await response.write(b"data: " + bodies.dumps(error).encode() + b"\n\n")
        await response.write_eof()
        return True


@contextmanager
def fake_openai_server(**kwargs: Any) -> Iterator[FakeOpenAI]:
    """A started fake for the length of a ``with`` block; wrap it in a fixture of any scope."""
    fake = FakeOpenAI(**kwargs).start()
    try:
        yield fake
    finally:
        fake.stop()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Fake OpenAI upstream for Switchyard tests and benchmarks")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model ids")
    parser.add_argument("--api-key", default=None, help="required bearer key (default: accept any)")
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--chunk-delay", type=float, default=0.0)
    parser.add_argument("--embedding-dim", type=int, default=8)
    args = parser.parse_args(argv)
    fake = FakeOpenAI(
        models=[m for m in args.models.split(",") if m],
        api_key=args.api_key,
        host=args.host,
        port=args.port,
        latency=args.latency,
        chunk_delay=args.chunk_delay,
        embedding_dim=args.embedding_dim,
    ).start()
    print(f"fake OpenAI upstream listening on {fake.base_url}", flush=True)
    with suppress(KeyboardInterrupt):
        threading.Event().wait()
    fake.stop()

if __name__ == "__main__":
    main()
