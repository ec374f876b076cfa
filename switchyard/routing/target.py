"""A deployment ready to be called, and a model group's runtime state."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from switchyard.accounting.pricing import Price
from switchyard.config.schema import Deployment, Fallbacks, HedgeSettings
from switchyard.providers.base import Provider

if TYPE_CHECKING:
    from switchyard.routing.strategies.base import Strategy


@dataclass(slots=True)
class Target:
    id: str
    config: Deployment
    provider: Provider
    price: Price | None = None

    @property
    def weight(self) -> float:
        return self.config.weight

    @property
    def priority(self) -> int:
        return self.config.priority


@dataclass(frozen=True, slots=True)
class GroupPolicy:
    """A group's deadlines, retries and fallbacks: router defaults with the group's overrides applied."""

    attempts: int
    timeout_s: float
    total_timeout_s: float
    ttft_timeout_s: float | None
    stall_timeout_s: float | None
    fallbacks: Fallbacks
    hedge: HedgeSettings


@dataclass(slots=True)
class Group:
    name: str
    targets: list[Target]
    strategy: Strategy
    policy: GroupPolicy
    created: int
