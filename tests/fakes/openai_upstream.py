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
import ssl
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
from tests.fakes import openai_errors as errors
from tests.fakes import openai_replies as replies
from tests.fakes import openai_validation as validation
from tests.fakes import openai_wire as wire
from tests.fakes.openai_bodies import JSON
from tests.fakes.openai_faults import Fault, RecordedRequest
from tests.fakes.openai_validation import ApiError

__all__ = ["FakeOpenAI", "Fault", "RecordedRequest", "fake_openai_server", "DEFAULT_MODELS"]

DEFAULT_MODELS = ("gpt-4o-mini", "gpt-4o", "text-embedding-3-small")


@dataclass
class _Queued:
    fault: Fault
    uses_left: int


class FakeOpenAI:
    """The fake upstream. Faults are taken in push order by the next matching request and act
    before auth and validation, so "the next request fails" holds whatever the request is."""

    def __init__(
        self,
        models: Sequence[str] = DEFAULT_MODELS,
        api_key: str | Sequence[str] | None = "sk-test-123",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        reply: replies.Reply = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        embedding_dim: int = 8,
        context_window: int = 128_000,
        obfuscation: bool = False,
        max_recorded: int = 10_000,
        rate_limit_requests: int = 10_000,
        rate_limit_tokens: int = 10_000_000,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``api_key`` None accepts any bearer key (a missing header is still a 401); ``tls`` serves https."""
        self.models = list(models)
        self.api_keys: frozenset[str] | None = (
            None if api_key is None else frozenset([api_key] if isinstance(api_key, str) else api_key)
        )
        self.host = host
        self.tls = tls
        self.reply = reply
        self.embedding_dim = embedding_dim
        self.context_window = context_window
        self.obfuscation = obfuscation
        self.system_fingerprint = bodies.new_system_fingerprint()
        self._defaults = (latency, chunk_delay, reply)
        self.latency, self.chunk_delay = latency, chunk_delay
        self._wanted_port = port
        self._port: int | None = None
        self._lock = threading.Condition()
        self._faults: deque[_Queued] = deque()
        self._requests: deque[RecordedRequest] = deque(maxlen=max_recorded)
        self._disconnects = 0
        self._rates = wire.RateWindow(rate_limit_requests, rate_limit_tokens)
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
        await web.TCPSite(self._runner, self.host, self._wanted_port, ssl_context=self.tls).start()
        self._port = int(self._runner.addresses[0][1])

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeOpenAI is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    # ------------------------------------------------------------------------- test controls

    def push_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(_Queued(fault, fault.times))

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def pending_faults(self) -> list[Fault]:
        with self._lock:
            return [queued.fault for queued in self._faults]

    def set_latency(self, seconds: float) -> None:
        self.latency = seconds

    def set_chunk_delay(self, seconds: float) -> None:
        self.chunk_delay = seconds

    def set_reply(self, reply: replies.Reply) -> None:
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
        self._rates.reset()
        self.latency, self.chunk_delay, self.reply = self._defaults

    # --------------------------------------------------------------------------- bookkeeping

    def _record(self, request: web.Request, raw: bytes) -> RecordedRequest:
        try:
            parsed = validation.parse_json(raw) if raw else None
        except ApiError:
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
            for queued in self._faults:
                if queued.fault.path in (None, path):
                    queued.uses_left -= 1
                    if queued.uses_left == 0:
                        self._faults.remove(queued)
                    return queued.fault
        return None

    def _note_disconnect(self, ex: wire.Exchange) -> None:
        if ex.closed_by_us or ex.record.completed or self._stopping:
            return
        with self._lock:
            ex.record.disconnected = True
            self._disconnects += 1
            self._lock.notify_all()

    # ------------------------------------------------------------------------------ handling

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        started = time.monotonic()
        record = self._record(request, await request.read())
        ex = wire.Exchange(request, record, self._rates, started=started)
        try:
            response = await self._respond(ex)
        except asyncio.CancelledError:  # the client went away (aiohttp cancels the handler)
            self._note_disconnect(ex)
            raise
        except ConnectionError:  # the client went away while we were writing
            self._note_disconnect(ex)
            return web.Response(status=499)  # nobody is listening; aiohttp drops it quietly
        if record.status is None:
            record.status = response.status
        if not record.stream and not ex.closed_by_us:
            record.completed = True
        return response

    async def _respond(self, ex: wire.Exchange) -> web.StreamResponse:
        if self.latency:
            await asyncio.sleep(self.latency)
        fault = self._take_fault(ex.request.path)
        ex.record.fault = fault
        if fault is not None and fault.kind == "slow_first_byte":
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind == "drop_connection":
            return wire.close_connection(ex, web.Response())
        elif fault is not None and fault.kind == "wrong_content_type":
            return wire.html_response(ex)
        elif fault is not None and fault.kind == "status":
            return wire.fault_response(ex, fault)
        auth_error = self._check_auth(ex.request)
        if auth_error is not None:
            return wire.json_response(ex, 401, auth_error)
        try:
            return await self._route(ex, fault)
        except ApiError as err:
            return wire.json_response(ex, err.status, err.body)

    def _check_auth(self, request: web.Request) -> JSON | None:
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return errors.missing_api_key()
        if self.api_keys is not None and key not in self.api_keys:
            return errors.invalid_api_key(key)
        return None

    async def _route(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        method, path = ex.request.method, ex.request.path
        if method == "POST" and path == "/v1/chat/completions":
            return await self._chat(ex, fault)
        if method == "POST" and path == "/v1/embeddings":
            return await self._embeddings(ex, fault)
        if method == "GET" and path == "/v1/models":
            return await wire.send_json(ex, bodies.models_list(self.models), fault)
        if method == "GET" and path.startswith("/v1/models/"):
            model = path.removeprefix("/v1/models/")
            if model not in self.models:
                return wire.json_response(ex, 404, errors.model_not_found_retrieve(model))
            return await wire.send_json(ex, bodies.model_object(model), fault)
        return wire.json_response(ex, 404, errors.invalid_url(method, path))

    async def _chat(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body = validation.validate_chat(validation.parse_json(ex.record.raw), self.models, self.context_window)
        plan = replies.plan_chat(body, self.reply, self.system_fingerprint)
        if not body.get("stream"):
            return await wire.send_json(ex, bodies.chat_completion(plan), fault, plan.prompt_tokens)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        chunks = bodies.chat_chunks(plan, include_usage=include_usage, obfuscation=self.obfuscation)
        return await wire.send_stream(ex, chunks, plan.prompt_tokens, fault, self.chunk_delay)

    async def _embeddings(self, ex: wire.Exchange, fault: Fault | None) -> web.StreamResponse:
        body, items = validation.validate_embeddings(validation.parse_json(ex.record.raw), self.models)
        size = body.get("dimensions") or self.embedding_dim
        full = max(size, self.embedding_dim)
        vectors = [bodies.embedding_vector(body["model"], item, full) for item in items]
        if size < full:  # shortening keeps a renormalised prefix, like the v3 models
            vectors = [bodies.unit_float32(v[:size]) for v in vectors]
        tokens = validation.embedding_tokens(items)
        answer = bodies.embeddings_response(body["model"], vectors, body.get("encoding_format", "float"), tokens)
        return await wire.send_json(ex, answer, fault, tokens)


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
