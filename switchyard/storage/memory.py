"""An in-process log store, for tests and for running without a disk."""

from __future__ import annotations

import threading
from collections.abc import Sequence

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
