"""The request-log backend seam as the gateway uses it: asynchronous, so reads never run on the event loop.

A natively asynchronous store (PostgreSQL through asyncpg) implements ``LogBackend`` itself. A synchronous one
(SQLite, memory) implements ``SyncLogStore`` and is adapted by ``threaded``: its writes run on one dedicated
thread (SQLite has one writer anyway, and order is kept), its reads on the default thread pool.

A batch is written in transactions of at most ``WRITE_CHUNK`` records, one executor call each. A whole batch is a
few milliseconds of CPU, and on a gateway process held to one core the kernel hands that core to the writer thread
in the middle of requests: the latency tail grows by as much as one write (docs/performance.md). A chunk is a
fraction of a millisecond. Lowering the writer thread's priority instead would risk a priority inversion: a
starved thread holding the GIL stalls the event loop.
"""

from __future__ import annotations

import asyncio
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


WRITE_CHUNK = 32


class Threaded:
    """``LogBackend`` over a ``SyncLogStore``."""

    def __init__(self, store: SyncLogStore) -> None:
        self.store = store
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-log-writer")

    async def write_batch(self, records: Sequence[RequestLog]) -> None:
        # A failure after some chunks committed fails the batch, which is spilled and replayed whole: stores skip
        # the records they already hold, so nothing is stored twice.
        loop = asyncio.get_running_loop()
        for start in range(0, len(records), WRITE_CHUNK):
            await loop.run_in_executor(self._writer, self.store.write_batch, records[start : start + WRITE_CHUNK])

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


def as_backend(store: SyncLogStore | LogBackend) -> LogBackend:
    if asyncio.iscoroutinefunction(store.write_batch):
        return cast(LogBackend, store)
    return Threaded(cast(SyncLogStore, store))
