"""Per-deployment rpm/tpm/max_concurrency: a deployment at its limit is skipped; all at limit is a 429."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import msgspec
import pytest

from switchyard import errors
from switchyard.config.schema import Deployment, Fallbacks, HedgeSettings, RouterSettings
from switchyard.limits.memory import MemoryLimitStore
from switchyard.providers.base import ChatCall, EmbedCall, Reply
from switchyard.routing.executor import Executor
from switchyard.routing.strategies import Ordered
from switchyard.routing.target import Group, GroupPolicy, Target
from switchyard.routing.trace import Trace
from switchyard.storage.memory import MemoryHealthStore
from switchyard.types.chat import ChatRequest, Usage

CALL = ChatCall(msgspec.convert({"model": "g", "messages": [{"role": "user", "content": "x"}]}, ChatRequest), b"{}")


class Counting:
    """Answers with its name; fails with the queued errors first."""

    def __init__(self, name: str, failures: list[errors.SwitchyardError] | None = None) -> None:
        self.name = name
        self.calls = 0
        self.failures = list(failures or [])

    async def chat(self, call: ChatCall) -> Reply:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return Reply(b'{"served_by":"' + self.name.encode() + b'","usage":{"total_tokens":7}}')

    async def chat_stream(self, call: ChatCall) -> _Stream:
        self.calls += 1
        return _Stream()

    async def embed(self, call: EmbedCall) -> Reply:
        raise AssertionError("not used")


class _Stream:
    upstream_request_id = None

    async def batches(self) -> AsyncIterator[list[bytes]]:
        yield [b'{"choices":[{"index":0,"delta":{"content":"hi"}}]}']

    async def aclose(self) -> None:
        return None


def build(*deployments: tuple[Counting, dict[str, Any]], attempts: int = 1) -> tuple[Executor, Group, MemoryLimitStore]:
    targets = [
        Target(p.name, Deployment(provider="demo", model="m", priority=-i, **limits), p)  # type: ignore[arg-type]
        for i, (p, limits) in enumerate(deployments)
    ]
    policy = GroupPolicy(attempts, 5.0, 30.0, None, None, Fallbacks(), HedgeSettings())
    group = Group("g", targets, Ordered(), policy, 0)
    store = MemoryLimitStore()
    executor = Executor({"g": group}, RouterSettings(retry_backoff_s=0.001), MemoryHealthStore(), store)
    return executor, group, store


def served(executor: Executor, group: Group) -> str:
    trace = Trace()
    asyncio.run(executor.chat(group, CALL, trace))
    assert trace.deployment is not None
    return trace.deployment


def test_rpm_on_a_deployment_sends_the_third_request_to_the_next() -> None:
    a, b = Counting("A"), Counting("B")
    executor, group, _ = build((a, {"rpm": 2}), (b, {}))
    # One attempt per request (no retries): the skip at the limit must not spend it.
    assert [served(executor, group) for _ in range(3)] == ["A", "A", "B"]
    assert (a.calls, b.calls) == (2, 1)


def test_every_deployment_at_its_limit_is_a_429_with_the_soonest_reset() -> None:
    a, b = Counting("A"), Counting("B")
    executor, group, _ = build((a, {"rpm": 1}), (b, {"rpm": 2}))
    assert [served(executor, group) for _ in range(3)] == ["A", "B", "B"]
    with pytest.raises(errors.RateLimitError) as caught:
        served(executor, group)
    assert caught.value.status == 429
    # A refills one request in 60 s and B one in 30 s: Retry-After is B's.
    assert caught.value.retry_after == 30.0
    assert (a.calls, b.calls) == (1, 2)


def test_concurrency_is_released_after_an_upstream_error() -> None:
    a = Counting("A", [errors.UpstreamError("boom"), errors.UpstreamError("boom")])
    executor, group, store = build((a, {"max_concurrency": 1}))
    for _ in range(2):
        with pytest.raises(errors.UpstreamError):
            served(executor, group)
    assert store._held == {}  # no slot leaked
    assert served(executor, group) == "A"
    assert store._held == {}


def test_concurrency_limit_skips_a_busy_deployment_and_a_stream_holds_its_slot_until_it_ends() -> None:
    a, b = Counting("A"), Counting("B")
    executor, group, store = build((a, {"max_concurrency": 1}), (b, {}))

    async def scenario() -> list[str]:
        first = await executor.chat_stream(group, CALL, Trace())
        assert first.deployment == "A" and "deployment:A" in store._held
        second = await executor.chat_stream(group, CALL, Trace())  # A is busy streaming
        first.usage = Usage(total_tokens=3)
        await first.aclose()
        await second.aclose()
        third = await executor.chat_stream(group, CALL, Trace())  # A's slot is free again
        await third.aclose()
        return [first.deployment, second.deployment, third.deployment]

    assert asyncio.run(scenario()) == ["A", "B", "A"]
    assert store._held == {}


def test_tpm_is_settled_on_the_reported_usage() -> None:
    a = Counting("A")
    executor, group, store = build((a, {"tpm": 1000}))
    served(executor, group)
    # The reply reported 7 tokens: the bucket holds 7 of 1000, not the reservation's estimate.
    tat = store._tat[("deployment:A", "tokens")]
    remaining = 1000 - (tat - store._clock()) * 1000 / 60
    assert 992 <= remaining <= 993.5


def test_no_limits_means_no_store_calls() -> None:
    class Refusing(MemoryLimitStore):
        async def reserve(self, *args: Any, **kwargs: Any) -> Any:
            raise AssertionError("the store must not be called")

    a = Counting("A")
    targets = [Target("A", Deployment(provider="demo", model="m"), a)]  # type: ignore[arg-type]
    group = Group("g", targets, Ordered(), GroupPolicy(1, 5.0, 30.0, None, None, Fallbacks(), HedgeSettings()), 0)
    executor = Executor({"g": group}, RouterSettings(), MemoryHealthStore(), Refusing())
    assert served(executor, group) == "A"
