"""Budget periods, counters, alerts once per threshold per period, and seeding from the request log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from switchyard.limits.budget import Alert, BudgetScope, MemoryBudgetStore, seed_from_history
from switchyard.limits.periods import period_end, period_key, period_start
from switchyard.types.identity import Budget
from switchyard.types.logs import SpendQuery, SpendRow


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def test_periods_start_on_utc_boundaries() -> None:
    now = ts("2026-11-26T15:30:00")  # a Thursday
    assert period_key("daily", now) == "d2026-11-26"
    assert period_key("weekly", now) == "w2026-11-23"  # its Monday
    assert period_key("monthly", now) == "m2026-11"
    assert period_key("total", now) == "total"
    assert period_start("weekly", now) == datetime(2026, 11, 23, tzinfo=UTC)
    assert period_end("monthly", now) == datetime(2026, 12, 1, tzinfo=UTC)
    assert period_end("monthly", ts("2026-12-31T23:59:59")) == datetime(2027, 1, 1, tzinfo=UTC)
    assert period_end("total", now) is None
    # The key is cached per UTC day: the last and first second of a day, week and month still tell apart.
    assert period_key("daily", ts("2026-11-29T23:59:59.999")) == "d2026-11-29"
    assert period_key("daily", ts("2026-11-30T00:00:00")) == "d2026-11-30"
    assert period_key("weekly", ts("2026-11-29T23:59:59.999")) == "w2026-11-23"  # Sunday
    assert period_key("weekly", ts("2026-11-30T00:00:00")) == "w2026-11-30"  # Monday
    assert period_key("monthly", ts("2026-11-30T23:59:59.999")) == "m2026-11"
    assert period_key("monthly", ts("2026-12-01T00:00:00")) == "m2026-12"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_spend_accumulates_per_period_and_resets_with_the_next() -> None:
    clock = Clock(ts("2026-11-26T23:00:00"))
    store = MemoryBudgetStore(clock=clock)
    daily = BudgetScope("key", "k1", Budget(max_usd=1.0, period="daily"))
    monthly = BudgetScope("team", "t1", Budget(max_usd=10.0, period="monthly"))
    store.add([daily, monthly], 0.4)
    store.add([daily, monthly], 0.35)
    assert asyncio.run(store.spent([daily, monthly])) == [0.75, 0.75]
    clock.now = ts("2026-11-27T00:00:01")
    assert asyncio.run(store.spent([daily, monthly])) == [0.0, 0.75]
    store.add([daily], 0.1)
    assert asyncio.run(store.spent([daily])) == [0.1]
    assert all(key[1] != "d2026-11-26" for key in store._spend)  # the finished day was dropped


def test_alerts_fire_once_per_threshold_per_period() -> None:
    clock = Clock(ts("2026-11-26T10:00:00"))
    alerts: list[Alert] = []
    store = MemoryBudgetStore(alerts.append, clock=clock)
    scope = BudgetScope("key", "k1", Budget(max_usd=1.0, period="daily"), thresholds=(0.5, 1.0))
    store.add([scope], 0.3)
    assert alerts == []
    store.add([scope], 0.3)  # 0.6: crosses 0.5
    store.add([scope], 0.1)
    assert [(a.threshold, a.spend_usd) for a in alerts] == [(0.5, 0.6)]
    store.add([scope], 0.5)  # 1.2: crosses 1.0
    assert [a.threshold for a in alerts] == [0.5, 1.0]
    assert alerts[1] == Alert("key", "k1", 1.0, 1.2, 1.0, "daily", "d2026-11-26")
    clock.now = ts("2026-11-27T10:00:00")
    store.add([scope], 0.7)  # a new day: 0.5 again
    assert [a.threshold for a in alerts] == [0.5, 1.0, 0.5]


def test_default_thresholds_come_from_the_budget() -> None:
    alerts: list[Alert] = []
    store = MemoryBudgetStore(alerts.append)
    scope = BudgetScope("team", "t", Budget(max_usd=10.0))  # 0.5, 0.8, 1.0
    store.add([scope], 9.0)
    assert [a.threshold for a in alerts] == [0.5, 0.8]


class History:
    def __init__(self) -> None:
        self.queries: list[SpendQuery] = []

    def spend(self, query: SpendQuery) -> list[SpendRow]:
        self.queries.append(query)
        rows = {"key": [SpendRow("k1", 3, 10, 10, 0.25), SpendRow(None, 1, 1, 1, 9.0)], "team": []}
        return rows.get(query.group_by, [])


def test_seeding_restores_the_current_periods_spend() -> None:
    now = ts("2026-11-26T10:00:00")
    clock = Clock(now)
    store = MemoryBudgetStore(clock=clock)
    history = History()
    assert asyncio.run(seed_from_history(store, history, now)) == 4  # k1 in each of the four periods
    scope = BudgetScope("key", "k1", Budget(max_usd=1.0, period="weekly"))
    assert asyncio.run(store.spent([scope])) == [0.25]
    since = {(q.group_by, q.since) for q in history.queries}
    assert ("key", ts("2026-11-23T00:00:00")) in since and ("team", None) in since
