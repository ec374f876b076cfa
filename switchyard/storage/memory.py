"""An in-process log store, for tests and for running without a disk."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from switchyard.types.health import DeploymentHealth
from switchyard.types.logs import RequestLog


class MemoryLogStore:
    def __init__(self) -> None:
        self._records: list[RequestLog] = []
        self._lock = threading.Lock()

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        with self._lock:
            self._records.extend(records)

    def query(self, limit: int = 100) -> list[RequestLog]:
        with self._lock:
            return list(reversed(self._records[-limit:]))

    def close(self) -> None:
        return None


class MemoryHealthStore:
    """Health state of one process. (A shared store mirrors the same records across instances.)"""

    def __init__(self, window_s: int = 30) -> None:
        self._records: dict[str, DeploymentHealth] = {}
        self._window_s = window_s

    def get(self, deployment: str) -> DeploymentHealth:
        record = self._records.get(deployment)
        if record is None:
            record = self._records[deployment] = DeploymentHealth(self._window_s)
        return record
