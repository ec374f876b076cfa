"""The request-log backend seam as the gateway uses it: asynchronous, so reads never run on the event loop.

A natively asynchronous store (PostgreSQL through asyncpg) implements ``LogBackend`` itself. A synchronous one
(SQLite, memory) implements ``SyncLogStore`` and is adapted by ``threaded``: its writes run on one dedicated
thread (SQLite has one writer anyway, and order is kept), its reads on the default thread pool.

Writes normally run on a thread at the lowest scheduling priority. A batch is a few milliseconds of CPU: at
normal priority, on a process held to one core, the kernel hands that core to the batch in the middle of requests
and the latency tail grows by as much (bench/overhead.py --rate 1000: p99 about 3.3 ms against 1.9 ms). At nice 19
the batch takes the idle gaps between requests instead. A saturated core has no such gaps, so once the writer
falls behind (a batch of ``urgent_at`` records or more, i.e. the queue holds at least a full batch) it writes on a
second thread at normal priority and catches up. Only one write is in flight at a time, so order is kept.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, cast

from switchyard.types.logs import LogPage, LogQuery, RequestLog, SpendQuery, SpendRow


class LogBackend(Protocol):
    async def write_batch(self, records: Sequence[RequestLog]) -> None:
        """Store every record, or none (raise). Records whose ``log_id`` is already stored are skipped, so a
        batch may be written again after a failure whose commit did in fact succeed."""

    async def search(self, query: LogQuery) -> LogPage: ...

    async def get(self, request_id: str) -> RequestLog | None: ...

    async def spend(self, query: SpendQuery) -> list[SpendRow]: ...

    async def delete_before(self, ts: float) -> int:
        """Retention: drop records older than ``ts`` (unix seconds); how many went."""

    async def close(self) -> None: ...


class SyncLogStore(Protocol):
    """A store with blocking methods; never called on the event loop."""

    def write_batch(self, records: Sequence[RequestLog]) -> None: ...

    def search(self, query: LogQuery) -> LogPage: ...

    def get(self, request_id: str) -> RequestLog | None: ...

    def spend(self, query: SpendQuery) -> list[SpendRow]: ...

    def delete_before(self, ts: float) -> int: ...

    def close(self) -> None: ...


BACKGROUND_NICE = 19  # added to the thread's nice value, capped at 19 (the lowest priority)


def lower_thread_priority(delta: int = BACKGROUND_NICE) -> None:
    """Lower the calling thread's CPU priority (Linux: a thread is a task with its own nice value)."""
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + delta))
    except (AttributeError, OSError):  # not Linux/Unix, or not permitted: run at the normal priority
        pass


class Threaded:
    """``LogBackend`` over a ``SyncLogStore``."""

    def __init__(self, store: SyncLogStore, urgent_at: int = 500) -> None:
        self.store = store
        self.urgent_at = urgent_at
        self._writer = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="switchyard-log-writer", initializer=lower_thread_priority
        )
        self._urgent = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-log-catch-up")

    async def write_batch(self, records: Sequence[RequestLog]) -> None:
        pool = self._urgent if len(records) >= self.urgent_at else self._writer
        await asyncio.get_running_loop().run_in_executor(pool, self.store.write_batch, records)

    async def search(self, query: LogQuery) -> LogPage:
        return await asyncio.to_thread(self.store.search, query)

    async def get(self, request_id: str) -> RequestLog | None:
        return await asyncio.to_thread(self.store.get, request_id)

    async def spend(self, query: SpendQuery) -> list[SpendRow]:
        return await asyncio.to_thread(self.store.spend, query)

    async def delete_before(self, ts: float) -> int:
        return await asyncio.get_running_loop().run_in_executor(self._writer, self.store.delete_before, ts)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._writer, self.store.close)
        self._writer.shutdown(wait=True)
        self._urgent.shutdown(wait=True)


def as_backend(store: SyncLogStore | LogBackend, urgent_at: int = 500) -> LogBackend:
    if asyncio.iscoroutinefunction(store.write_batch):
        return cast(LogBackend, store)
    return Threaded(cast(SyncLogStore, store), urgent_at)
