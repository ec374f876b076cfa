"""An in-process log store, for tests and for running without a disk."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from switchyard.storage.log_memory import memory_search, memory_spend
from switchyard.types.health import DeploymentHealth
from switchyard.types.logs import LogPage, LogQuery, RequestLog, SpendQuery, SpendRow


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

    def search(self, query: LogQuery) -> LogPage:
        with self._lock:
            records = list(self._records)
        return memory_search(records, query)

    def get(self, request_id: str) -> RequestLog | None:
        with self._lock:
            found = [r for r in self._records if r.request_id == request_id]
        return max(found, key=lambda r: r.ts) if found else None

    def spend(self, query: SpendQuery) -> list[SpendRow]:
        with self._lock:
            records = list(self._records)
        return memory_spend(records, query)

    def delete_before(self, ts: float) -> int:
        with self._lock:
            kept = [r for r in self._records if r.ts >= ts]
            deleted, self._records = len(self._records) - len(kept), kept
        return deleted

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
