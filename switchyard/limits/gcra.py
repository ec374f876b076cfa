"""GCRA arithmetic, shared by the in-process store (and mirrored line for line by the Redis Lua script).

Why GCRA rather than a sliding window: it keeps one number per scope and dimension (the *theoretical arrival
time*, TAT), so a reservation is O(1) in memory and in Redis, token charges of any size are a single
addition, and settling a reservation on actual usage is a subtraction. A sliding-window log would store
every request (O(limit) per scope) and a sliding-window counter only approximates.

Semantics of "N per minute": a bucket of N units that refills continuously at N per 60 s. N requests arriving
at once are admitted and request N+1 waits 60/N s; 3N at once admit exactly N. Over any 60 s window at most
2N can pass in the worst case (a full bucket, then a full refill), as with every token bucket; the steady
rate is exactly N per minute.

State: ``tat`` (seconds). A request of ``cost`` units is admitted iff ``max(tat, now) + cost * T - now <= P``
where ``T = P / N``; admitting moves ``tat`` there. A cost larger than the whole bucket is charged as one full
bucket, so it is admitted once the bucket is full (the overshoot is at most that request's own tokens).
"""

from __future__ import annotations

import math

# Float slack so that N requests of cost 1 fit exactly into N * (P / N) despite rounding.
_EPSILON = 1e-9


def charge(tat: float, now: float, cost: float, limit: int, period: float) -> tuple[bool, float, float]:
    """Returns (allowed, new_tat, retry_after_s). ``new_tat`` is what to store when every scope allows."""
    interval = period / limit
    cost = min(cost, float(limit))
    new_tat = max(tat, now) + cost * interval
    overshoot = new_tat - now - period
    if overshoot > _EPSILON * period:
        return False, tat, overshoot
    return True, new_tat, 0.0


def adjust(tat: float, now: float, delta: float, limit: int, period: float) -> float:
    """Move ``tat`` by ``delta`` units (negative refunds); a refund never goes below an empty bucket."""
    return max(tat + delta * (period / limit), now)


def remaining(tat: float, now: float, limit: int, period: float) -> int:
    """Whole units that could be admitted right now."""
    used = max(tat - now, 0.0) * limit / period
    return max(0, math.floor(limit - used + _EPSILON * limit))


def reset_after(tat: float, now: float) -> float:
    """Seconds until the bucket is full again."""
    return max(tat - now, 0.0)
