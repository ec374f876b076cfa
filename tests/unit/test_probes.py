"""Active health checks close an open breaker as soon as the deployment answers again."""

from __future__ import annotations

import asyncio

from switchyard import errors
from switchyard.config.schema import BreakerSettings, Deployment, RetryBudget
from switchyard.routing.health import Health
from switchyard.routing.probes import HealthChecker
from switchyard.routing.strategies import Ordered
from switchyard.routing.target import Group, Target
from switchyard.storage.memory import MemoryHealthStore
from switchyard.types.health import BreakerState
from tests.unit.test_executor import Scripted, policy


class Checkable(Scripted):
    def __init__(self) -> None:
        super().__init__("x")
        self.up = False
        self.checks = 0

    async def health(self) -> None:
        self.checks += 1
        if not self.up:
            raise errors.UpstreamUnavailableError("still down")


def test_probe_closes_the_breaker_only_when_the_deployment_is_back() -> None:
    provider = Checkable()
    group = Group("g", [Target("x", Deployment(provider="demo", model="m"), provider)], Ordered(), policy(), 0)
    health = Health(MemoryHealthStore(), BreakerSettings(consecutive_failures=1, cooldown_s=60), RetryBudget())
    health.outcome("x", ok=False, counts=True)
    assert health.record("x").state is BreakerState.OPEN and not health.available("x")
    checker = HealthChecker({"g": group}, health, interval_s=1)
    asyncio.run(checker.check_once())
    assert provider.checks == 1 and health.record("x").state is BreakerState.OPEN
    provider.up = True
    asyncio.run(checker.check_once())
    assert health.record("x").state is BreakerState.CLOSED and health.available("x")
    asyncio.run(checker.check_once())
    assert provider.checks == 2  # closed breakers are not probed
