"""Recent traffic in time buckets, for the dashboard's overview: rate, latency quantiles, errors, cost, cache.

One process's view (each worker keeps its own). The ring is fixed-size, so memory stays bounded however long
the gateway runs; each request costs a few integer additions.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Callable

import msgspec

BUCKET_S = 5
KEEP_S = 3600
# Latency bounds in milliseconds, log-spaced from 1 ms to ~10 min; a quantile is read off as a bucket's bound.
_BOUNDS = tuple(round(1.0 * 1.25**i, 3) for i in range(60))


class Point(msgspec.Struct):
    ts: int
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    cost_usd: float
    tokens: int


class Summary(msgspec.Struct):
    window_s: int
    bucket_s: int
    requests: int
    requests_per_s: float
    errors: int
    error_rate: float
    p50_ms: float | None
    p99_ms: float | None
    cost_usd: float
    prompt_tokens: int
    completion_tokens: int
    cache_lookups: int
    cache_hits: int
    cache_hit_rate: float | None
    series: list[Point]


class _Bucket:
    __slots__ = ("second", "requests", "errors", "cost", "prompt", "completion", "lookups", "hits", "latency")

    def __init__(self, second: int) -> None:
        self.second = second
        self.requests = self.errors = self.prompt = self.completion = self.lookups = self.hits = 0
        self.cost = 0.0
        self.latency = [0] * (len(_BOUNDS) + 1)


class RecentTraffic:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._size = KEEP_S // BUCKET_S
        self._ring: list[_Bucket | None] = [None] * self._size

    def _bucket(self, now: float) -> _Bucket:
        second = int(now) // BUCKET_S * BUCKET_S
        index = (second // BUCKET_S) % self._size
        bucket = self._ring[index]
        if bucket is None or bucket.second != second:
            bucket = self._ring[index] = _Bucket(second)
        return bucket

    def record(
        self,
        *,
        status: int,
        latency_ms: float,
        prompt_tokens: int,
        completion_tokens: int,
        cost_usd: float | None,
        cache_status: str | None,
    ) -> None:
        bucket = self._bucket(self._clock())
        bucket.requests += 1
        if status >= 400:
            bucket.errors += 1
        bucket.latency[bisect.bisect_left(_BOUNDS, latency_ms)] += 1
        bucket.prompt += prompt_tokens
        bucket.completion += completion_tokens
        if cost_usd:
            bucket.cost += cost_usd
        if cache_status is not None and cache_status != "bypass":
            bucket.lookups += 1
            if cache_status.endswith("hit"):
                bucket.hits += 1

    def summary(self, window_s: int = 900) -> Summary:
        window_s = max(BUCKET_S, min(KEEP_S, window_s))
        now = int(self._clock()) // BUCKET_S * BUCKET_S
        start = now - window_s + BUCKET_S
        buckets = sorted((b for b in self._ring if b is not None and b.second >= start), key=lambda b: b.second)
        by_second = {b.second: b for b in buckets}
        latency = [0] * (len(_BOUNDS) + 1)
        series: list[Point] = []
        for second in range(start, now + BUCKET_S, BUCKET_S):
            b = by_second.get(second)
            if b is None:
                series.append(Point(second, 0, 0, None, None, 0.0, 0))
                continue
            latency = [x + y for x, y in zip(latency, b.latency, strict=True)]
            series.append(
                Point(
                    second,
                    b.requests,
                    b.errors,
                    _quantile(b.latency, 0.5),
                    _quantile(b.latency, 0.99),
                    round(b.cost, 8),
                    b.prompt + b.completion,
                )
            )
        requests = sum(b.requests for b in buckets)
        errors = sum(b.errors for b in buckets)
        lookups = sum(b.lookups for b in buckets)
        hits = sum(b.hits for b in buckets)
        return Summary(
            window_s=window_s,
            bucket_s=BUCKET_S,
            requests=requests,
            requests_per_s=round(requests / window_s, 3),
            errors=errors,
            error_rate=round(errors / requests, 4) if requests else 0.0,
            p50_ms=_quantile(latency, 0.5),
            p99_ms=_quantile(latency, 0.99),
            cost_usd=round(sum(b.cost for b in buckets), 8),
            prompt_tokens=sum(b.prompt for b in buckets),
            completion_tokens=sum(b.completion for b in buckets),
            cache_lookups=lookups,
            cache_hits=hits,
            cache_hit_rate=round(hits / lookups, 4) if lookups else None,
            series=series,
        )


def _quantile(counts: list[int], q: float) -> float | None:
    total = sum(counts)
    if not total:
        return None
    rank = max(1, math.ceil(q * total))
    seen = 0
    for index, count in enumerate(counts):
        seen += count
        if seen >= rank:
            return _BOUNDS[index] if index < len(_BOUNDS) else _BOUNDS[-1]
    return _BOUNDS[-1]
