"""GCRA reservations in process: exact admission counts, all-or-nothing scopes, settle arithmetic, leases."""

from __future__ import annotations

import pytest

from switchyard.limits import gcra
from switchyard.limits.memory import MemoryLimitStore
from switchyard.limits.protocols import Scope
from switchyard.types.identity import Limits


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def store() -> tuple[MemoryLimitStore, Clock]:
    clock = Clock()
    return MemoryLimitStore(clock=clock, lease_s=300), clock


@pytest.mark.parametrize("n", [1, 3, 7, 60, 1000])
def test_n_per_minute_admits_exactly_n_of_3n_at_once(n: int) -> None:
    limits, _ = store()
    scope = [Scope("key:a", Limits(rpm=n))]
    admitted = sum(limits.reserve_now(scope, 0).allowed for _ in range(3 * n))
    assert admitted == n


def test_refill_is_continuous_and_retry_after_says_when() -> None:
    limits, clock = store()
    scope = [Scope("key:a", Limits(rpm=6))]  # one every 10 s
    assert all(limits.reserve_now(scope, 0).allowed for _ in range(6))
    refused = limits.reserve_now(scope, 0)
    assert not refused.allowed and refused.refused_kind == "requests" and refused.refused_scope == "key:a"
    assert refused.retry_after_s == pytest.approx(10.0)
    clock.now += 9.9
    assert not limits.reserve_now(scope, 0).allowed
    clock.now += 0.1
    assert limits.reserve_now(scope, 0).allowed
    assert not limits.reserve_now(scope, 0).allowed


def test_tokens_are_reserved_then_settled_on_actual_usage() -> None:
    limits, _ = store()
    scope = [Scope("team:t", Limits(tpm=1000))]
    first = limits.reserve_now(scope, 600)
    assert first.allowed and first.reservation is not None
    (quota,) = first.quotas
    assert (quota.kind, quota.limit, quota.remaining) == ("tokens", 1000, 400)
    assert not limits.reserve_now(scope, 600).allowed  # 1200 > 1000 while the estimate stands
    limits.settle(first.reservation, 100)  # the answer was short: 500 tokens come back
    second = limits.reserve_now(scope, 600)
    assert second.allowed
    assert second.quotas[0].remaining == 300


def test_settling_above_the_reservation_charges_the_difference() -> None:
    limits, _ = store()
    scope = [Scope("team:t", Limits(tpm=1000))]
    decision = limits.reserve_now(scope, 100)
    assert decision.reservation is not None
    limits.settle(decision.reservation, 900)
    assert not limits.reserve_now(scope, 200).allowed
    assert limits.reserve_now(scope, 100).allowed


def test_a_request_larger_than_the_bucket_waits_for_a_full_bucket() -> None:
    limits, clock = store()
    scope = [Scope("key:a", Limits(tpm=100))]
    assert limits.reserve_now(scope, 10).allowed
    assert not limits.reserve_now(scope, 5000).allowed
    clock.now += 60
    assert limits.reserve_now(scope, 5000).allowed  # charged as one whole bucket


def test_all_or_nothing_across_scopes() -> None:
    limits, _ = store()
    key = Scope("key:a", Limits(rpm=10))
    team = Scope("team:t", Limits(rpm=2))
    assert limits.reserve_now([key, team], 0).allowed
    assert limits.reserve_now([key, team], 0).allowed
    refused = limits.reserve_now([key, team], 0)
    assert not refused.allowed and refused.refused_scope == "team:t"
    # The key was not charged for the refused request: 8 more fit on the key alone.
    assert sum(limits.reserve_now([key], 0).allowed for _ in range(20)) == 8


def test_concurrency_slots_are_held_until_settled() -> None:
    limits, _ = store()
    scope = [Scope("key:a", Limits(max_concurrency=2))]
    one, two = limits.reserve_now(scope, 0), limits.reserve_now(scope, 0)
    assert one.allowed and two.allowed and one.reservation and two.reservation
    third = limits.reserve_now(scope, 0)
    assert not third.allowed and third.refused_kind == "concurrency"
    limits.settle(one.reservation, 0)
    assert limits.reserve_now(scope, 0).allowed


def test_a_lost_concurrency_slot_expires_with_its_lease() -> None:
    limits, clock = store()
    scope = [Scope("key:a", Limits(max_concurrency=1))]
    assert limits.reserve_now(scope, 0).allowed  # never settled: its process died, say
    assert not limits.reserve_now(scope, 0).allowed
    clock.now += 301
    assert limits.reserve_now(scope, 0).allowed


def test_headers_state_remaining_and_reset() -> None:
    limits, _ = store()
    decision = limits.reserve_now([Scope("group:g", Limits(rpm=60, tpm=6000))], 600)
    quotas = {q.kind: q for q in decision.quotas}
    assert quotas["requests"].remaining == 59 and quotas["requests"].reset_s == pytest.approx(1.0)
    assert quotas["tokens"].remaining == 5400 and quotas["tokens"].reset_s == pytest.approx(6.0)


def test_idle_scopes_are_forgotten() -> None:
    limits, clock = store()
    for i in range(50):
        limits.reserve_now([Scope(f"key:{i}", Limits(rpm=10))], 0)
    clock.now += 3600
    for _ in range(20):
        limits.reserve_now([Scope("key:x", Limits(rpm=10))], 0)
    assert len(limits._tat) < 10


def test_gcra_arithmetic() -> None:
    allowed, tat, wait = gcra.charge(0.0, 0.0, 30, 60, 60.0)
    assert allowed and tat == 30.0 and wait == 0.0
    allowed, same, wait = gcra.charge(tat, 0.0, 31, 60, 60.0)
    assert not allowed and same == tat and wait == pytest.approx(1.0)
    assert gcra.remaining(tat, 0.0, 60, 60.0) == 30
    assert gcra.adjust(tat, 0.0, -100, 60, 60.0) == 0.0  # a refund never goes below an empty bucket
    assert gcra.reset_after(tat, 10.0) == 20.0
