"""Strategies that read measurements: in-flight count, latency, cost, and headroom under rate limits.

Ties are broken by weighted random order, so equal deployments share the load instead of one taking it all.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchyard.routing.strategies.base import RankContext, Stateless
from switchyard.routing.strategies.simple import WeightedRandom
from switchyard.routing.target import Target


class _ByKey(Stateless):
    def __init__(self) -> None:
        self._shuffle = WeightedRandom()

    def key(self, target: Target, ctx: RankContext) -> float:
        return 0.0  # overridden: each strategy defines its measure, lower is better

    def rank(self, candidates: Sequence[Target], ctx: RankContext) -> list[Target]:
        shuffled = self._shuffle.rank(candidates)
        return sorted(shuffled, key=lambda t: self.key(t, ctx))  # stable: the shuffle breaks ties


class LeastInFlight(_ByKey):
    def key(self, target: Target, ctx: RankContext) -> float:
        return ctx.health.get(target.id).in_flight / target.weight


class LowestLatency(_ByKey):
    """EWMA of time to first token for streams, of whole-answer latency otherwise; untried first."""

    def key(self, target: Target, ctx: RankContext) -> float:
        record = ctx.health.get(target.id)
        measure = record.ttft_ms if record.ttft_ms is not None else record.latency_ms
        return -1.0 if measure is None else measure


class LowestCost(_ByKey):
    """Expected price of this request from the deployment's prices; deployments without prices last."""

    def key(self, target: Target, ctx: RankContext) -> float:
        prices = target.config.prices
        if prices is None:
            return float("inf")
        output = ctx.shape.max_output_tokens or 256
        return (
            prices.per_request
            + prices.input_per_mtok * ctx.shape.prompt_tokens / 1e6
            + prices.output_per_mtok * output / 1e6
        )


class UsageBased(_ByKey):
    """Most headroom under the deployment's own RPM and TPM limits in the last minute."""

    def key(self, target: Target, ctx: RankContext) -> float:
        requests, _, tokens = ctx.health.get(target.id).usage.totals(ctx.now)
        config = target.config
        used = [
            (requests + 1) / config.rpm if config.rpm else 0.0,
            (tokens + ctx.shape.prompt_tokens) / config.tpm if config.tpm else 0.0,
        ]
        return max(used)
