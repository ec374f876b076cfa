"""Deployment health: the circuit breaker, Retry-After cooldowns, the retry budget, latency statistics.

The policy lives here; the state lives in a ``HealthStore`` so that several gateway instances can share it.
A breaker opens after ``consecutive_failures`` failures in a row, or when the error rate over the window
reaches ``error_rate`` with at least ``min_requests`` attempts. After ``cooldown_s`` it lets one probe
through (half-open); the probe's success closes it, its failure reopens it with a doubled cooldown.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from switchyard.config.schema import BreakerSettings, RetryBudget
from switchyard.storage.protocols import HealthStore
from switchyard.types.health import BreakerState, DeploymentHealth

_EWMA = 0.2  # weight of the newest observation


class Health:
    def __init__(
        self,
        store: HealthStore,
        breaker: BreakerSettings,
        budget: RetryBudget,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._breaker = breaker
        self._budget = budget
        self._clock = clock

    def record(self, deployment: str) -> DeploymentHealth:
        return self._store.get(deployment)

    # --- admission ------------------------------------------------------------------------------------

    def available(self, deployment: str) -> bool:
        """Whether a request may go to this deployment now (no state change)."""
        h = self._store.get(deployment)
        now = self._clock()
        if now < h.cooldown_until:
            return False
        if not self._breaker.enabled or h.state is BreakerState.CLOSED:
            return True
        if h.state is BreakerState.OPEN:
            return now - h.opened_at >= h.open_for_s
        return not h.probe_in_flight

    def acquire(self, deployment: str) -> bool:
        """Claim a slot: in an open breaker past its cooldown, this request becomes the one probe."""
        if not self.available(deployment):
            return False
        h = self._store.get(deployment)
        if self._breaker.enabled and h.state is not BreakerState.CLOSED:
            h.state = BreakerState.HALF_OPEN
            h.probe_in_flight = True
        h.in_flight += 1
        return True

    def take_retry(self, deployment: str) -> bool:
        """Spend one retry of the deployment's budget, if any is left (retries stay under ``ratio`` of its
        recent attempts, so an outage never becomes a retry storm).

        Checking and spending happen in one step with no await between them: concurrent requests failing at
        once must not all see the same unspent budget.
        """
        h = self._store.get(deployment)
        now = self._clock()
        attempts, _, _ = h.outcomes.totals(now)
        retries, _, _ = h.retries.totals(now)
        if retries >= self._budget.min_per_window + self._budget.ratio * attempts:
            return False
        h.retries.add(now)
        return True

    def note_tokens(self, deployment: str, tokens: int) -> None:
        self._store.get(deployment).usage.add(self._clock(), tokens=tokens)

    def cool_down(self, deployment: str, seconds: float) -> None:
        h = self._store.get(deployment)
        h.cooldown_until = max(h.cooldown_until, self._clock() + seconds)

    def cooling_down(self, deployment: str) -> bool:
        return self._clock() < self._store.get(deployment).cooldown_until

    def seconds_until_available(self, deployment: str) -> float:
        h = self._store.get(deployment)
        now = self._clock()
        wait = max(0.0, h.cooldown_until - now)
        if self._breaker.enabled and h.state is BreakerState.OPEN:
            wait = max(wait, h.opened_at + h.open_for_s - now)
        return wait

    # --- outcomes ---------------------------------------------------------------------------------------

    def finish(self, deployment: str) -> None:
        """The request no longer occupies the deployment (for streams: the stream ended)."""
        h = self._store.get(deployment)
        h.in_flight = max(0, h.in_flight - 1)

    def outcome(self, deployment: str, *, ok: bool, counts: bool, ms: float | None = None, ttft: bool = False) -> None:
        """How an attempt went. ``counts`` is False for failures that say nothing about the deployment's health."""
        h = self._store.get(deployment)
        now = self._clock()
        was_probe = h.probe_in_flight
        h.probe_in_flight = False
        if ms is not None and ok:
            self._observe_latency(h, ms, ttft)
        if not counts and not ok:
            if was_probe and h.state is BreakerState.HALF_OPEN:
                h.state = BreakerState.OPEN  # the probe told us nothing: wait for the next one
                h.opened_at = now
            return
        h.outcomes.add(now, failures=0 if ok else 1)
        if ok:
            h.consecutive_failures = 0
            if h.state is not BreakerState.CLOSED:
                h.state = BreakerState.CLOSED
                h.open_for_s = 0.0
            return
        h.consecutive_failures += 1
        if not self._breaker.enabled:
            return
        if h.state is BreakerState.HALF_OPEN:
            self._open(h, now, min(self._breaker.max_cooldown_s, max(h.open_for_s, self._breaker.cooldown_s) * 2))
        elif h.state is BreakerState.CLOSED and self._should_open(h, now):
            self._open(h, now, self._breaker.cooldown_s)

    def _should_open(self, h: DeploymentHealth, now: float) -> bool:
        if h.consecutive_failures >= self._breaker.consecutive_failures:
            return True
        attempts, failures, _ = h.outcomes.totals(now)
        return attempts >= self._breaker.min_requests and failures / attempts >= self._breaker.error_rate

    @staticmethod
    def _open(h: DeploymentHealth, now: float, seconds: float) -> None:
        h.state = BreakerState.OPEN
        h.opened_at = now
        h.open_for_s = seconds

    @staticmethod
    def _observe_latency(h: DeploymentHealth, ms: float, ttft: bool) -> None:
        if ttft:
            h.ttft_ms = ms if h.ttft_ms is None else (1 - _EWMA) * h.ttft_ms + _EWMA * ms
        else:
            h.latency_ms = ms if h.latency_ms is None else (1 - _EWMA) * h.latency_ms + _EWMA * ms
        h.recent_first_byte_ms.append(ms)

    def first_byte_quantile(self, deployment: str, quantile: float, min_samples: int) -> float | None:
        """Milliseconds; None while there are too few observations to trust."""
        samples = self._store.get(deployment).recent_first_byte_ms
        if len(samples) < min_samples:
            return None
        ordered = sorted(samples)
        return ordered[min(len(ordered) - 1, int(quantile * len(ordered)))]
