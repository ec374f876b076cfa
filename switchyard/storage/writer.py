"""The batched writer: takes records on the request path in O(1), writes them in batches in the background.

``submit`` appends to a bounded in-memory queue and returns; when the queue is full the record is dropped and
counted (a warning reports drops once per interval), because blocking a request on logging is worse. A
background task drains the queue in batches into the store, so a slow or failing database never holds up a
request.

When the store fails, the batch goes to the spill (fsynced files under the data directory) and so does every
batch after it, keeping their order, until a retry with backoff replays the whole spill into the store. Spilled
files are replayed at start-up too. ``close`` writes what is queued, or spills it when the store is down.
Stores skip records they already hold (by ``log_id``), so a replay after an uncertain failure stores nothing twice.

The writer also runs retention: at start-up and then daily it deletes records older than the retention period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from switchyard.storage.logs_protocol import LogBackend, SyncLogStore, as_backend
from switchyard.storage.spill import Spill
from switchyard.types.logs import RequestLog

log = logging.getLogger("switchyard.storage")

_T = TypeVar("_T")
_DAY_S = 86400.0


class BatchWriter:
    def __init__(
        self,
        store: SyncLogStore | LogBackend,
        *,
        spill: Spill | None = None,
        max_queue: int = 100_000,
        batch_size: int = 500,
        interval_s: float = 0.25,
        max_backoff_s: float = 5.0,
        retention_days: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.backend = as_backend(store)
        self._spill = spill
        self._queue: deque[RequestLog] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._max_backoff_s = max_backoff_s
        self._retention_s = retention_days * _DAY_S if retention_days else None
        self._clock = clock
        # Spill files are written on their own thread, in order, off the event loop.
        self._files = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-log-spill")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        # True while the spill may hold records: new batches then go behind them, to keep the order.
        self._spilling = False
        self._failures = 0
        self._retry_at = 0.0
        self._next_retention = 0.0
        self._reported_drops = 0
        self.dropped = 0
        self.written = 0

    def submit(self, record: RequestLog) -> None:
        if len(self._queue) >= self._max_queue:
            # Memory is the only thing left to protect here; count what we refuse so it is visible.
            self.dropped += 1
            return
        self._queue.append(record)
        if len(self._queue) >= self._batch_size:
            self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._queue)

    @property
    def spilled(self) -> int:
        return self._spill.spilled if self._spill else 0

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _files_do(self, fn: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._files, fn, *args)

    async def _run(self) -> None:
        if self._spill is not None:
            self._spilling = await self._files_do(self._spill.pending)
        while not self._closing:
            try:
                await self._cycle()
            except Exception:  # a bug must not end logging for the life of the process
                log.exception("request-log writer cycle failed")
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()

    async def _cycle(self) -> None:
        due = time.monotonic() >= self._retry_at
        if self._spilling:
            if due:
                await self._replay()
            await self._flush_once()  # to the store, or behind the spilled records
        elif due:
            await self._flush_once()
        await self._retention()
        self._report_drops()

    def _batch(self) -> list[RequestLog]:
        return [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]

    async def _flush_once(self) -> bool:
        """Write (or spill) what is queued; False when records had to stay queued."""
        while self._queue:
            batch = self._batch()
            if not self._spilling:
                try:
                    await self.backend.write_batch(batch)
                    self.written += len(batch)
                    self._failures = 0
                    continue
                except Exception as exc:
                    self._failed(exc, len(batch))
            if not await self._to_spill(batch):
                return False
        return True

    def _failed(self, exc: Exception, count: int) -> None:
        self._failures += 1
        backoff = min(self._max_backoff_s, 0.1 * 2**self._failures)
        self._retry_at = time.monotonic() + backoff
        if self._failures == 1 or self._failures % 20 == 0:
            log.warning(
                "request-log store failed (%s: %s); %d records spilled, retrying in %.1f s",
                type(exc).__name__,
                exc,
                count,
                backoff,
            )
        self._spilling = self._spill is not None

    async def _to_spill(self, batch: list[RequestLog]) -> bool:
        if self._spill is not None:
            try:
                await self._files_do(self._spill.append, batch)
                return True
            except OSError:
                log.exception("request-log spill failed; %d records kept in memory", len(batch))
        # Nowhere to put them now: keep them first in line for the next try.
        self._queue.extendleft(reversed(batch))
        return False

    async def _replay(self) -> bool:
        """Move every spilled record into the store, oldest segment first; True when the spill is empty."""
        spill = self._spill
        if spill is None:
            return True
        await self._files_do(spill.seal)
        for path in await self._files_do(spill.segments):
            handle = await self._files_do(spill.claim, path)
            if handle is None:
                continue  # another process is appending to it, and will replay it
            try:
                records = await self._files_do(spill.read, handle)
                for start in range(0, len(records), self._batch_size):
                    await self.backend.write_batch(records[start : start + self._batch_size])
            except Exception as exc:
                await self._files_do(spill.release, handle)
                self._failed(exc, 0)
                return False
            await self._files_do(spill.remove, path, handle)
            spill.replayed += len(records)
            self.written += len(records)
        if self._failures:
            log.warning("request-log store is back; spilled records replayed")
        self._spilling = False
        self._failures = 0
        return True

    async def _retention(self) -> None:
        if self._retention_s is None or time.monotonic() < self._next_retention:
            return
        self._next_retention = time.monotonic() + _DAY_S
        try:
            deleted = await self.backend.delete_before(self._clock() - self._retention_s)
        except Exception as exc:
            # Try again within the hour rather than tomorrow.
            self._next_retention = time.monotonic() + min(_DAY_S, 3600.0)
            log.warning("request-log retention failed: %s", exc)
            return
        if deleted:
            log.info("request-log retention deleted %d records", deleted)

    def _report_drops(self) -> None:
        if self.dropped > self._reported_drops:
            log.warning(
                "request-log queue full: %d records dropped (%d in all)",
                self.dropped - self._reported_drops,
                self.dropped,
            )
            self._reported_drops = self.dropped

    async def flush(self) -> None:
        """Write everything queued now (tests and shutdown)."""
        await self._flush_once()

    async def close(self, attempts: int = 3) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        # One prompt try at the store for what was spilled, then everything queued is written or spilled:
        # shutdown must not wait out a database outage.
        if self._spilling:
            await self._replay()
        for attempt in range(attempts):
            if await self._flush_once():
                break
            await asyncio.sleep(0.1 * 2**attempt)
        self._report_drops()
        if self._queue:
            log.error("request-log store and spill unavailable at shutdown: %d records not written", len(self._queue))
        if self._spill is not None:
            await self._files_do(self._spill.seal)
        self._files.shutdown(wait=True)
        await self.backend.close()
