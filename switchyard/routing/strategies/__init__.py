"""Routing strategies: each ranks a group's deployments for one request.

A strategy is one small class with ``rank(candidates)`` and ``observe(deployment, ok, ms)``. The executor
tries candidates in the ranked order, so a ranking is also the fallback order within a group.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol, TypeVar


class Weighted(Protocol):
    @property
    def id(self) -> str: ...

    @property
    def weight(self) -> float: ...

    @property
    def priority(self) -> int: ...


T = TypeVar("T", bound=Weighted)


class Strategy(Protocol):
    def rank(self, candidates: Sequence[T]) -> list[T]: ...

    def observe(self, deployment: str, ok: bool, ms: float) -> None: ...


class _Stateless:
    def observe(self, deployment: str, ok: bool, ms: float) -> None:
        return None


class WeightedRandom(_Stateless):
    """Pick by weight; the rest follow in weighted order (a weighted shuffle without replacement)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def rank(self, candidates: Sequence[T]) -> list[T]:
        if len(candidates) == 1:
            return list(candidates)
        # Efraimidis–Spirakis: sort by u^(1/w), a weighted sample of the whole list in one pass.
        keyed = [(self._rng.random() ** (1.0 / c.weight), c) for c in candidates]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [c for _, c in keyed]


class Ordered(_Stateless):
    """Highest priority first, then declaration order: a primary with backups."""

    def rank(self, candidates: Sequence[T]) -> list[T]:
        return sorted(candidates, key=lambda c: -c.priority)


class RoundRobin(_Stateless):
    def __init__(self) -> None:
        self._next = 0

    def rank(self, candidates: Sequence[T]) -> list[T]:
        start = self._next % len(candidates)
        self._next += 1
        return list(candidates[start:]) + list(candidates[:start])


def build_strategy(name: str) -> Strategy:
    strategies: dict[str, type[Strategy]] = {
        "weighted": WeightedRandom,
        "ordered": Ordered,
        "round_robin": RoundRobin,
    }
    return strategies[name]()
