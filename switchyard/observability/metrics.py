"""Prometheus metrics for the gateway, on a registry of their own (never the process-global default one).

Cardinality is bounded by construction: label values are the configured model group and deployment names, the
gateway's own endpoints, HTTP statuses and error codes from the error tree. Anything else (a model name a client
made up, a key, a prompt) is folded into ``_other`` or never becomes a label at all.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from switchyard.routing.trace import Trace
from switchyard.types.chat import Usage
from switchyard.types.health import BreakerState, DeploymentHealth

if TYPE_CHECKING:
    from switchyard.routing.router_group import Decision

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
OTHER = "_other"
NONE = ""
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
_CACHE_STATUSES = frozenset({"hit", "miss", "semantic-hit", "bypass"})
_ROUTE_REASONS = frozenset({"router", "capability", "shadow", "cascade", "bypass"})
_BREAKER_STATES = tuple(BreakerState)
# Upstream rate limits are upstream behaviour; every other 429 is the gateway refusing (rate limit, quota, budget).
_UPSTREAM_RATE_LIMITED = "upstream_rate_limited"

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Router group -> (the threshold its configured share uses right now, where it came from: live | file).
Thresholds = Callable[[], dict[str, tuple[float, str]]]
# (cascade group, stage member) -> (its acceptance threshold now, where it came from: fixed | live | warming_up).
StageThresholds = Callable[[], dict[tuple[str, str], tuple[float, str]]]


@dataclass(frozen=True, slots=True)
class DeploymentRef:
    group: str
    deployment: str


class _Scrape(Collector):
    """Values read at scrape time: breaker state and load per deployment, the log writer's queue."""

    def __init__(
        self,
        deployments: Sequence[DeploymentRef],
        health: Callable[[str], DeploymentHealth] | None,
        queue_depth: Callable[[], int] | None,
        dropped: Callable[[], int] | None,
        thresholds: Thresholds | None = None,
        stage_thresholds: StageThresholds | None = None,
    ) -> None:
        self._deployments = deployments
        self._stage_thresholds = stage_thresholds
        self._health = health
        self._queue_depth = queue_depth
        self._dropped = dropped
        self._thresholds = thresholds

    def collect(self) -> Iterator[Metric]:
        if self._health is not None:
            yield from self._deployment_families(self._health)
        if self._thresholds is not None:
            found = self._thresholds()
            if found:
                family = GaugeMetricFamily(
                    "switchyard_router_threshold",
                    "Score threshold of each two-member router group at its configured strong share, and whether "
                    "it comes from recent traffic (live) or the router file (file).",
                    labels=["group", "calibration"],
                )
                for group, (threshold, source) in found.items():
                    family.add_metric([group, source], threshold)
                yield family
        if self._stage_thresholds is not None and (stages := self._stage_thresholds()):
            family = GaugeMetricFamily(
                "switchyard_cascade_threshold",
                "Acceptance threshold of each cascade stage (a member but the last), and whether it is configured "
                "(fixed), taken from recent answers (live) or configured until the live window warms up (warming_up).",
                labels=["group", "stage", "calibration"],
            )
            for (group, stage), (threshold, source) in stages.items():
                family.add_metric([group, stage, source], threshold)
            yield family
        if self._queue_depth is not None:
            depth = GaugeMetricFamily(
                "switchyard_log_queue_depth", "Request-log records accepted but not yet written to storage."
            )
            depth.add_metric([], float(self._queue_depth()))
            yield depth
        if self._dropped is not None:
            # A gauge rather than a counter family: the writer owns the number, we only read it.
            dropped = GaugeMetricFamily(
                "switchyard_log_dropped_records", "Request-log records refused because the writer queue was full."
            )
            dropped.add_metric([], float(self._dropped()))
            yield dropped

    def _deployment_families(self, health: Callable[[str], DeploymentHealth]) -> Iterator[Metric]:
        labels = ["group", "deployment"]
        state = GaugeMetricFamily(
            "switchyard_breaker_state",
            "Circuit breaker state per deployment (1 for the current state).",
            labels=[*labels, "state"],
        )
        in_flight = GaugeMetricFamily("switchyard_deployment_in_flight", "Requests in flight.", labels=labels)
        latency = GaugeMetricFamily(
            "switchyard_deployment_latency_ewma_seconds", "Moving average of plain-response latency.", labels=labels
        )
        ttft = GaugeMetricFamily(
            "switchyard_deployment_ttft_ewma_seconds", "Moving average of stream time to first token.", labels=labels
        )
        failures = GaugeMetricFamily(
            "switchyard_deployment_consecutive_failures", "Failed attempts in a row.", labels=labels
        )
        for ref in self._deployments:
            h = health(ref.deployment)
            values = [ref.group, ref.deployment]
            for candidate in _BREAKER_STATES:
                state.add_metric([*values, candidate.value], 1.0 if h.state is candidate else 0.0)
            in_flight.add_metric(values, float(h.in_flight))
            failures.add_metric(values, float(h.consecutive_failures))
            if h.latency_ms is not None:
                latency.add_metric(values, h.latency_ms / 1000)
            if h.ttft_ms is not None:
                ttft.add_metric(values, h.ttft_ms / 1000)
        yield from (state, in_flight, latency, ttft, failures)


