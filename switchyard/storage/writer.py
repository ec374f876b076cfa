"""The batched writer: takes records on the request path in O(1), writes them in batches on a thread.

``submit`` appends to a bounded in-memory queue and returns. A background task drains it in batches into
the store on a dedicated thread, so a slow or failing database never holds up a request. A batch that
fails to write is kept and retried with backoff; ``close`` drains everything before returning.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from switchyard.storage.protocols import LogStore
from switchyard.types.logs import RequestLog

log = logging.getLogger("switchyard.storage")


class BatchWriter:
    def __init__(
        self,
        store: LogStore,
        *,
        max_queue: int = 100_000,
        batch_size: int = 500,
        interval_s: float = 0.25,
    ) -> None:
        self._store = store
        self._queue: deque[RequestLog] = deque()
        self._max_queue = max_queue
        self._batch_size = batch_size
        self._interval_s = interval_s
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="switchyard-log-writer")
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
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

    async def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self) -> None:
        failures = 0
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self._interval_s)
            except TimeoutError:
                pass
            self._wake.clear()
            if await self._flush_once():
                failures = 0
            else:
                failures += 1
                await asyncio.sleep(min(5.0, 0.1 * 2**failures))

    async def _flush_once(self) -> bool:
        """Write what is queued; False when the store failed (the records stay queued)."""
        while self._queue:
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            try:
                await asyncio.get_running_loop().run_in_executor(self._thread, self._store.write_batch, batch)
            except Exception:
                log.exception("request-log write failed; %d records kept for retry", len(batch))
                self._queue.extendleft(reversed(batch))
                return False
            self.written += len(batch)
        return True

    async def close(self, attempts: int = 5) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        for attempt in range(attempts):
            if await self._flush_once():
                break
            await asyncio.sleep(0.1 * 2**attempt)
        if self._queue:
            log.error("request-log store unavailable at shutdown: %d records not written", len(self._queue))
        await asyncio.get_running_loop().run_in_executor(self._thread, self._store.close)
        self._thread.shutdown(wait=True)
