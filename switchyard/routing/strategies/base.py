"""The strategy protocol and what a strategy may look at."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from switchyard.routing.options import RequestShape
from switchyard.routing.target import Target
from switchyard.storage.protocols import HealthStore


@dataclass(frozen=True, slots=True)
class RankContext:
    shape: RequestShape
    health: HealthStore
    now: float


class Strategy(Protocol):
    def rank(self, candidates: Sequence[Target], ctx: RankContext) -> list[Target]: ...

    def observe(self, deployment: str, ok: bool, ms: float) -> None: ...


class Stateless:
    def observe(self, deployment: str, ok: bool, ms: float) -> None:
        return None
