"""RecentTraffic: the dashboard overview's numbers from time buckets."""

from __future__ import annotations

from switchyard.observability.summary import BUCKET_S, RecentTraffic


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def record(traffic: RecentTraffic, latency_ms: float, status: int = 200, cache: str | None = None) -> None:
    traffic.record(
        status=status, latency_ms=latency_ms, prompt_tokens=3, completion_tokens=2, cost_usd=0.5, cache_status=cache
    )


def test_rates_quantiles_errors_cost_and_cache_hit_rate() -> None:
    clock = Clock()
    traffic = RecentTraffic(clock)
    for _ in range(98):
        record(traffic, 10.0)
    record(traffic, 2000.0, status=502)
    record(traffic, 2000.0, status=429, cache="miss")
    record(traffic, 1.0, cache="hit")
    summary = traffic.summary(60)
    assert summary.requests == 101
    assert summary.errors == 2
    assert summary.error_rate == round(2 / 101, 4)
    assert summary.p50_ms is not None and 10.0 <= summary.p50_ms < 13.0
    assert summary.p99_ms is not None and summary.p99_ms >= 2000.0
    assert summary.cost_usd == 50.5
    assert summary.prompt_tokens == 303
    assert summary.cache_lookups == 2 and summary.cache_hit_rate == 0.5
    assert len(summary.series) == 60 // BUCKET_S
    assert sum(point.requests for point in summary.series) == 101


def test_old_traffic_leaves_the_window_and_the_ring_reuses_buckets() -> None:
    clock = Clock()
    traffic = RecentTraffic(clock)
    record(traffic, 10.0)
    clock.now += 120
    record(traffic, 10.0)
    assert traffic.summary(60).requests == 1
    assert traffic.summary(300).requests == 2
    clock.now += 3600  # a full turn of the ring later: the old buckets must not be read as new
    assert traffic.summary(3600).requests == 0
    assert traffic.summary(60).p50_ms is None
