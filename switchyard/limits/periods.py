"""Budget periods on UTC boundaries: a period's key names its counter, so a new period starts at zero."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from switchyard.types.identity import Period

PERIODS: tuple[Period, ...] = ("daily", "weekly", "monthly", "total")


def period_start(period: Period, now: float) -> datetime | None:
    """The UTC start of the period containing ``now`` (unix seconds); None for ``total``."""
    if period == "total":
        return None
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "daily":
        return day
    if period == "weekly":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def period_end(period: Period, now: float) -> datetime | None:
    start = period_start(period, now)
    if start is None:
        return None
    if period == "daily":
        return start + timedelta(days=1)
    if period == "weekly":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def period_key(period: Period, now: float) -> str:
    """``d2026-11-24``, ``w2026-11-23`` (the Monday), ``m2026-11`` or ``total``."""
    # Every period starts on a UTC day boundary, so the key depends only on the day: budgets ask for it on
    # every request, and formatting a datetime each time cost more than the rest of the budget check.
    return _key_of_day(period, math.floor(now / 86400))


@lru_cache(maxsize=64)
def _key_of_day(period: Period, day: int) -> str:
    start = period_start(period, day * 86400.0)
    if start is None:
        return "total"
    if period == "monthly":
        return f"m{start:%Y-%m}"
    return f"{period[0]}{start:%Y-%m-%d}"


def seconds_left(period: Period, now: float) -> float | None:
    end = period_end(period, now)
    return None if end is None else end.timestamp() - now
