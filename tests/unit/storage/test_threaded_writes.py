"""Synchronous log stores: routine batches on a low-priority thread, a backlog on a normal one, order kept."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from switchyard.storage.logs_protocol import Threaded
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.types.logs import LogQuery, RequestLog


def record(i: int) -> RequestLog:
    return RequestLog(
        request_id=f"r{i}", ts=1000.0 + i, endpoint="/v1/chat/completions", status=200, latency_ms=1.0,
        log_id=f"L{i:06d}",
    )  # fmt: skip


class Watched(SQLiteLogStore):
    """A real SQLite store that notes the nice value of the thread each batch was written on."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.batches: list[tuple[int, int]] = []  # (size, nice)

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        self.batches.append((len(records), nice))
        super().write_batch(records)


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Unix feature")
def test_small_batches_run_below_the_loop_and_full_ones_at_its_priority(tmp_path: Path) -> None:
    store = Watched(tmp_path / "logs.db")
    backend = Threaded(store, urgent_at=10)
    loop_nice = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    async def run() -> None:
        await backend.write_batch([record(i) for i in range(3)])
        await backend.write_batch([record(i) for i in range(3, 13)])
        await backend.write_batch([record(13)])
        await backend.close()

    asyncio.run(run())
    (small, low), (full, normal), (_, low_again) = store.batches
    assert (small, full) == (3, 10)
    assert low == low_again == min(19, loop_nice + 19) > loop_nice  # below the event loop's priority
    assert normal == loop_nice  # a backlog is written at the loop's own priority so it catches up


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="thread priorities are a Unix feature")
def test_batch_writer_sends_a_backlog_to_the_catch_up_thread_and_keeps_order(tmp_path: Path) -> None:
    store = Watched(tmp_path / "logs.db")

    async def run() -> None:
        writer = BatchWriter(store, batch_size=50, interval_s=0.01)
        for i in range(120):  # queued before the writer's first cycle: two full batches and a rest
            writer.submit(record(i))
        await writer.start()
        await writer.close()

    asyncio.run(run())
    sizes = [size for size, _ in store.batches]
    nices = [nice for _, nice in store.batches]
    assert sizes == [50, 50, 20]
    assert nices[0] == nices[1] < nices[2]
    stored = SQLiteLogStore(tmp_path / "logs.db").search(LogQuery(limit=200)).data  # close() closed the writer's
    assert sorted(r.request_id for r in stored) == sorted(f"r{i}" for i in range(120))
