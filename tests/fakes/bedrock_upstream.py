"""A fake Amazon Bedrock Runtime: Converse, ConverseStream and (for embedding models) InvokeModel on a local port,
built from the API reference.

    fake = FakeBedrock(models=["anthropic.claude-3-5-sonnet-20240620-v1:0"])
    with fake:
        fake.base_url                 # "http://127.0.0.1:PORT"  (the deployment's api_base)
        fake.push_fault(Fault("error", exception="ThrottlingException"))
        fake.requests                 # what the fake received, with whether the SigV4 signature held

Requests must be signed with AWS Signature Version 4 (service ``bedrock``); the fake recomputes the
signature from the bytes it received with its own implementation of the algorithm (hashlib/hmac, no AWS
library), so a request altered after signing is refused exactly as AWS refuses it. A Bedrock API key
(``Authorization: Bearer``) is accepted instead when ``api_key`` is set. Bodies are validated against the
``bedrock-runtime`` service model (required members, unions with exactly one member, enums, ranges, roles
that alternate, tool results that answer the previous turn's tool uses, toolConfig present whenever tool
blocks are). Streams are framed in the AWS event-stream binary format by the encoder in ``bedrock_wire``, written
independently of the gateway's decoder. InvokeModel (``/model/{id}/invoke``) serves the embedding models in
``EMBED_MODELS`` with their vendors' own bodies (``bedrock_invoke``), signed and faulted like Converse; the
Converse model itself is ``bedrock_replies``. It imports nothing from ``switchyard``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import unquote

from aiohttp import web

from tests.fakes.bedrock_invoke import EMBED_MODELS, TOKEN_HEADER, invoke
from tests.fakes.bedrock_replies import Script, plan, stream_frames
from tests.fakes.bedrock_wire import MESSAGES, STATUS, ApiError, exception_frame, validate, verify_sigv4

__all__ = ["ACCESS_KEY", "SECRET_KEY", "DEFAULT_MODELS", "EMBED_MODELS", "FakeBedrock", "Fault", "Recorded", "Script"]

DEFAULT_MODELS = ("anthropic.claude-3-5-sonnet-20240620-v1:0", "meta.llama3-1-70b-instruct-v1:0")
ACCESS_KEY, SECRET_KEY = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
EVENTSTREAM = "application/vnd.amazon.eventstream"

FaultKind = Literal["error", "drop", "cut", "end_early", "corrupt", "exception_event", "stall", "wrong_content_type"]


@dataclass
class Fault:
    """One injected failure for the next ``times`` requests. ``error``: answer with ``exception`` (a name in
    STATUS) and its message; stream faults act after ``after_frames`` frames: ``cut`` sends half a frame
    then ends the body cleanly, ``end_early`` ends it cleanly between frames (no messageStop), ``drop``
    closes the socket, ``corrupt`` flips a byte of the next frame's CRC, ``exception_event`` sends an
    exception message (``exception`` e.g. "throttlingException"), ``stall`` pauses ``delay`` seconds."""

    kind: FaultKind
    exception: str = "InternalServerException"
    message: str | None = None
    after_frames: int = 0
    delay: float = 0.0
    times: int = 1
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    raw_path: str
    headers: dict[str, str]
    raw: bytes
    json: Any = None
    auth: str = ""  # "sigv4", "bearer", or the exception the request was refused with
    stream: bool = False


# ---------------------------------------------------------------------------------------- server


class FakeBedrock:
    def __init__(
        self,
        models: tuple[str, ...] | list[str] = DEFAULT_MODELS,
        *,
        region: str = "us-east-1",
        access_key: str = ACCESS_KEY,
        secret_key: str = SECRET_KEY,
        session_token: str | None = None,
        api_key: str | None = None,
        chunk_delay: float = 0.0,
        split_frames: bool = True,
    ) -> None:
        self.models, self.region, self.session_token, self.api_key = list(models), region, session_token, api_key
        self.secrets = {access_key: secret_key}
        self.chunk_delay, self.split_frames = chunk_delay, split_frames
        self.script: Script | None = None
        # InvokeModel: whether answers carry the input-token header, a pause per call, and the most calls seen
        # in flight at once (to show a client's calls overlap).
        self.token_header, self.invoke_delay, self.max_in_flight = True, 0.0, 0
        self._in_flight = 0
        self._faults: deque[Fault] = deque()
        self._requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    def start(self) -> FakeBedrock:
        ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, args=(ready,), name="fake-bedrock", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake Bedrock did not start")
        return self

    def _serve(self, ready: threading.Event) -> None:
        assert self._loop is not None
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.2)
        self._loop.run_until_complete(self._runner.setup())
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        self._loop.run_until_complete(site.start())
        self.port = int(self._runner.addresses[0][1])
        ready.set()
        self._loop.run_forever()
        self._loop.close()

    def stop(self) -> None:
        if self._loop is None or self._runner is None or self._thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop = self._runner = self._thread = None

    def __enter__(self) -> FakeBedrock:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def push_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    @property
    def requests(self) -> list[Recorded]:
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> Recorded:
        with self._lock:
            return self._requests[-1]

    def reset(self) -> None:
        with self._lock:
            self._requests.clear()
            self._faults.clear()
        self.script = None
        self.token_header, self.invoke_delay, self.max_in_flight = True, 0.0, 0

    def _take_fault(self) -> Fault | None:
        with self._lock:
            if not self._faults:
                return None
            fault = self._faults[0]
            fault.times -= 1
            if fault.times <= 0:
                self._faults.popleft()
            return fault

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        record = Recorded(
            request.method,
            request.path,
            request.raw_path.split("?")[0],
            {k.lower(): v for k, v in request.headers.items()},
            raw,
        )
        with self._lock:
            self._requests.append(record)
        fault = self._take_fault()
        try:
            if fault is not None and fault.kind == "error":
                raise ApiError(fault.exception, fault.message or MESSAGES.get(fault.exception, fault.exception))
            self._authenticate(request, record)
            parts = record.raw_path.split("/")
            if request.method != "POST" or len(parts) != 4 or parts[1] != "model":
                raise ApiError("UnknownOperationException", "Unknown operation")
            model, operation = unquote(parts[2]), parts[3]
            if operation not in ("converse", "converse-stream", "invoke"):
                raise ApiError("UnknownOperationException", "Unknown operation")
            if model not in (EMBED_MODELS if operation == "invoke" else self.models):
                raise ApiError("ValidationException", "The provided model identifier is invalid.")
            try:
                record.json = json.loads(raw)
            except ValueError:
                raise ApiError("SerializationException", "Malformed JSON body") from None
            if operation == "invoke":
                return await self._invoke(model, record.json)
            blocks, stop, usage = plan(validate(record.json), self.script)
        except ApiError as err:
            return self._error(err, fault)
        record.stream = operation == "converse-stream"
        request_id = str(uuid.uuid4())
        if not record.stream:
            if fault is not None and fault.kind == "drop":
                assert request.transport is not None
                request.transport.close()
            answer = {
                "output": {"message": {"role": "assistant", "content": blocks}},
                "stopReason": stop,
                "usage": usage,
                "metrics": {"latencyMs": 42},
            }
            return web.json_response(answer, headers={"x-amzn-RequestId": request_id})
        return await self._stream(request, stream_frames(blocks, stop, usage), fault, request_id)

    async def _invoke(self, model: str, body: Any) -> web.Response:
        answer, tokens = invoke(model, body)  # raises ApiError for a body the model refuses
        self._in_flight += 1  # the loop is single-threaded: no lock needed between handlers
        self.max_in_flight = max(self.max_in_flight, self._in_flight)
        try:
            if self.invoke_delay:
                await asyncio.sleep(self.invoke_delay)
        finally:
            self._in_flight -= 1
        headers = {"x-amzn-RequestId": str(uuid.uuid4())}
        if self.token_header:
            headers |= {TOKEN_HEADER: str(tokens), "X-Amzn-Bedrock-Output-Token-Count": "0"}
        return web.json_response(answer, headers=headers)

    def _authenticate(self, request: web.Request, record: Recorded) -> None:
        authorization = record.headers.get("authorization", "")
        if self.api_key is not None and authorization.startswith("Bearer "):
            if authorization != f"Bearer {self.api_key}":
                raise ApiError(
                    "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix"
                )
            record.auth = "bearer"
            return
        try:
            verify_sigv4(
                request.method,
                record.raw_path,
                request.query_string,
                record.headers,
                record.raw,
                self.secrets,
                self.region,
                self.session_token,
                time.time(),
            )
        except ApiError as err:
            record.auth = err.exception
            raise
        record.auth = "sigv4"

    def _error(self, err: ApiError, fault: Fault | None) -> web.Response:
        status = STATUS.get(err.exception, 400)
        headers = {
            "x-amzn-RequestId": str(uuid.uuid4()),
            "x-amzn-ErrorType": f"{err.exception}:http://internal.amazon.com/coral/com.amazon.bedrock/",
            **(fault.headers if fault else {}),
        }
        return web.json_response({"message": err.message}, status=status, headers=headers)

    async def _stream(
        self, request: web.Request, frames: list[bytes], fault: Fault | None, request_id: str
    ) -> web.StreamResponse:
        content_type = "text/html" if fault is not None and fault.kind == "wrong_content_type" else EVENTSTREAM
        response = web.StreamResponse(headers={"Content-Type": content_type, "x-amzn-RequestId": request_id})
        await response.prepare(request)
        for n, frame in enumerate(frames):
            if fault is not None and n == fault.after_frames:
                if fault.kind == "exception_event":
                    name = fault.exception
                    await response.write(exception_frame(name, fault.message or MESSAGES.get(name, name)))
                    break
                if fault.kind in ("end_early", "cut"):
                    await response.write(frame[: len(frame) // 2] if fault.kind == "cut" else b"")
                    break
                if fault.kind == "drop":
                    assert request.transport is not None
                    request.transport.close()
                    return response
                if fault.kind == "corrupt":
                    frame = frame[:-1] + bytes([frame[-1] ^ 0xFF])
                if fault.kind == "stall":
                    await asyncio.sleep(fault.delay)
            # Splitting frames into small writes makes the client's decoder see them cut anywhere.
            step = 9 if self.split_frames else len(frame)
            for start in range(0, len(frame), step):
                await response.write(frame[start : start + step])
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
        await response.write_eof()
        return response
