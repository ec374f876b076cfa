"""Build the observability parts a config asks for; called by ``create_app``, which owns the results."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from switchyard.config.schema import Config
from switchyard.errors import ConfigError
from switchyard.observability.metrics import DeploymentRef, GatewayMetrics, StageThresholds, Thresholds
from switchyard.observability.summary import RecentTraffic
from switchyard.routing.health import Health
from switchyard.routing.target import Group
from switchyard.storage.protocols import LogSink

if TYPE_CHECKING:
    from switchyard.observability.tracing import Tracing


@dataclass(slots=True)
class Observability:
    metrics: GatewayMetrics | None
    recent: RecentTraffic
    tracing: Tracing | None

    def close(self) -> None:
        if self.tracing is not None:
            self.tracing.shutdown()  # flushes spans still waiting in the batch processor


def build_observability(
    config: Config,
    groups: dict[str, Group],
    sink: LogSink,
    health: Callable[[], Health],
    span_exporter: Any = None,
    thresholds: Thresholds | None = None,
    stage_thresholds: StageThresholds | None = None,
) -> Observability:
    """``health`` is called at scrape time (the executor that owns it is built after the stages), and so is
    ``thresholds`` (router groups' live thresholds; the router groups are built after the stages too).
    ``span_exporter``: an OpenTelemetry ``SpanExporter`` to send every span to (tests pass an in-memory one)."""
    settings = config.observability
    metrics = None
    if settings.metrics:
        refs = [DeploymentRef(name, target.id) for name, group in groups.items() for target in group.targets]
        metrics = GatewayMetrics(
            refs,
            groups=[*groups, *config.model_groups],  # router groups have no deployments but still label requests
            health=lambda deployment: health().record(deployment),
            queue_depth=lambda: sink.depth,
            dropped=(lambda: int(getattr(sink, "dropped", 0))) if hasattr(sink, "dropped") else None,
            thresholds=thresholds,
            stage_thresholds=stage_thresholds,
        )
    tracing = None
    if settings.tracing or settings.otlp_endpoint or span_exporter is not None:
        tracing = _tracing(config, groups, span_exporter)
    return Observability(metrics, RecentTraffic(), tracing)


def _tracing(config: Config, groups: dict[str, Group], exporter: Any) -> Tracing:
    try:
        from switchyard.observability.tracing import Tracing, UpstreamModel
    except ImportError:
        raise ConfigError(
            "observability.tracing",
            "tracing needs the OpenTelemetry SDK, which is not installed",
            "pip install 'switchyard[otel]', or set observability.tracing: false and remove otlp_endpoint",
        ) from None
    settings = config.observability
    deployments = {
        target.id: UpstreamModel(target.config.provider, target.config.model, *_origin(target.config.api_base))
        for group in groups.values()
        for target in group.targets
    }
    return Tracing(
        deployments,
        service_name=settings.service_name,
        otlp_endpoint=settings.otlp_endpoint,
        otlp_headers=settings.otlp_headers,
        exporter=exporter,
    )


def _origin(api_base: str | None) -> tuple[str | None, int | None]:
    """Host and port only: an api_base may carry credentials or a query string, which must not reach a span."""
    if api_base is None:
        return None, None
    parts = urlsplit(api_base)
    return parts.hostname, parts.port
