"""The batched request-log writer: off the request path, retries a failing store, flushes on close."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from switchyard.storage.memory import MemoryLogStore
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.types.logs import RequestLog


def record(i: int) -> RequestLog:
    return RequestLog(
        request_id=f"r{i}",
        ts=1000.0 + i,
        endpoint="/v1/chat/completions",
        status=200,
        latency_ms=1.5,
        model_group="g",
        stream=bool(i % 2),
        prompt_tokens=i,
    )


class Flaky(MemoryLogStore):
    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("database is down")
        super().write_batch(records)


def test_close_flushes_everything_in_batches() -> None:
    store = MemoryLogStore()

    async def run() -> BatchWriter:
        writer = BatchWriter(store, batch_size=100, interval_s=10)
        await writer.start()
        for i in range(1234):
            writer.submit(record(i))
        await writer.close()
        return writer

    writer = asyncio.run(run())
    assert writer.written == 1234 and len(store.query(limit=5000)) == 1234


def test_a_failing_store_loses_nothing_once_it_recovers() -> None:
    store = Flaky(failures=3)

    async def run() -> None:
        writer = BatchWriter(store, batch_size=10, interval_s=0.01)
        await writer.start()
        for i in range(50):
            writer.submit(record(i))
        await asyncio.sleep(0.05)
        await writer.close()

    asyncio.run(run())
    assert sorted(r.request_id for r in store.query(limit=100)) == sorted(f"r{i}" for i in range(50))


def test_bounded_queue_counts_what_it_refuses() -> None:
    writer = BatchWriter(MemoryLogStore(), max_queue=5)
    for i in range(8):
        writer.submit(record(i))
    assert writer.depth == 5 and writer.dropped == 3


def test_sqlite_store_round_trips(tmp_path: Path) -> None:
    store = SQLiteLogStore(tmp_path / "d" / "s.db")
    store.write_batch([record(1), record(2)])
    rows = store.query()
    assert [r.request_id for r in rows] == ["r2", "r1"]
    assert rows[1] == record(1)
    store.close()
