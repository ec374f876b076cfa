"""Strategies that need no measurements: weighted random, ordered priority, round robin."""

from __future__ import annotations

import random
from collections.abc import Sequence

from switchyard.routing.strategies.base import RankContext, Stateless
from switchyard.routing.target import Target


class WeightedRandom(Stateless):
    """Pick by weight; the rest follow in weighted order (a weighted shuffle without replacement)."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()

    def rank(self, candidates: Sequence[Target], ctx: RankContext | None = None) -> list[Target]:
        if len(candidates) == 1:
            return list(candidates)
        # Efraimidis–Spirakis: sort by u^(1/w), a weighted sample of the whole list in one pass.
        keyed = [(self._rng.random() ** (1.0 / c.weight), c) for c in candidates]
        keyed.sort(key=lambda pair: pair[0], reverse=True)
        return [c for _, c in keyed]


class Ordered(Stateless):
    """Highest priority first, then declaration order: a primary with backups."""

    def rank(self, candidates: Sequence[Target], ctx: RankContext | None = None) -> list[Target]:
        return sorted(candidates, key=lambda c: -c.priority)


class RoundRobin(Stateless):
    def __init__(self) -> None:
        self._next = 0

    def rank(self, candidates: Sequence[Target], ctx: RankContext | None = None) -> list[Target]:
        start = self._next % len(candidates)
        self._next += 1
        return list(candidates[start:]) + list(candidates[:start])
