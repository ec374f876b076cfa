"""Synchronous log stores write a batch in small transactions, in order, and a half-written batch is not lost."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

from switchyard.storage.logs_protocol import WRITE_CHUNK, Threaded
from switchyard.storage.spill import Spill
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.types.logs import LogQuery, RequestLog


def record(i: int) -> RequestLog:
    return RequestLog(
        request_id=f"r{i}", ts=1000.0 + i, endpoint="/v1/chat/completions", status=200, latency_ms=1.0,
        log_id=f"L{i:06d}",
    )  # fmt: skip


class Watched(SQLiteLogStore):
    """A real SQLite store that notes each transaction's ids and can fail one transaction once."""

    def __init__(self, path: Path, fail_call: int = 0) -> None:
        super().__init__(path)
        self.calls: list[list[str]] = []
        self.fail_call = fail_call

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        self.calls.append([r.request_id for r in records])
        if len(self.calls) == self.fail_call:
            raise OSError("disk I/O error")
        super().write_batch(records)


def stored(path: Path) -> list[str]:
    return [r.request_id for r in SQLiteLogStore(path).search(LogQuery(limit=1000)).data]


def test_a_batch_is_written_in_chunks_in_order(tmp_path: Path) -> None:
    store = Watched(tmp_path / "logs.db")
    backend = Threaded(store)
    count = 3 * WRITE_CHUNK + 5

    async def run() -> None:
        await backend.write_batch([record(i) for i in range(count)])
        await backend.close()

    asyncio.run(run())
    assert [len(ids) for ids in store.calls] == [WRITE_CHUNK] * 3 + [5]
    assert [i for ids in store.calls for i in ids] == [f"r{i}" for i in range(count)]  # one sequence, in order
    assert sorted(stored(tmp_path / "logs.db")) == sorted(f"r{i}" for i in range(count))


def test_a_chunk_failing_after_others_committed_loses_nothing_and_stores_nothing_twice(tmp_path: Path) -> None:
    store = Watched(tmp_path / "logs.db", fail_call=2)  # the first chunk commits, the second fails
    spill = Spill(tmp_path / "spill")
    count = 2 * WRITE_CHUNK + 10

    async def run() -> None:
        writer = BatchWriter(store, spill=spill, batch_size=500, interval_s=0.01, max_backoff_s=0.02)
        for i in range(count):
            writer.submit(record(i))
        await writer.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while spill.replayed < count:
            assert loop.time() < deadline, "the spilled batch was not replayed"
            await asyncio.sleep(0.01)
        await writer.close()

    asyncio.run(run())
    ids = stored(tmp_path / "logs.db")
    assert sorted(ids) == sorted(f"r{i}" for i in range(count)) and len(ids) == len(set(ids))
