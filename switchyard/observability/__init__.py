"""Observability: Prometheus metrics, OpenTelemetry traces, structured logs and the recent-traffic summary.

Everything here is built by ``create_app`` and passed down; nothing registers itself globally (the metrics use
their own ``CollectorRegistry``, the tracer its own ``TracerProvider``).
"""
