"""The executor's loop: order, retries, fallback by typed flags, Retry-After, streams fail over pre-first-byte."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from switchyard import errors
from switchyard.config.schema import Deployment, Fallbacks, HedgeSettings, RouterSettings
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.options import RequestShape, RouteOptions
from switchyard.routing.strategies import (
    LeastInFlight,
    LowestCost,
    LowestLatency,
    Ordered,
    RankContext,
    RoundRobin,
    UsageBased,
    WeightedRandom,
)
from switchyard.routing.target import Group, GroupPolicy, Target
from switchyard.routing.trace import Trace
from switchyard.storage.memory import MemoryHealthStore
from switchyard.types.chat import ChatRequest

CALL = ChatCall(msgspec.convert({"model": "g", "messages": [{"role": "user", "content": "x"}]}, ChatRequest), b"{}")


def body(name: str) -> bytes:
    return b'{"served_by":"' + name.encode() + b'"}'


class Scripted:
    """A provider that fails with the given errors, in order, then succeeds."""

    def __init__(self, name: str, failures: list[errors.SwitchyardError] | None = None) -> None:
        self.name = name
        self.failures = list(failures or [])
        self.calls = 0

    async def chat(self, call: ChatCall) -> Reply:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return Reply(body(self.name))

    async def chat_stream(self, call: ChatCall) -> _Stream:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return _Stream(self.name)

    async def embed(self, call: EmbedCall) -> Reply:
        raise AssertionError("not used")


class _Stream:
    upstream_request_id = None

    def __init__(self, name: str) -> None:
        self.name = name
        self.closed = False

    async def batches(self) -> AsyncIterator[list[bytes]]:
        yield [b'{"choices":[{"index":0,"delta":{"content":"' + self.name.encode() + b'"}}]}']

    async def aclose(self) -> None:
        self.closed = True


def policy(attempts: int = 3, fallbacks: Fallbacks | None = None, hedge: HedgeSettings | None = None) -> GroupPolicy:
    return GroupPolicy(attempts, 5.0, 30.0, None, None, fallbacks or Fallbacks(), hedge or HedgeSettings())


def group(*providers: Scripted, attempts: int = 3, name: str = "g", **options: object) -> Group:
    targets = [Target(p.name, Deployment(provider="demo", model="m", priority=-i), p) for i, p in enumerate(providers)]
    return Group(name, targets, Ordered(), policy(attempts, **options), 0)  # type: ignore[arg-type]


def run(executor: Executor, g: Group) -> tuple[Reply, Trace]:
    trace = Trace()
    return asyncio.run(executor.chat(g, CALL, trace)), trace


def executor(groups: dict[str, Group] | None = None, **settings: object) -> Executor:
    return Executor(groups or {}, RouterSettings(retry_backoff_s=0.001, **settings), MemoryHealthStore())  # type: ignore[arg-type]


EXECUTOR = executor()


def test_unknown_group_is_model_not_found() -> None:
    with pytest.raises(errors.ModelNotFoundError):
        executor().group("missing")


def test_fallback_moves_to_the_next_deployment_and_traces_it() -> None:
    a, b = Scripted("a", [errors.UpstreamUnavailableError("down")]), Scripted("b")
    reply, trace = run(executor(), group(a, b))
    assert reply.body == body("b") and (a.calls, b.calls) == (1, 1)
    assert trace.summary() == "a:upstream_unavailable,b:ok" and trace.deployment == "b"


def test_client_errors_are_not_retried() -> None:
    a, b = Scripted("a", [errors.UpstreamBadRequestError("bad")]), Scripted("b")
    with pytest.raises(errors.UpstreamBadRequestError):
        run(executor(), group(a, b))
    assert b.calls == 0


def test_auth_failure_falls_back_but_is_not_retried_on_the_same_deployment() -> None:
    a = Scripted("a", [errors.UpstreamAuthError("no"), errors.UpstreamAuthError("no")])
    with pytest.raises(errors.UpstreamAuthError):
        run(executor(), group(a))
    assert a.calls == 1


def test_single_deployment_retries_retryable_errors() -> None:
    a = Scripted("a", [errors.UpstreamError("x"), errors.UpstreamTimeoutError("y")])
    reply, trace = run(executor(), group(a, attempts=3))
    assert reply.body == body("a") and a.calls == 3 and len(trace.attempts) == 3


def test_attempts_are_bounded() -> None:
    a = Scripted("a", [errors.UpstreamError("x")] * 5)
    with pytest.raises(errors.UpstreamError):
        run(executor(), group(a, attempts=2))
    assert a.calls == 2


def test_retry_after_is_honoured_and_capped() -> None:
    a = Scripted("a", [errors.UpstreamRateLimitError("slow down", retry_after=0.3)])
    started = time.perf_counter()
    run(executor(), group(a, attempts=2))
    assert 0.29 <= time.perf_counter() - started < 2
    capped = executor(max_retry_after_s=0.05)
    b = Scripted("b", [errors.UpstreamRateLimitError("slow down", retry_after=30)])
    started = time.perf_counter()
    # Waiting longer than the cap is not worth it: the client hears the 429 now.
    with pytest.raises(errors.UpstreamRateLimitError):
        run(capped, group(b, attempts=2))
    assert time.perf_counter() - started < 1 and b.calls == 1


def test_stream_fails_over_before_the_first_batch() -> None:
    a, b = Scripted("a", [errors.UpstreamUnavailableError("down")]), Scripted("b")
    opened = asyncio.run(executor().chat_stream(group(a, b), CALL, Trace()))
    assert b'"b"' in opened.first[0]


def test_weighted_random_follows_weights() -> None:
    strategy = WeightedRandom(random.Random(7))
    heavy = Target("heavy", Deployment(provider="demo", model="m", weight=9), Scripted("heavy"))
    light = Target("light", Deployment(provider="demo", model="m", weight=1), Scripted("light"))
    firsts = [strategy.rank([heavy, light])[0].id for _ in range(2000)]
    assert 0.85 < firsts.count("heavy") / 2000 < 0.95


def test_round_robin_rotates_and_ordered_sorts_by_priority() -> None:
    targets = [
        Target(n, Deployment(provider="demo", model="m", priority=p), Scripted(n))
        for n, p in (("a", 0), ("b", 5), ("c", 1))
    ]
    rr = RoundRobin()
    assert [rr.rank(targets)[0].id for _ in range(4)] == ["a", "b", "c", "a"]
    assert [t.id for t in Ordered().rank(targets)] == ["b", "c", "a"]


def test_fallback_group_chain_per_error_class() -> None:
    primary = Scripted("p", [errors.ContextWindowExceededError("too long")])
    big, other = Scripted("big"), Scripted("other")
    groups = {"big": group(big, name="big"), "other": group(other, name="other")}
    g = group(primary, fallbacks=Fallbacks(default=["other"], context_window=["big"]))
    trace = Trace()
    reply = asyncio.run(executor(groups).chat(g, CALL, trace))
    assert reply.body == body("big") and other.calls == 0
    assert trace.fallbacks == ["g>big:context_window"]
    # A server error takes the default chain instead.
    failing = Scripted("p2", [errors.UpstreamError("boom")] * 3)
    g2 = group(failing, fallbacks=Fallbacks(default=["other"], context_window=["big"]))
    assert asyncio.run(executor(groups).chat(g2, CALL, Trace())).body == body("other")


def test_breaker_opens_then_admits_one_probe_after_cooldown() -> None:
    ex = executor(breaker={"consecutive_failures": 2, "cooldown_s": 0.2})
    dead = Scripted("dead", [errors.UpstreamUnavailableError("down")] * 100)
    live = Scripted("live")
    g = group(dead, live, attempts=2)
    for _ in range(6):
        assert asyncio.run(ex.chat(g, CALL, Trace())).body == body("live")
    assert dead.calls == 2  # the breaker opened after two failures; later requests skip it
    time.sleep(0.25)
    trace = Trace()
    assert asyncio.run(ex.chat(g, CALL, trace)).body == body("live")
    assert dead.calls == 3 and trace.summary() == "dead:upstream_unavailable,live:ok"  # exactly one probe
    assert asyncio.run(ex.chat(g, CALL, Trace())).body == body("live") and dead.calls == 3  # reopened, longer cooldown


def test_all_open_is_a_503_with_retry_after() -> None:
    ex = executor(breaker={"consecutive_failures": 1, "cooldown_s": 5})
    dead = Scripted("dead", [errors.UpstreamUnavailableError("down")] * 10)
    g = group(dead, attempts=1)
    with pytest.raises(errors.UpstreamUnavailableError):
        asyncio.run(ex.chat(g, CALL, Trace()))
    with pytest.raises(errors.NoHealthyDeploymentError) as caught:
        asyncio.run(ex.chat(g, CALL, Trace()))
    assert caught.value.status == 503 and caught.value.retry_after is not None and 4 < caught.value.retry_after <= 5


def test_retry_budget_stops_a_retry_storm() -> None:
    ex = executor(retry_budget={"ratio": 0.0, "min_per_window": 2}, breaker={"enabled": False})
    flaky = Scripted("flaky", [errors.UpstreamError("x")] * 100)
    g = group(flaky, attempts=4)
    for _ in range(5):
        with pytest.raises(errors.UpstreamError):
            asyncio.run(ex.chat(g, CALL, Trace()))
    # 5 first attempts + at most 2 retries in the window, instead of 5 * 4 = 20 calls.
    assert flaky.calls == 7


def test_rate_limited_deployment_cools_down_for_retry_after() -> None:
    ex = executor()
    limited = Scripted("limited", [errors.UpstreamRateLimitError("slow", retry_after=30)])
    other = Scripted("other")
    g = group(limited, other)
    assert asyncio.run(ex.chat(g, CALL, Trace())).body == body("other")
    assert asyncio.run(ex.chat(g, CALL, Trace())).body == body("other") and limited.calls == 1


def test_pin_and_exclude() -> None:
    a, b = Scripted("a"), Scripted("b")
    assert asyncio.run(executor().chat(group(a, b), CALL, Trace(), RouteOptions(pin="b"))).body == body("b")
    assert asyncio.run(
        executor().chat(group(a, b), CALL, Trace(), RouteOptions(exclude=frozenset({"a"})))
    ).body == body("b")
    with pytest.raises(errors.InvalidRequestError):
        asyncio.run(executor().chat(group(a, b), CALL, Trace(), RouteOptions(pin="zzz")))


def test_capability_filter_routes_tools_and_context() -> None:
    small = Target("small", Deployment(provider="demo", model="m", context_window=10, priority=5), Scripted("small"))
    notools = Target(
        "notools",
        Deployment(provider="demo", model="m", capabilities={"tools": False}, priority=4),
        Scripted("notools"),
    )
    big = Target("big", Deployment(provider="demo", model="m", context_window=100_000), Scripted("big"))
    g = Group("g", [small, notools, big], Ordered(), policy(), 0)
    long_call = ChatCall(
        msgspec.convert({"model": "g", "messages": [{"role": "user", "content": "x" * 400}]}, ChatRequest), b"{}"
    )
    assert asyncio.run(executor().chat(g, long_call, Trace())).body == body("notools")
    tools_call = ChatCall(
        msgspec.convert(
            {
                "model": "g",
                "messages": [{"role": "user", "content": "x" * 400}],
                "tools": [{"type": "function", "function": {"name": "f"}}],
            },
            ChatRequest,
        ),
        b"{}",
    )
    assert asyncio.run(executor().chat(g, tools_call, Trace())).body == body("big")


class Slow(Scripted):
    def __init__(self, name: str, delay: float) -> None:
        super().__init__(name)
        self.delay = delay
        self.cancelled = False

    async def chat(self, call: ChatCall) -> Reply:
        self.calls += 1
        try:
            await asyncio.sleep(self.delay)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        return Reply(body(self.name))


def test_hedge_starts_a_backup_and_cancels_the_loser() -> None:
    slow, fast = Slow("slow", 2.0), Slow("fast", 0.01)
    g = group(slow, fast, hedge=HedgeSettings(enabled=True, delay_s=0.1))
    trace = Trace()
    started = time.perf_counter()
    reply = asyncio.run(executor().chat(g, CALL, trace))
    assert reply.body == body("fast") and time.perf_counter() - started < 1.0
    assert slow.cancelled and trace.deployment == "fast"
    assert {a.error for a in trace.attempts} == {None, "hedge_lost"}


def test_attempt_deadline_fires_on_time() -> None:
    slow = Slow("slow", 5.0)
    g = group(slow, attempts=1)
    started = time.perf_counter()
    with pytest.raises(errors.UpstreamTimeoutError):
        asyncio.run(executor().chat(g, CALL, Trace(), RouteOptions(timeout_s=0.3)))
    assert 0.3 <= time.perf_counter() - started < 0.33


def test_total_deadline_bounds_retries() -> None:
    slow = Slow("slow", 5.0)
    g = group(slow, attempts=5)
    started = time.perf_counter()
    with pytest.raises(errors.UpstreamTimeoutError):
        asyncio.run(executor().chat(g, CALL, Trace(), RouteOptions(timeout_s=0.2, total_timeout_s=0.5)))
    assert 0.5 <= time.perf_counter() - started < 0.55


def test_adaptive_strategies_rank_by_their_measure() -> None:
    store = MemoryHealthStore()
    cheap = Target(
        "cheap", Deployment(provider="demo", model="m", prices={"input_per_mtok": 0.1}, rpm=10), Scripted("c")
    )
    dear = Target(
        "dear", Deployment(provider="demo", model="m", prices={"input_per_mtok": 5.0}, rpm=1000), Scripted("d")
    )
    ctx = RankContext(RequestShape(prompt_tokens=1000), store, time.monotonic())
    assert LowestCost().rank([dear, cheap], ctx)[0].id == "cheap"
    store.get("cheap").in_flight = 3
    assert LeastInFlight().rank([cheap, dear], ctx)[0].id == "dear"
    store.get("cheap").latency_ms, store.get("dear").latency_ms = 50.0, 500.0
    assert LowestLatency().rank([dear, cheap], ctx)[0].id == "cheap"
    for _ in range(9):
        store.get("cheap").usage.add(time.monotonic())
    assert UsageBased().rank([cheap, dear], ctx)[0].id == "dear"  # cheap is at 100 % of its RPM
