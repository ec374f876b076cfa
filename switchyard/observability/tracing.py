"""OpenTelemetry traces following the GenAI semantic conventions.

Built only when tracing is configured (the ``otel`` extra), so a gateway without it pays nothing. The tracer
provider belongs to the app, never the global one. An ASGI middleware opens a server span per API request,
as a child of the caller's W3C ``traceparent``, and keeps it current while the request (and its stream) runs;
the tracing stage fills it in once the outcome is known.

Each upstream attempt gets a live client span, a child of the server span: the tracing stage hangs an
``AttemptSpans`` observer on the request's executor trace, which starts a span when the executor starts an
attempt (hedges included) and ends it when the attempt ends, or for a stream that answered, when the stream
ends or fails. Routing only sees the observer protocol of ``routing.trace``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchyard.routing.trace import Attempt, Trace
from switchyard.types.chat import Usage

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Operator endpoints are not worth a span each (probes and scrapes arrive every few seconds).
_UNTRACED = ("/health", "/metrics", "/ui")
_OPERATIONS = {"/v1/chat/completions": "chat", "/v1/messages": "chat", "/v1/embeddings": "embeddings"}


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    """What a deployment id stands for, for span attributes."""

    provider: str
    model: str
    # Host and port of the upstream origin (never its credentials, path or query); None for a provider default.
    address: str | None = None
    port: int | None = None


class Tracing:
    def __init__(
        self,
        deployments: Mapping[str, UpstreamModel],
        *,
        service_name: str = "switchyard",
        otlp_endpoint: str | None = None,
        otlp_headers: Mapping[str, str] | None = None,
        exporter: SpanExporter | None = None,
    ) -> None:
        """``exporter`` is exported to synchronously (tests pass an in-memory one); the OTLP exporter in batches."""
        self._deployments = dict(deployments)
        self.provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
        if exporter is not None:
            self.provider.add_span_processor(SimpleSpanProcessor(exporter))
        if otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            # Batched on the SDK's own thread: exporting never happens on the request path.
            otlp = OTLPSpanExporter(endpoint=otlp_endpoint, headers=dict(otlp_headers or {}))
            self.provider.add_span_processor(BatchSpanProcessor(otlp))
        self.tracer = self.provider.get_tracer("switchyard")
        self._propagator = TraceContextTextMapPropagator()

    def middleware(self, app: ASGIApp) -> ASGIApp:
        tracer, propagator = self.tracer, self._propagator

        async def traced(scope: Scope, receive: Receive, send: Send) -> None:
            path: str = scope.get("path", "")
            if scope["type"] != "http" or path.startswith(_UNTRACED):
                await app(scope, receive, send)
                return
            carrier = {}
            for name, value in scope["headers"]:
                if name in (b"traceparent", b"tracestate"):
                    carrier[name.decode("latin-1")] = value.decode("latin-1")
            parent = propagator.extract(carrier) if carrier else None
            attributes = {"http.request.method": scope.get("method", ""), "url.path": path}
            span = tracer.start_span(f"{scope.get('method', '')} {path}", parent, SpanKind.SERVER, attributes)
            token = otel_context.attach(trace.set_span_in_context(span))
            status = {"code": 500}

            async def send_status(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status["code"] = message["status"]
                await send(message)

            try:
                await app(scope, receive, send_status)
            finally:
                span.set_attribute("http.response.status_code", status["code"])
                if status["code"] >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                otel_context.detach(token)
                span.end()

        return traced

    def observe(self, trace_: Trace, endpoint: str) -> None:
        """Give the request's executor trace live attempt spans under the current server span (if recording)."""
        parent = trace.get_current_span()
        if parent.is_recording():
            trace_.observer = AttemptSpans(self.tracer, self._deployments, parent, _OPERATIONS.get(endpoint, "chat"))

    def record(
        self,
        *,
        request_id: str,
        endpoint: str,
        group: str | None,
        started_wall: float,
        status: int,
        error_code: str | None,
        usage: Usage | None,
        cost_usd: float | None,
        cache_status: str | None,
        ttft_ms: float | None,
        trace_: Trace,
    ) -> None:
        """Fill in the current server span (a no-op outside one); end attempt spans the request left open."""
        if isinstance(trace_.observer, AttemptSpans):
            trace_.observer.close()
        span = trace.get_current_span()
        if not span.is_recording():
            return
        operation = _OPERATIONS.get(endpoint, "chat")
        served = self._deployments.get(trace_.deployment) if trace_.deployment else None
        attributes: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": operation,
            "switchyard.request_id": request_id,
            "switchyard.attempts": len(trace_.attempts),
        }
        if group is not None:
            attributes["gen_ai.request.model"] = group
            span.update_name(f"{operation} {group}")
        if served is not None and trace_.deployment is not None:
            attributes.update(_provider(served))
            attributes["gen_ai.response.model"] = served.model
            attributes["switchyard.deployment"] = trace_.deployment
        if usage is not None:
            attributes["gen_ai.usage.input_tokens"] = usage.prompt_tokens
            attributes["gen_ai.usage.output_tokens"] = usage.completion_tokens
        if cost_usd is not None:
            attributes["switchyard.cost_usd"] = cost_usd
        if cache_status is not None:
            attributes["switchyard.cache_status"] = cache_status
        if ttft_ms is not None:
            attributes["switchyard.ttft_ms"] = ttft_ms
        if trace_.fallbacks:
            attributes["switchyard.fallbacks"] = ",".join(trace_.fallbacks)
        if trace_.attempts:
            attributes["switchyard.route"] = trace_.summary()
        if error_code is not None:
            attributes["error.type"] = error_code
        span.set_attributes(attributes)

    def shutdown(self) -> None:
        self.provider.shutdown()


