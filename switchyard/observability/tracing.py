"""OpenTelemetry traces following the GenAI semantic conventions.

Built only when tracing is configured (the ``otel`` extra), so a gateway without it pays nothing. The tracer
provider belongs to the app, never the global one. An ASGI middleware opens a server span per API request,
as a child of the caller's W3C ``traceparent``, and keeps it current while the request (and its stream) runs;
the tracing stage fills it in once the outcome is known, and adds a client span per upstream attempt.

Attempt spans are reconstructed from the executor's trace (deployment, duration, error), laid end to end from
the request's start: the durations are exact, the start offsets are approximate (backoff pauses are not
recorded), which the attribute ``switchyard.timing = "reconstructed"`` says.
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
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from switchyard.routing.trace import Trace
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
        """Fill in the current server span (a no-op outside one) and add a client span per upstream attempt."""
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
        self._attempt_spans(span, operation, group, started_wall, trace_)

    def _attempt_spans(self, parent: Span, operation: str, group: str | None, started: float, trace_: Trace) -> None:
        context = trace.set_span_in_context(parent)
        at = int(started * 1e9)
        for number, attempt in enumerate(trace_.attempts, 1):
            upstream = self._deployments.get(attempt.deployment)
            attributes: dict[str, str | int | float | bool] = {
                "gen_ai.operation.name": operation,
                "switchyard.deployment": attempt.deployment,
                "switchyard.attempt": number,
                "switchyard.timing": "reconstructed",
            }
            if upstream is not None:
                attributes.update(_provider(upstream))
                attributes["gen_ai.request.model"] = upstream.model
            if attempt.group or group:
                attributes["switchyard.group"] = attempt.group or group or ""
            if attempt.hedge:
                attributes["switchyard.hedge"] = True
            if attempt.error:
                attributes["error.type"] = attempt.error
            name = f"{operation} {upstream.model if upstream else attempt.deployment}"
            duration = int(attempt.ms * 1e6)
            # A hedge ran beside the attempt before it, so it does not push the clock on.
            start = at - duration if attempt.hedge else at
            span = self.tracer.start_span(name, context, SpanKind.CLIENT, attributes, start_time=max(start, 0))
            if attempt.error:
                span.set_status(Status(StatusCode.ERROR, attempt.error))
            span.end(end_time=start + duration)
            if not attempt.hedge:
                at += duration

    def shutdown(self) -> None:
        self.provider.shutdown()


def _provider(upstream: UpstreamModel) -> dict[str, str | int | float | bool]:
    # gen_ai.system is the older name of gen_ai.provider.name; both, so current and older backends read it.
    return {"gen_ai.provider.name": upstream.provider, "gen_ai.system": upstream.provider}
