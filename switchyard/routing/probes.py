"""Active health checks: while a deployment's breaker is open, ask its cheap health endpoint how it is.

Passive detection needs live traffic to fail before it notices a recovery; a probe of the provider's free
endpoint (e.g. the models list) closes the breaker as soon as the deployment answers again, without
risking a user's request on it. Providers without such an endpoint are left to passive half-open probes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from switchyard.errors import SwitchyardError
from switchyard.routing.health import Health
from switchyard.routing.target import Group
from switchyard.types.health import BreakerState

log = logging.getLogger("switchyard.health")


class HealthChecker:
    def __init__(self, groups: dict[str, Group], health: Health, interval_s: float, timeout_s: float = 5.0) -> None:
        self._groups = groups
        self._health = health
        self._interval_s = interval_s
        self._timeout_s = timeout_s

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            await self.check_once()

    async def check_once(self) -> None:
        checks = []
        for group in self._groups.values():
            for target in group.targets:
                probe: Callable[[], Awaitable[None]] | None = getattr(target.provider, "health", None)
                if probe is not None and self._health.record(target.id).state is not BreakerState.CLOSED:
                    checks.append(self._check(target.id, probe))
        await asyncio.gather(*checks)

    async def _check(self, deployment: str, probe: Callable[[], Awaitable[None]]) -> None:
        try:
            async with asyncio.timeout(self._timeout_s):
                await probe()
        except (SwitchyardError, TimeoutError) as exc:
            log.info("health check of %s failed: %s", deployment, getattr(exc, "code", "timeout"))
            return
        log.info("health check of %s passed: closing its breaker", deployment)
        self._health.outcome(deployment, ok=True, counts=True)
