"""A deployment ready to be called, and a model group's runtime state."""

from __future__ import annotations

from dataclasses import dataclass

from switchyard.config.schema import Deployment
from switchyard.providers.base import Provider
from switchyard.routing.strategies import Strategy


@dataclass(slots=True)
class Target:
    id: str
    config: Deployment
    provider: Provider

    @property
    def weight(self) -> float:
        return self.config.weight

    @property
    def priority(self) -> int:
        return self.config.priority


@dataclass(slots=True)
class Group:
    name: str
    targets: list[Target]
    strategy: Strategy
    attempts: int
    created: int
