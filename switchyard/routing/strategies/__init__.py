"""Routing strategies: each ranks a group's deployments for one request.

A strategy is one small class with ``rank(candidates, ctx)`` and ``observe(deployment, ok, ms)``. The
executor tries candidates in the ranked order, so a ranking is also the failover order within a group.
Strategies read shared health and load state through the ``RankContext``; they keep none of their own
beyond what makes them work (a round-robin cursor, a random generator).
"""

from __future__ import annotations

from collections.abc import Callable

from switchyard.routing.strategies.adaptive import LeastInFlight, LowestCost, LowestLatency, UsageBased
from switchyard.routing.strategies.base import RankContext, Strategy
from switchyard.routing.strategies.simple import Ordered, RoundRobin, WeightedRandom

__all__ = [
    "LeastInFlight",
    "LowestCost",
    "LowestLatency",
    "Ordered",
    "RankContext",
    "RoundRobin",
    "Strategy",
    "UsageBased",
    "WeightedRandom",
    "build_strategy",
]

_STRATEGIES: dict[str, Callable[[], Strategy]] = {
    "weighted": WeightedRandom,
    "ordered": Ordered,
    "round_robin": RoundRobin,
    "least_in_flight": LeastInFlight,
    "lowest_latency": LowestLatency,
    "lowest_cost": LowestCost,
    "usage_based": UsageBased,
}


def build_strategy(name: str) -> Strategy:
    return _STRATEGIES[name]()
