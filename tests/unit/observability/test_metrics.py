"""GatewayMetrics: counters move, labels stay bounded, scrape-time gauges read live state."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from switchyard.observability.metrics import DeploymentRef, GatewayMetrics
from switchyard.routing.trace import Attempt, Trace
from switchyard.types.chat import Usage
from switchyard.types.health import BreakerState, DeploymentHealth


def samples(metrics: GatewayMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(metrics.render().decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(metrics: GatewayMetrics, name: str, **labels: str) -> float | None:
    return samples(metrics).get((name, tuple(sorted(labels.items()))))


def observe(metrics: GatewayMetrics, trace: Trace, **overrides: object) -> None:
    args: dict[str, object] = dict(
        group="gpt",
        endpoint="/v1/chat/completions",
        status=200,
        error_code=None,
        latency_s=0.2,
        ttft_s=None,
        usage=Usage(prompt_tokens=10, completion_tokens=5, total_tokens=15),
        cost_usd=0.001,
        cache_status=None,
        trace=trace,
    )
    args.update(overrides)
    metrics.observe(**args)  # type: ignore[arg-type]


def served(deployment: str, *failed: tuple[str, str]) -> Trace:
    trace = Trace()
    for name, error in failed:
        trace.attempts.append(Attempt(name, 5.0, error))
    trace.attempts.append(Attempt(deployment, 10.0))
    trace.deployment = deployment
    return trace


def build(**kwargs: object) -> GatewayMetrics:
    refs = [DeploymentRef("gpt", "gpt/0"), DeploymentRef("gpt", "gpt/1"), DeploymentRef("small", "small/0")]
    return GatewayMetrics(refs, **kwargs)  # type: ignore[arg-type]


def test_requests_tokens_cost_and_latency_are_counted_per_group_and_deployment() -> None:
    metrics = build()
    observe(metrics, served("gpt/0"))
    observe(metrics, served("gpt/0"))
    labels = dict(group="gpt", deployment="gpt/0")
    assert value(metrics, "switchyard_requests_total", endpoint="/v1/chat/completions", status="200", **labels) == 2
    assert value(metrics, "switchyard_tokens_total", direction="input", **labels) == 20
    assert value(metrics, "switchyard_tokens_total", direction="output", **labels) == 10
    assert value(metrics, "switchyard_cost_usd_total", **labels) == 0.002
    assert value(metrics, "switchyard_request_duration_seconds_count", **labels) == 2
    assert value(metrics, "switchyard_request_duration_seconds_bucket", le="0.25", **labels) == 2
    assert value(metrics, "switchyard_request_duration_seconds_bucket", le="0.1", **labels) == 0


def test_retries_attempt_outcomes_and_fallbacks_by_reason() -> None:
    metrics = build()
    trace = served("small/0", ("gpt/0", "upstream_timeout"), ("gpt/1", "upstream_unavailable"))
    trace.attempts[-1].group = "small"
    trace.fallbacks.append("gpt>small:timeout")
    observe(metrics, trace, ttft_s=0.05)
    assert value(metrics, "switchyard_retries_total", group="gpt") == 2
    assert (
        value(
            metrics, "switchyard_upstream_attempts_total", group="gpt", deployment="gpt/0", outcome="upstream_timeout"
        )
        == 1
    )
    assert value(metrics, "switchyard_upstream_attempts_total", group="small", deployment="small/0", outcome="ok") == 1
    assert value(metrics, "switchyard_fallbacks_total", from_group="gpt", to_group="small", reason="timeout") == 1
    assert value(metrics, "switchyard_time_to_first_token_seconds_count", group="gpt", deployment="small/0") == 1


def test_unknown_names_fold_into_other_so_cardinality_stays_bounded() -> None:
    metrics = build()
    for made_up in ("sk-secret-1", "sk-secret-2", "my prompt text"):
        observe(metrics, Trace(), group=made_up, status=404, error_code="model_not_found", usage=None, cost_usd=None)
    assert (
        value(
            metrics,
            "switchyard_requests_total",
            group="_other",
            deployment="",
            endpoint="/v1/chat/completions",
            status="404",
        )
        == 3
    )
    assert "sk-secret" not in metrics.render().decode()


def test_gateway_429s_count_as_rejections_but_upstream_429s_do_not() -> None:
    metrics = build()
    observe(metrics, Trace(), status=429, error_code="rate_limit_exceeded", usage=None)
    observe(metrics, served("gpt/0"), status=429, error_code="upstream_rate_limited")
    assert value(metrics, "switchyard_rate_limit_rejections_total", group="gpt", code="rate_limit_exceeded") == 1
    assert value(metrics, "switchyard_rate_limit_rejections_total", group="gpt", code="upstream_rate_limited") is None


def test_cache_outcomes_by_kind() -> None:
    metrics = build()
    observe(metrics, Trace(), cache_status="hit")
    observe(metrics, Trace(), cache_status="semantic-hit")
    observe(metrics, served("gpt/0"), cache_status="miss")
    observe(metrics, Trace(), cache_status="something new")
    for status in ("hit", "semantic-hit", "miss", "_other"):
        assert value(metrics, "switchyard_cache_lookups_total", group="gpt", status=status) == 1


def test_breaker_state_and_queue_depth_are_read_at_scrape_time() -> None:
    states = {name: DeploymentHealth() for name in ("gpt/0", "gpt/1", "small/0")}
    depth = [7]
    metrics = build(health=states.__getitem__, queue_depth=lambda: depth[0], dropped=lambda: 3)
    states["gpt/1"].state = BreakerState.OPEN
    states["gpt/1"].in_flight = 4
    labels = dict(group="gpt", deployment="gpt/1")
    assert value(metrics, "switchyard_breaker_state", state="open", **labels) == 1
    assert value(metrics, "switchyard_breaker_state", state="closed", **labels) == 0
    assert value(metrics, "switchyard_deployment_in_flight", **labels) == 4
    assert value(metrics, "switchyard_log_queue_depth") == 7
    assert value(metrics, "switchyard_log_dropped_records") == 3
    states["gpt/1"].state = BreakerState.CLOSED
    depth[0] = 0
    assert value(metrics, "switchyard_breaker_state", state="closed", **labels) == 1
    assert value(metrics, "switchyard_log_queue_depth") == 0


def test_router_decisions_are_counted_and_thresholds_read_at_scrape_time() -> None:
    from switchyard.routing.router_group import Decision

    live = {"auto": (0.61, "live")}
    metrics = build(groups=["auto"], thresholds=lambda: dict(live))
    routed = Decision("auto", "learned", "gpt", ["small", "gpt"], score=0.7, threshold=0.61)
    shadowed = Decision("auto", "learned", "gpt", ["small", "gpt"], reason="shadow", shadow="small")
    odd = Decision("auto", "learned", "made-up-member", ["gpt"], reason="something new")
    for decision in (routed, routed, shadowed, odd):
        observe(metrics, served("gpt/0"), group="auto", decision=decision)
    observe(metrics, served("gpt/0"))  # a plain group: no decision, nothing counted
    counted = "switchyard_router_decisions_total"
    assert value(metrics, counted, group="auto", chosen="gpt", reason="router", shadow="") == 2
    assert value(metrics, counted, group="auto", chosen="gpt", reason="shadow", shadow="small") == 1
    assert value(metrics, counted, group="auto", chosen="_other", reason="_other", shadow="") == 1  # bounded labels
    assert value(metrics, "switchyard_router_threshold", group="auto", calibration="live") == 0.61
    live["auto"] = (0.55, "file")
    assert value(metrics, "switchyard_router_threshold", group="auto", calibration="file") == 0.55
    assert build().render().count(b"switchyard_router_threshold") == 0  # no router groups: no family
