"""The limits and budget stages on a bare request context: scopes, sizing, headers, refusals, failure modes."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import msgspec
import pytest

from switchyard.accounting.tokens import TokenCounter
from switchyard.config.schema import Config
from switchyard.errors import BudgetExceededError, LimitsUnavailableError, RateLimitError
from switchyard.limits.budget import BudgetScope, MemoryBudgetStore
from switchyard.limits.memory import MemoryLimitStore
from switchyard.limits.protocols import Decision, LimitBackendError, Reservation, Scope
from switchyard.pipeline.context import RequestContext
from switchyard.pipeline.stages.budget import BudgetStage
from switchyard.pipeline.stages.limits import LimitsStage, duration, sizing_from_config
from switchyard.routing.trace import Attempt
from switchyard.types.chat import ChatRequest, Usage
from switchyard.types.identity import Budget, Limits, Principal

CONFIG = Config.model_validate(
    {
        "model_groups": {
            "capped": {
                "deployments": [{"provider": "demo", "model": "gpt-4", "max_output_tokens": 50}],
                "limits": {"rpm": 2, "tpm": 10_000},
            },
            "open": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
        }
    }
)


def context(group: str = "capped", principal: Principal | None = None, **request: object) -> RequestContext:
    ctx = RequestContext("r1", "/v1/chat/completions", None)
    ctx.model_group = group
    ctx.principal = principal
    body = {"model": group, "messages": [{"role": "user", "content": "hello world"}], **request}
    ctx.request = msgspec.convert(body, ChatRequest)
    return ctx


def stage(store: object | None = None, fail_open: bool = True) -> LimitsStage:
    return LimitsStage(
        store or MemoryLimitStore(),  # type: ignore[arg-type]
        TokenCounter(use_tokenizer=False),
        sizing_from_config(CONFIG),
        fail_open=fail_open,
    )


def test_reservation_is_prompt_plus_output_cap_times_n() -> None:
    limits = stage()
    prompt = TokenCounter(use_tokenizer=False).chat(context().request)  # type: ignore[arg-type]
    assert limits.tokens(context()) == prompt + 50  # the deployment's max_output_tokens
    assert limits.tokens(context(max_tokens=7)) == prompt + 7
    assert limits.tokens(context(max_completion_tokens=9, n=3)) == prompt + 27
    assert limits.tokens(context("open")) == prompt + 1024  # no cap anywhere: the configured default


def test_scopes_from_principal_and_group() -> None:
    principal = Principal(role="user", key_id="k1", team_id="t1", key_limits=Limits(rpm=5), team_limits=Limits())
    names = [s.name for s in stage().scopes(context(principal=principal))]
    assert names == ["key:k1", "group:capped"]  # the team has no limits, so no scope
    assert stage().scopes(context("open")) == []


def test_admits_then_refuses_with_headers_and_retry_after() -> None:
    limits = stage()

    async def run() -> None:
        first = context()
        await limits.before(first)
        assert first.reservation is not None
        headers = first.extra_headers or {}
        assert headers["x-ratelimit-limit-requests"] == "2"
        assert headers["x-ratelimit-remaining-requests"] == "1"
        assert headers["x-ratelimit-limit-tokens"] == "10000"
        assert headers["x-ratelimit-reset-requests"] == "30s"
        await limits.before(context())
        third = context()
        with pytest.raises(RateLimitError) as refused:
            await limits.before(third)
        assert refused.value.status == 429 and refused.value.code == "rate_limit_exceeded"
        assert refused.value.retry_after == pytest.approx(30, abs=0.5)
        assert third.extra_headers and third.extra_headers["x-ratelimit-remaining-requests"] == "0"
        assert third.reservation is None

    asyncio.run(run())


class Recording:
    def __init__(self) -> None:
        self.settled: list[tuple[Reservation, int]] = []

    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        return Decision(True, Reservation("x", tuple(scopes), tokens))

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        self.settled.append((reservation, actual_tokens))

    async def close(self) -> None:
        return None


def test_after_settles_usage_or_keeps_or_refunds() -> None:
    store = Recording()
    limits = stage(store)

    async def run(usage: Usage | None, attempted: bool) -> int:
        ctx = context(max_tokens=100)
        await limits.before(ctx)
        ctx.usage = usage
        if attempted:
            ctx.trace.attempts.append(Attempt("capped/0", 1.0, "upstream_error", None))
        limits.after(ctx)
        limits.after(ctx)  # a second call settles nothing more
        return store.settled[-1][1]

    assert asyncio.run(run(Usage(10, 5, 15), True)) == 15
    assert len(store.settled) == 1
    reserved = store.settled[0][0].tokens
    assert asyncio.run(run(None, True)) == reserved  # the upstream saw it, usage unknown: keep the charge
    assert asyncio.run(run(None, False)) == 0  # refused before any upstream: give it all back


def test_cache_hits_count_as_requests_but_use_no_tokens() -> None:
    store = Recording()
    limits = stage(store)

    async def run() -> None:
        ctx = context(max_tokens=100)
        await limits.before(ctx)
        ctx.cache_status, ctx.usage = "hit", Usage(10, 5, 15)
        limits.after(ctx)

    asyncio.run(run())
    assert store.settled[-1][1] == 0


class Down(Recording):
    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        raise LimitBackendError("Redis limit store unavailable: ConnectionError")


def test_store_down_fails_open_or_closed() -> None:
    ctx = context()
    asyncio.run(stage(Down(), fail_open=True).before(ctx))
    assert ctx.reservation is None
    with pytest.raises(LimitsUnavailableError) as closed:
        asyncio.run(stage(Down(), fail_open=False).before(context()))
    assert closed.value.status == 503


def test_durations_in_openai_format() -> None:
    assert duration(0.02) == "20ms"
    assert duration(1.5) == "1.5s"
    assert duration(360) == "6m0s"
    assert duration(61.2) == "1m2s"


def test_budget_stage_refuses_once_spent_and_charges_cost() -> None:
    store = MemoryBudgetStore()
    budget = BudgetStage(store)
    principal = Principal(role="user", key_id="k1", key_budget=Budget(max_usd=0.01, period="total"))

    async def run() -> None:
        ctx = context(principal=principal)
        await budget.before(ctx)
        ctx.cost_usd = 0.006
        budget.after(ctx)
        again = context(principal=principal)
        await budget.before(again)  # 0.006 < 0.01: still admitted
        again.cost_usd = 0.006
        budget.after(again)
        with pytest.raises(BudgetExceededError) as refused:
            await budget.before(context(principal=principal))
        error = refused.value
        assert (error.status, error.type, error.code) == (429, "insufficient_quota", "budget_exceeded")
        assert error.headers == {"x-should-retry": "false"}
        assert "$0.0120 spent of $0.01" in error.message
        assert await store.spent([BudgetScope("key", "k1", principal.key_budget)]) == [pytest.approx(0.012)]

    asyncio.run(run())
