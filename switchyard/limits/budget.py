"""Budgets: spend per key and team per UTC period, checked before a request and charged after it.

The check refuses once spend has reached the ceiling; the charge happens when the request's cost is known.
So requests already admitted may still finish and be charged: the overshoot is at most the cost of the
requests in flight when the ceiling was reached, never more. Counters are keyed by period (``m2026-11``),
so a new period starts from zero without a reset job.

Soft-limit alerts: when a charge moves spend across a threshold (a fraction of the ceiling), one ``Alert``
is emitted for that scope, threshold and period, whichever instance saw the crossing (the Redis store
deduplicates with SET NX). Emitting only enqueues; delivery is the notifier's background task.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from switchyard.limits.periods import PERIODS, period_key, period_start
from switchyard.types.identity import Budget, Period
from switchyard.types.logs import SpendQuery, SpendRow


@dataclass(frozen=True, slots=True)
class BudgetScope:
    kind: str  # "key" or "team"
    id: str
    budget: Budget
    # Fractions of the ceiling that alert; the budget's own unless the operator configured others.
    thresholds: tuple[float, ...] | None = None

    @property
    def alert_at(self) -> tuple[float, ...]:
        return self.budget.soft_thresholds if self.thresholds is None else self.thresholds

    @property
    def name(self) -> str:
        return f"{self.kind}:{self.id}"


@dataclass(frozen=True, slots=True)
class Alert:
    scope: str  # "key" or "team"
    id: str
    threshold: float
    spend_usd: float
    max_usd: float
    period: Period
    period_key: str


AlertSink = Callable[[Alert], None]


class BudgetStore(Protocol):
    async def spent(self, scopes: Sequence[BudgetScope]) -> list[float]:
        """Spend so far in each scope's current period. Raises ``LimitBackendError``."""
        ...

    def add(self, scopes: Sequence[BudgetScope], amount: float) -> None:
        """Charge ``amount`` USD to every scope. Never blocks."""
        ...

    async def close(self) -> None: ...


class SpendHistory(Protocol):
    """Where spend already recorded can be read back: the request-log store, synchronous or asynchronous."""

    def spend(self, query: SpendQuery) -> list[SpendRow] | Awaitable[list[SpendRow]]: ...


def crossed(scope: BudgetScope, before: float, after: float) -> list[float]:
    """Thresholds that ``before -> after`` moved across (reached counts as crossed)."""
    budget = scope.budget
    return [t for t in scope.alert_at if before < t * budget.max_usd <= after]


def alert(scope: BudgetScope, threshold: float, spend: float, now: float) -> Alert:
    budget = scope.budget
    return Alert(
        scope.kind, scope.id, threshold, round(spend, 10), budget.max_usd, budget.period, period_key(budget.period, now)
    )


class MemoryBudgetStore:
    """Counters in a dict, for one process. Seed it at start-up so a restart does not forget spend."""

    def __init__(self, on_alert: AlertSink | None = None, clock: Callable[[], float] = time.time) -> None:
        self._on_alert = on_alert
        self._clock = clock
        self._spend: dict[tuple[str, str], float] = {}
        self._alerted: set[tuple[str, str, float]] = set()
        self._current: dict[Period, str] = {}

    async def spent(self, scopes: Sequence[BudgetScope]) -> list[float]:
        now = self._clock()
        return [self._spend.get((s.name, period_key(s.budget.period, now)), 0.0) for s in scopes]

    def add(self, scopes: Sequence[BudgetScope], amount: float) -> None:
        if amount <= 0:
            return
        now = self._clock()
        self._roll(now)
        for scope in scopes:
            key = period_key(scope.budget.period, now)
            slot = (scope.name, key)
            before = self._spend.get(slot, 0.0)
            after = before + amount
            self._spend[slot] = after
            for threshold in crossed(scope, before, after):
                mark = (scope.name, key, threshold)
                if mark not in self._alerted and self._on_alert is not None:
                    self._alerted.add(mark)
                    self._on_alert(alert(scope, threshold, after, now))

    def seed(self, scope_name: str, key: str, amount: float) -> None:
        self._spend[(scope_name, key)] = self._spend.get((scope_name, key), 0.0) + amount

    async def close(self) -> None:
        return None

    def _roll(self, now: float) -> None:
        # When a period turns over, drop the finished period's counters and alert marks: memory stays bounded.
        for period in PERIODS:
            key = period_key(period, now)
            previous = self._current.get(period)
            if previous == key:
                continue
            self._current[period] = key
            if previous is not None:
                self._spend = {slot: v for slot, v in self._spend.items() if slot[1] != previous}
                self._alerted = {mark for mark in self._alerted if mark[1] != previous}


async def seed_from_history(store: MemoryBudgetStore, history: SpendHistory, now: float | None = None) -> int:
    """Load the current period's spend per key and team from the request log; returns the rows loaded."""
    now = time.time() if now is None else now
    loaded = 0
    for period in PERIODS:
        start = period_start(period, now)
        key = period_key(period, now)
        for kind in ("key", "team"):
            query = SpendQuery(group_by=kind, since=start.timestamp() if start else None)
            if inspect.iscoroutinefunction(history.spend):
                rows = await history.spend(query)
            else:
                rows = await asyncio.to_thread(history.spend, query)  # SQLite: off the event loop
            for row in rows:
                if row.group and row.cost_usd:
                    store.seed(f"{kind}:{row.group}", key, row.cost_usd)
                    loaded += 1
    return loaded