def _provider(upstream: UpstreamModel) -> dict[str, str | int | float | bool]:
    # gen_ai.system is the older name of gen_ai.provider.name; both, so current and older backends read it.
    return {"gen_ai.provider.name": upstream.provider, "gen_ai.system": upstream.provider}


class AttemptSpans:
    """The routing.trace observer: one live client span per upstream attempt of one request."""

    __slots__ = ("_tracer", "_deployments", "_context", "_operation", "_number", "_running", "_streaming")

    def __init__(self, tracer: Tracer, deployments: Mapping[str, UpstreamModel], parent: Span, operation: str) -> None:
        self._tracer = tracer
        self._deployments = deployments
        # Captured now: hedged attempts run in their own tasks, and a stream outlives the handler's context.
        self._context = trace.set_span_in_context(parent)
        self._operation = operation
        self._number = 0
        # A deployment has at most one attempt in flight per request (a hedge always picks another one).
        self._running: dict[str, Span] = {}
        self._streaming: dict[str, Span] = {}

    def attempt_started(self, deployment: str, group: str) -> None:
        self._running[deployment] = self._start(deployment, group)

    def attempt_ended(self, attempt: Attempt, *, streaming: bool) -> None:
        span = self._running.pop(attempt.deployment, None)
        if span is None:  # refused before the call went out (the request's deadline had passed)
            span = self._start(attempt.deployment, attempt.group)
        if attempt.hedge:
            span.set_attribute("switchyard.hedge", True)
        if streaming and attempt.error is None:
            self._streaming[attempt.deployment] = span
        else:
            _end(span, attempt.error)

    def stream_ended(self, deployment: str, error: str | None) -> None:
        span = self._streaming.pop(deployment, None)
        if span is not None:
            _end(span, error)

    def close(self) -> None:
        """At the request's end: whatever is still open was abandoned (the client went away)."""
        for span in (*self._running.values(), *self._streaming.values()):
            _end(span, "cancelled")
        self._running.clear()
        self._streaming.clear()

    def _start(self, deployment: str, group: str | None) -> Span:
        self._number += 1
        upstream = self._deployments.get(deployment)
        attributes: dict[str, str | int | float | bool] = {
            "gen_ai.operation.name": self._operation,
            "switchyard.deployment": deployment,
            "switchyard.attempt": self._number,
        }
        if group:
            attributes["switchyard.group"] = group
        if upstream is not None:
            attributes.update(_provider(upstream))
            attributes["gen_ai.request.model"] = upstream.model
            if upstream.address is not None:
                attributes["server.address"] = upstream.address
                if upstream.port is not None:
                    attributes["server.port"] = upstream.port
        name = f"{self._operation} {upstream.model if upstream else deployment}"
        return self._tracer.start_span(name, self._context, SpanKind.CLIENT, attributes)


def _end(span: Span, error: str | None) -> None:
    if error is not None:
        span.set_attribute("error.type", error)
        span.set_status(Status(StatusCode.ERROR, error))
    span.end()
