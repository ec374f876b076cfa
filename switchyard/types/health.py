"""Per-deployment health and load state: what the breaker, the retry budget and the strategies read.

Plain data with no policy, so a store can keep it in process or mirror it to a shared backend.
"""

from __future__ import annotations

from collections import deque
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class Window:
    """Counts in one-second buckets over the last ``seconds`` seconds."""

    __slots__ = ("_seconds", "_buckets")

    def __init__(self, seconds: int) -> None:
        self._seconds = seconds
        # [second, count, failures, tokens]
        self._buckets: deque[list[int]] = deque()

    def add(self, now: float, *, count: int = 1, failures: int = 0, tokens: int = 0) -> None:
        second = int(now)
        buckets = self._buckets
        if buckets and buckets[-1][0] == second:
            bucket = buckets[-1]
            bucket[1] += count
            bucket[2] += failures
            bucket[3] += tokens
        else:
            buckets.append([second, count, failures, tokens])
        self._trim(second)

    def totals(self, now: float) -> tuple[int, int, int]:
        """(count, failures, tokens) within the window."""
        self._trim(int(now))
        count = failures = tokens = 0
        for _, c, f, t in self._buckets:
            count += c
            failures += f
            tokens += t
        return count, failures, tokens

    def _trim(self, second: int) -> None:
        horizon = second - self._seconds
        buckets = self._buckets
        while buckets and buckets[0][0] <= horizon:
            buckets.popleft()

    def clear(self) -> None:
        self._buckets.clear()


class DeploymentHealth:
    __slots__ = (
        "state",
        "consecutive_failures",
        "opened_at",
        "open_for_s",
        "probe_in_flight",
        "cooldown_until",
        "in_flight",
        "latency_ms",
        "ttft_ms",
        "recent_first_byte_ms",
        "outcomes",
        "retries",
        "usage",
    )

    def __init__(self, window_s: int = 30) -> None:
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self.opened_at = 0.0
        self.open_for_s = 0.0
        self.probe_in_flight = False
        # Set from Retry-After: the deployment asked not to be called before this time.
        self.cooldown_until = 0.0
        self.in_flight = 0
        # Exponentially weighted moving averages; None until the first observation.
        self.latency_ms: float | None = None
        self.ttft_ms: float | None = None
        # For hedging: recent times to first byte, to estimate a high percentile.
        self.recent_first_byte_ms: deque[float] = deque(maxlen=200)
        self.outcomes = Window(window_s)  # attempts and failures, for the error-rate breaker
        self.retries = Window(window_s)  # attempts that were retries, for the retry budget
        self.usage = Window(60)  # requests and tokens in the last minute, for RPM/TPM headroom
