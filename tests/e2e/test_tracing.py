"""OpenTelemetry traces: a server span per request (GenAI conventions) under the caller's traceparent, a live
client span per upstream attempt (started and ended as the attempt runs), and OTLP export. In-process:
create_app with an in-memory exporter, the official SDK talking to it through httpx's ASGI transport."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI, NotFoundError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from starlette.applications import Starlette
from starlette.testclient import TestClient

from switchyard.config.schema import Config
from switchyard.server.app import create_app
from switchyard.server.fast import FastPaths
from tests.gateway_process import free_port

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
MESSAGES: Any = [{"role": "user", "content": "hello"}]


def make_config(tmp: Path, **observability: Any) -> Config:
    return Config.model_validate(
        {
            "server": {"data_dir": str(tmp), "request_log": False},
            "router": {"num_retries": 0},
            "observability": observability,
            "model_groups": {
                "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
                "flaky": {
                    "deployments": [
                        {
                            "provider": "openai_compatible",
                            "model": "upstream-m",
                            "api_key": "k",
                            # A query in the URL, which must never reach a span.
                            "api_base": f"http://127.0.0.1:{free_port()}/v1?token=s3cret",
                        }
                    ],
                    "fallbacks": {"default": ["demo"]},
                },
            },
        }
    )


@pytest.fixture
def traced(tmp_path: Path) -> Iterator[tuple[AsyncOpenAI, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    app = create_app(make_config(tmp_path), span_exporter=exporter)
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway")
    yield AsyncOpenAI(base_url="http://gateway/v1", api_key="unused", http_client=http, max_retries=0), exporter


def server_span(exporter: InMemorySpanExporter) -> ReadableSpan:
    (span,) = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.SERVER]
    return span


def attempts(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    found = [s for s in exporter.get_finished_spans() if s.kind is SpanKind.CLIENT]
    return sorted(found, key=lambda s: s.attributes["switchyard.attempt"] if s.attributes else 0)


def test_server_span_continues_the_callers_trace_with_genai_attributes(
    traced: tuple[AsyncOpenAI, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    reply = asyncio.run(
        client.chat.completions.create(model="demo", messages=MESSAGES, extra_headers={"traceparent": TRACEPARENT})
    )
    span = server_span(exporter)
    assert span.context is not None and f"{span.context.trace_id:032x}" == TRACE_ID
    assert span.parent is not None and f"{span.parent.span_id:016x}" == PARENT_ID
    assert span.name == "chat demo"
    attributes = dict(span.attributes or {})
    assert reply.usage is not None
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "demo"
    assert attributes["gen_ai.response.model"] == "demo-1"
    assert attributes["gen_ai.provider.name"] == "demo"
    assert attributes["gen_ai.usage.input_tokens"] == reply.usage.prompt_tokens
    assert attributes["gen_ai.usage.output_tokens"] == reply.usage.completion_tokens == 24
    assert attributes["switchyard.cost_usd"] == 0.0
    assert attributes["switchyard.deployment"] == "demo/0"
    assert attributes["http.response.status_code"] == 200
    (attempt,) = attempts(exporter)
    assert attempt.parent is not None and span.context is not None
    assert attempt.parent.span_id == span.context.span_id
    assert attempt.attributes is not None and attempt.attributes["gen_ai.request.model"] == "demo-1"
    assert attempt.attributes["gen_ai.provider.name"] == "demo" and attempt.attributes["switchyard.attempt"] == 1
    assert "switchyard.timing" not in attempt.attributes  # live, no longer reconstructed afterwards
    assert_within(attempt, span)


def assert_within(attempt: ReadableSpan, server: ReadableSpan) -> None:
    assert attempt.start_time is not None and attempt.end_time is not None
    assert server.start_time is not None and server.end_time is not None
    assert server.start_time <= attempt.start_time <= attempt.end_time <= server.end_time


def test_without_traceparent_a_new_trace_starts(traced: tuple[AsyncOpenAI, InMemorySpanExporter]) -> None:
    client, exporter = traced
    asyncio.run(client.chat.completions.create(model="demo", messages=MESSAGES))
    span = server_span(exporter)
    assert span.parent is None and span.context is not None and f"{span.context.trace_id:032x}" != TRACE_ID


def test_stream_span_ends_with_the_stream_and_has_its_usage(traced: tuple[AsyncOpenAI, InMemorySpanExporter]) -> None:
    client, exporter = traced

    async def run() -> int:
        chunks = 0
        stream = await client.chat.completions.create(
            model="demo", messages=MESSAGES, stream=True, extra_headers={"traceparent": TRACEPARENT}
        )
        async for _ in stream:
            chunks += 1
        return chunks

    assert asyncio.run(run()) > 1
    attributes = dict(server_span(exporter).attributes or {})
    assert attributes["gen_ai.usage.output_tokens"] == 24
    assert "switchyard.ttft_ms" in attributes


def test_a_streamed_attempt_span_lasts_until_the_stream_ends(tmp_path: Path) -> None:
    # Straight over ASGI, because httpx's ASGI transport buffers a whole response: the first body frame the
    # gateway sends is watched as it leaves, and at that moment the attempt must still be running.
    exporter = InMemorySpanExporter()
    app = create_app(make_config(tmp_path), span_exporter=exporter)
    body = json.dumps({"model": "demo", "messages": MESSAGES, "stream": True}).encode()
    seen: dict[str, int] = {}
    requests = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive() -> dict[str, Any]:
        if requests:
            return requests.pop()
        await asyncio.Event().wait()  # no disconnect: the gateway ends the exchange
        raise AssertionError

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body" and message.get("body") and "first" not in seen:
            seen["first"] = time.time_ns()
            seen["finished_attempts"] = len(attempts(exporter))

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/chat/completions",
        "raw_path": b"/v1/chat/completions",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"content-type", b"application/json"), (b"host", b"gateway")],
        "client": ("127.0.0.1", 1),
        "server": ("gateway", 80),
    }
    asyncio.run(app(scope, receive, send))
    (attempt,) = attempts(exporter)
    assert seen["finished_attempts"] == 0
    assert attempt.end_time is not None and attempt.end_time > seen["first"]
    assert attempt.attributes is not None and "error.type" not in attempt.attributes
    assert_within(attempt, server_span(exporter))


def test_each_upstream_attempt_is_a_client_span_and_fallbacks_are_recorded(
    traced: tuple[AsyncOpenAI, InMemorySpanExporter],
) -> None:
    client, exporter = traced
    asyncio.run(client.chat.completions.create(model="flaky", messages=MESSAGES))
    failed, served = attempts(exporter)
    assert failed.attributes is not None and served.attributes is not None
    assert failed.attributes["switchyard.deployment"] == "flaky/0"
    assert failed.attributes["gen_ai.request.model"] == "upstream-m"
    assert failed.attributes["error.type"] and failed.status.status_code is StatusCode.ERROR
    assert served.attributes["switchyard.deployment"] == "demo/0" and "error.type" not in served.attributes
    assert failed.end_time is not None and served.start_time is not None and failed.end_time <= served.start_time
    assert failed.attributes["server.address"] == "127.0.0.1" and "server.port" in failed.attributes
    assert failed.attributes["switchyard.attempt"] == 1 and served.attributes["switchyard.attempt"] == 2
    assert served.attributes["switchyard.group"] == "demo"
    assert not any("s3cret" in str(value) for value in failed.attributes.values())
    server = server_span(exporter)
    assert_within(failed, server)
    assert_within(served, server)
    attributes = dict(server_span(exporter).attributes or {})
    assert attributes["switchyard.attempts"] == 2
    assert str(attributes["switchyard.fallbacks"]).startswith("flaky>demo:")


def test_refused_requests_are_traced_with_their_error(traced: tuple[AsyncOpenAI, InMemorySpanExporter]) -> None:
    client, exporter = traced
    with pytest.raises(NotFoundError):
        asyncio.run(client.chat.completions.create(model="missing", messages=MESSAGES))
    attributes = dict(server_span(exporter).attributes or {})
    assert attributes["error.type"] == "model_not_found"
    assert attributes["http.response.status_code"] == 404
    assert attempts(exporter) == []


def test_embeddings_are_their_own_operation(traced: tuple[AsyncOpenAI, InMemorySpanExporter]) -> None:
    client, exporter = traced
    asyncio.run(client.embeddings.create(model="demo", input="hello"))
    span = server_span(exporter)
    assert span.name == "embeddings demo"


def test_no_tracing_configured_means_no_middleware_and_no_spans(tmp_path: Path) -> None:
    app = create_app(make_config(tmp_path))
    assert isinstance(app, FastPaths)  # the gateway's own front, not the tracing middleware
    assert isinstance(app.inner, Starlette) and app.inner.user_middleware == []


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = self.rfile.read(int(self.headers["content-length"]))
        self.received.append((self.path, self.headers["content-type"], body))
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return None


def test_spans_are_exported_over_otlp_http(tmp_path: Path) -> None:
    collector = HTTPServer(("127.0.0.1", 0), _Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{collector.server_address[1]}/v1/traces"
    try:
        app = create_app(make_config(tmp_path, otlp_endpoint=endpoint, service_name="gw-under-test"))
        with TestClient(app) as client:  # leaving it runs the shutdown, which flushes the batch of spans
            answer = client.post(
                "/v1/chat/completions",
                json={"model": "demo", "messages": MESSAGES},
                headers={"traceparent": TRACEPARENT},
            )
            assert answer.status_code == 200
    finally:
        collector.shutdown()
    assert _Collector.received
    path, content_type, body = _Collector.received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    export = ExportTraceServiceRequest.FromString(body)
    resource = export.resource_spans[0]
    service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
    spans = [span for scope in resource.scope_spans for span in scope.spans]
    assert service == "gw-under-test"
    assert {span.name for span in spans} >= {"chat demo", "chat demo-1"}
    assert all(span.trace_id.hex() == TRACE_ID for span in spans)
