"""Budgets: refuse a caller whose key or team has spent its budget for the period; charge the cost after.

The refusal is OpenAI's exhausted-quota answer: 429 with type ``insufficient_quota`` (code
``budget_exceeded``) and ``x-should-retry: false`` so SDKs do not retry it. Overshoot is bounded by the
requests in flight when the ceiling was reached (see ``switchyard.limits.budget``).
"""

from __future__ import annotations

import logging

from switchyard.errors import BudgetExceededError, LimitsUnavailableError
from switchyard.limits.budget import BudgetScope, BudgetStore
from switchyard.limits.periods import period_end
from switchyard.limits.protocols import LimitBackendError
from switchyard.pipeline.context import RequestContext

log = logging.getLogger("switchyard.limits")


class BudgetStage:
    def __init__(
        self, store: BudgetStore, *, thresholds: tuple[float, ...] | None = None, fail_open: bool = True
    ) -> None:
        self.store = store
        self._thresholds = thresholds
        self._fail_open = fail_open
        self._outage = False

    def scopes(self, ctx: RequestContext) -> list[BudgetScope]:
        principal = ctx.principal
        if principal is None:
            return []
        scopes: list[BudgetScope] = []
        if principal.key_id and principal.key_budget is not None:
            scopes.append(BudgetScope("key", principal.key_id, principal.key_budget, self._thresholds))
        if principal.team_id and principal.team_budget is not None:
            scopes.append(BudgetScope("team", principal.team_id, principal.team_budget, self._thresholds))
        return scopes

    async def before(self, ctx: RequestContext) -> None:
        scopes = self.scopes(ctx)
        if not scopes:
            return
        try:
            spent = await self.store.spent(scopes)
        except LimitBackendError as exc:
            if not self._fail_open:
                raise LimitsUnavailableError(
                    "Budgets cannot be checked right now (the budget store is unreachable); try again shortly.",
                    retry_after=1.0,
                ) from None
            if not self._outage:
                self._outage = True
                log.warning("%s; admitting requests without budget checks (limits.redis_failure: open)", exc)
            return
        self._outage = False
        for scope, spend in zip(scopes, spent, strict=True):
            budget = scope.budget
            if spend >= budget.max_usd:
                raise BudgetExceededError(_message(scope, spend, ctx.started_wall), headers={"x-should-retry": "false"})

    def after(self, ctx: RequestContext) -> None:
        cost = ctx.cost_usd
        if not cost:
            return
        scopes = self.scopes(ctx)
        if scopes:
            self.store.add(scopes, cost)


def _message(scope: BudgetScope, spend: float, now: float) -> str:
    budget = scope.budget
    who = "your API key" if scope.kind == "key" else "your team"
    end = period_end(budget.period, now)
    when = f" It resets at {end:%Y-%m-%d %H:%M} UTC." if end is not None else ""
    period = "" if budget.period == "total" else f" {budget.period}"
    return f"You exceeded the{period} budget of {who}: ${spend:.4f} spent of ${budget.max_usd:g}.{when}"
