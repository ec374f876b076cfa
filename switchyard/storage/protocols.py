"""The storage seams. Each has a real backend and a null one for when the feature is off."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from switchyard.types.health import DeploymentHealth
from switchyard.types.logs import RequestLog


class LogSink(Protocol):
    """Accepts request-log records on the request path. ``submit`` must never block."""

    def submit(self, record: RequestLog) -> None: ...

    @property
    def depth(self) -> int:
        """Records accepted but not yet written."""
        ...

    async def start(self) -> None: ...

    async def close(self) -> None: ...


class LogStore(Protocol):
    """Where batches of records end up. Called from one writer thread, never from the event loop."""

    def write_batch(self, records: Sequence[RequestLog]) -> None: ...

    def query(self, limit: int = 100) -> list[RequestLog]: ...

    def close(self) -> None: ...


class NullSink:
    """Request logging switched off."""

    depth = 0

    def submit(self, record: RequestLog) -> None:
        return None

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None


class HealthStore(Protocol):
    """Per-deployment health and load state, shared by the breaker, retry budget and strategies."""

    def get(self, deployment: str) -> DeploymentHealth: ...
