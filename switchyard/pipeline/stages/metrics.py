"""Observability stages: Prometheus metrics, the dashboard's recent-traffic summary, and trace attributes.

All the work happens in ``after``, once the outcome is known; ``before`` does nothing, so a refused request is
still counted (``after`` runs for it too, with whatever state the earlier stages left).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from switchyard.observability.build import Observability
from switchyard.observability.metrics import GatewayMetrics
from switchyard.observability.summary import RecentTraffic
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.stage import Stage

if TYPE_CHECKING:
    # Only for the annotation: tracing needs the optional OpenTelemetry packages, metrics must not.
    from switchyard.observability.tracing import Tracing


class MetricsStage:
    def __init__(self, metrics: GatewayMetrics | None, recent: RecentTraffic | None = None) -> None:
        self._metrics = metrics
        self._recent = recent

    async def before(self, ctx: RequestContext) -> None:
        return None

    def after(self, ctx: RequestContext) -> None:
        latency_ms = ctx.elapsed_ms()
        usage = ctx.usage
        if self._metrics is not None:
            self._metrics.observe(
                group=ctx.model_group,
                endpoint=ctx.endpoint,
                status=ctx.status,
                error_code=ctx.error_code,
                latency_s=latency_ms / 1000,
                ttft_s=ctx.ttft_ms / 1000 if ctx.ttft_ms is not None else None,
                usage=usage,
                cost_usd=ctx.cost_usd,
                cache_status=ctx.cache_status,
                trace=ctx.trace,
                decision=ctx.decision,
            )
        if self._recent is not None:
            self._recent.record(
                status=ctx.status,
                latency_ms=latency_ms,
                prompt_tokens=usage.prompt_tokens if usage else 0,
                completion_tokens=usage.completion_tokens if usage else 0,
                cost_usd=ctx.cost_usd,
                cache_status=ctx.cache_status,
            )


class TracingStage:
    """Puts the outcome on the request's server span; only built when tracing is configured."""

    def __init__(self, tracing: Tracing) -> None:
        self._tracing = tracing

    async def before(self, ctx: RequestContext) -> None:
        self._tracing.observe(ctx.trace, ctx.endpoint)  # live attempt spans, before the executor runs

    def after(self, ctx: RequestContext) -> None:
        self._tracing.record(
            request_id=ctx.request_id,
            endpoint=ctx.endpoint,
            group=ctx.model_group,
            started_wall=ctx.started_wall,
            status=ctx.status,
            error_code=ctx.error_code,
            usage=ctx.usage,
            cost_usd=ctx.cost_usd,
            cache_status=ctx.cache_status,
            ttft_ms=ctx.ttft_ms,
            trace_=ctx.trace,
        )


def observability_stages(observe: Observability) -> list[Stage]:
    """The stages ``create_app`` puts right after the request log (so their ``after`` runs late, seeing the cost)."""
    stages: list[Stage] = [MetricsStage(observe.metrics, observe.recent)]
    if observe.tracing is not None:
        stages.append(TracingStage(observe.tracing))
    return stages
