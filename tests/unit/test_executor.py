"""The executor's loop: order, retries, fallback by typed flags, Retry-After, streams fail over pre-first-byte."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator

import msgspec
import pytest

from switchyard import errors
from switchyard.config.schema import Deployment, RouterSettings
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.strategies import Ordered, RoundRobin, WeightedRandom
from switchyard.routing.target import Group, Target
from switchyard.routing.trace import Trace
from switchyard.types.chat import ChatRequest

CALL = ChatCall(msgspec.convert({"model": "g", "messages": [{"role": "user", "content": "x"}]}, ChatRequest), b"{}")


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
        return Reply(self.name.encode())

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
        yield [self.name.encode()]

    async def aclose(self) -> None:
        self.closed = True


def group(*providers: Scripted, attempts: int = 3, strategy: object = None) -> Group:
    targets = [Target(p.name, Deployment(provider="demo", model="m", priority=-i), p) for i, p in enumerate(providers)]
    return Group("g", targets, strategy or Ordered(), attempts, 0)  # type: ignore[arg-type]


def run(executor: Executor, g: Group) -> tuple[Reply, Trace]:
    trace = Trace()
    return asyncio.run(executor.chat(g, CALL, trace)), trace


EXECUTOR = Executor({}, RouterSettings(retry_backoff_s=0.001))


def test_unknown_group_is_model_not_found() -> None:
    with pytest.raises(errors.ModelNotFoundError):
        EXECUTOR.group("missing")


def test_fallback_moves_to_the_next_deployment_and_traces_it() -> None:
    a, b = Scripted("a", [errors.UpstreamUnavailableError("down")]), Scripted("b")
    reply, trace = run(EXECUTOR, group(a, b))
    assert reply.body == b"b" and (a.calls, b.calls) == (1, 1)
    assert trace.summary() == "a:upstream_unavailable,b:ok" and trace.deployment == "b"


def test_client_errors_are_not_retried() -> None:
    a, b = Scripted("a", [errors.UpstreamBadRequestError("bad")]), Scripted("b")
    with pytest.raises(errors.UpstreamBadRequestError):
        run(EXECUTOR, group(a, b))
    assert b.calls == 0


def test_auth_failure_falls_back_but_is_not_retried_on_the_same_deployment() -> None:
    a = Scripted("a", [errors.UpstreamAuthError("no"), errors.UpstreamAuthError("no")])
    with pytest.raises(errors.UpstreamAuthError):
        run(EXECUTOR, group(a))
    assert a.calls == 1


def test_single_deployment_retries_retryable_errors() -> None:
    a = Scripted("a", [errors.UpstreamError("x"), errors.UpstreamTimeoutError("y")])
    reply, trace = run(EXECUTOR, group(a, attempts=3))
    assert reply.body == b"a" and a.calls == 3 and len(trace.attempts) == 3


def test_attempts_are_bounded() -> None:
    a = Scripted("a", [errors.UpstreamError("x")] * 5)
    with pytest.raises(errors.UpstreamError):
        run(EXECUTOR, group(a, attempts=2))
    assert a.calls == 2


def test_retry_after_is_honoured_and_capped() -> None:
    a = Scripted("a", [errors.UpstreamRateLimitError("slow down", retry_after=0.3)])
    started = time.perf_counter()
    run(EXECUTOR, group(a, attempts=2))
    assert 0.29 <= time.perf_counter() - started < 2
    capped = Executor({}, RouterSettings(max_retry_after_s=0.05))
    b = Scripted("b", [errors.UpstreamRateLimitError("slow down", retry_after=30)])
    started = time.perf_counter()
    run(capped, group(b, attempts=2))
    assert time.perf_counter() - started < 1


def test_stream_fails_over_before_the_first_batch() -> None:
    a, b = Scripted("a", [errors.UpstreamUnavailableError("down")]), Scripted("b")
    opened = asyncio.run(EXECUTOR.chat_stream(group(a, b), CALL, Trace()))
    assert opened.first == [b"b"]


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