class GatewayMetrics:
    """The gateway's counters and histograms. ``observe`` is called once per request, after the response."""

    def __init__(
        self,
        deployments: Iterable[DeploymentRef],
        *,
        groups: Iterable[str] = (),
        health: Callable[[str], DeploymentHealth] | None = None,
        queue_depth: Callable[[], int] | None = None,
        dropped: Callable[[], int] | None = None,
        thresholds: Thresholds | None = None,
        stage_thresholds: StageThresholds | None = None,
    ) -> None:
        refs = list(deployments)
        self.registry = CollectorRegistry()
        self._groups = frozenset(ref.group for ref in refs) | frozenset(groups)
        self._deployments = frozenset(ref.deployment for ref in refs)
        registry = self.registry
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        self._requests = Counter(
            "switchyard_requests",
            "Requests answered, by model group, serving deployment, endpoint and status.",
            ["group", "deployment", "endpoint", "status"],
            registry=registry,
        )
        self._latency = Histogram(
            "switchyard_request_duration_seconds",
            "Time from request to the end of the response.",
            ["group", "deployment"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._ttft = Histogram(
            "switchyard_time_to_first_token_seconds",
            "Streams: time from request to the first token.",
            ["group", "deployment"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self._tokens = Counter(
            "switchyard_tokens",
            "Tokens in (prompt) and out (completion).",
            ["group", "deployment", "direction"],
            registry=registry,
        )
        self._cost = Counter(
            "switchyard_cost_usd",
            "Spend in USD, as priced by the gateway.",
            ["group", "deployment"],
            registry=registry,
        )
        self._cache = Counter(
            "switchyard_cache_lookups",
            "Cache outcomes by kind (hit, semantic-hit, miss, bypass).",
            ["group", "status"],
            registry=registry,
        )
        self._attempts = Counter(
            "switchyard_upstream_attempts",
            "Calls to upstream deployments, by outcome (ok or the error code).",
            ["group", "deployment", "outcome"],
            registry=registry,
        )
        self._retries = Counter(
            "switchyard_retries",
            "Upstream attempts beyond the first within one request.",
            ["group"],
            registry=registry,
        )
        self._fallbacks = Counter(
            "switchyard_fallbacks",
            "Moves from a model group to a fallback group, by error class.",
            ["from_group", "to_group", "reason"],
            registry=registry,
        )
        self._rejections = Counter(
            "switchyard_rate_limit_rejections",
            "Requests the gateway refused with 429 (limits, quotas, budgets).",
            ["group", "code"],
            registry=registry,
        )
        self._routes = Counter(
            "switchyard_router_decisions",
            "Router group decisions: the member chosen, why (router, capability, shadow, cascade, bypass) and, in "
            "shadow mode, the member the router would have chosen.",
            ["group", "chosen", "reason", "shadow"],
            registry=registry,
        )
        self._scrape = _Scrape(refs, health, queue_depth, dropped, thresholds, stage_thresholds)
        registry.register(self._scrape)

    def _child(self, metric: Counter | Histogram, *values: str) -> Any:
        # ``labels()`` validates and locks on every call; label values are bounded, so keep the children.
        key = (id(metric), values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def group_label(self, name: str | None) -> str:
        if name is None:
            return NONE
        return name if name in self._groups else OTHER

    def deployment_label(self, name: str | None) -> str:
        if name is None:
            return NONE
        return name if name in self._deployments else OTHER

    def observe(
        self,
        *,
        group: str | None,
        endpoint: str,
        status: int,
        error_code: str | None,
        latency_s: float,
        ttft_s: float | None,
        usage: Usage | None,
        cost_usd: float | None,
        cache_status: str | None,
        trace: Trace,
        decision: Decision | None = None,
    ) -> None:
        group_label = self.group_label(group)
        served = trace.deployment or (trace.attempts[-1].deployment if trace.attempts else None)
        deployment = self.deployment_label(served)
        self._child(self._requests, group_label, deployment, endpoint, str(status)).inc()
        self._child(self._latency, group_label, deployment).observe(latency_s)
        if ttft_s is not None:
            self._child(self._ttft, group_label, deployment).observe(ttft_s)
        if usage is not None:
            self._child(self._tokens, group_label, deployment, "input").inc(usage.prompt_tokens)
            self._child(self._tokens, group_label, deployment, "output").inc(usage.completion_tokens)
        if cost_usd:
            self._child(self._cost, group_label, deployment).inc(cost_usd)
        if cache_status is not None:
            self._child(self._cache, group_label, cache_status if cache_status in _CACHE_STATUSES else OTHER).inc()
        if trace.attempts:
            self._observe_attempts(group_label, trace)
        for move in trace.fallbacks:
            self._observe_fallback(move)
        if status == 429 and error_code != _UPSTREAM_RATE_LIMITED:
            self._child(self._rejections, group_label, _code_label(error_code)).inc()
        if decision is not None:
            reason = decision.reason if decision.reason in _ROUTE_REASONS else OTHER
            chosen, shadow = self.group_label(decision.chosen), self.group_label(decision.shadow)
            self._child(self._routes, self.group_label(decision.group), chosen, reason, shadow).inc()

    def _observe_attempts(self, group_label: str, trace: Trace) -> None:
        for attempt in trace.attempts:
            label = self.group_label(attempt.group) if attempt.group else group_label
            outcome = _code_label(attempt.error) if attempt.error else "ok"
            self._child(self._attempts, label, self.deployment_label(attempt.deployment), outcome).inc()
        if len(trace.attempts) > 1:
            self._child(self._retries, group_label).inc(len(trace.attempts) - 1)

    def _observe_fallback(self, move: str) -> None:
        # "from>to:reason", written by the executor.
        groups, _, reason = move.partition(":")
        source, _, target = groups.partition(">")
        self._child(self._fallbacks, self.group_label(source), self.group_label(target), _code_label(reason)).inc()

    def render(self) -> bytes:
        """The text exposition format, for GET /metrics.

        With several worker processes (``PROMETHEUS_MULTIPROC_DIR`` set by ``switchyard serve --workers``), every
        worker writes its counters and histograms to files in that folder, and a scrape, whichever worker answers
        it, sums them all; the scrape-time gauges (breakers, log queue) are the answering worker's own.
        """
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            registry.register(self._scrape)
            return generate_latest(registry)
        return generate_latest(self.registry)


def _code_label(code: str | None) -> str:
    # Codes come from the error tree; the check only guards against a free-form string ever becoming a label.
    if not code or len(code) > 48 or not code.replace("_", "").replace("-", "").isalnum():
        return OTHER
    return code
