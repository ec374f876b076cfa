"""The batch writer with its spill: a failing store loses nothing and stores nothing twice."""

from __future__ import annotations

import asyncio
import fcntl
import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from switchyard.storage.memory import MemoryLogStore
from switchyard.storage.spill import Spill
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.storage.writer import BatchWriter
from switchyard.types.logs import LogQuery, RequestLog


def record(i: int) -> RequestLog:
    return RequestLog(
        request_id=f"r{i}", ts=1000.0 + i, endpoint="/v1/chat/completions", status=200, latency_ms=1.0,
        log_id=f"L{i:06d}",
    )


class Switchable(SQLiteLogStore):
    """A real SQLite store whose writes can be made to fail, or to fail after committing (a lost ack)."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = False
        self.lose_ack = 0
        self.calls = 0

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        self.calls += 1
        if self.down:
            raise OSError("database is down")
        super().write_batch(records)
        if self.lose_ack:
            self.lose_ack -= 1
            raise ConnectionError("connection lost after commit")


def stored_ids(store: SQLiteLogStore) -> list[str]:
    return sorted(r.request_id for r in store.search(LogQuery(limit=1000)).data)


async def until(condition: object, timeout_s: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def test_outage_spills_then_replays_every_record_exactly_once(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "logs.db")
    spill = Spill(tmp_path / "spill")

    async def run() -> BatchWriter:
        writer = BatchWriter(store, spill=spill, batch_size=10, interval_s=0.01, max_backoff_s=0.05)
        await writer.start()
        for i in range(40):
            writer.submit(record(i))
        await until(lambda: writer.written == 40)
        store.down = True
        for i in range(40, 140):
            writer.submit(record(i))
            if i % 10 == 0:
                await asyncio.sleep(0.005)
        await until(lambda: spill.spilled == 100)
        assert len(spill.segments()) >= 1 and stored_ids(store) == sorted(f"r{i}" for i in range(40))
        store.down = False
        await until(lambda: not spill.segments() and writer.depth == 0)
        for i in range(140, 150):
            writer.submit(record(i))
        await writer.close()
        return writer

    writer = asyncio.run(run())
    assert stored_ids(Switchable(tmp_path / "logs.db")) == sorted(f"r{i}" for i in range(150))
    assert spill.replayed == 100 and writer.dropped == 0


def test_a_commit_whose_ack_was_lost_is_not_stored_twice(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "logs.db")
    store.lose_ack = 1
    spill = Spill(tmp_path / "spill")

    async def run() -> None:
        writer = BatchWriter(store, spill=spill, batch_size=50, interval_s=0.01, max_backoff_s=0.02)
        await writer.start()
        for i in range(20):
            writer.submit(record(i))
        await until(lambda: spill.replayed == 20)
        await writer.close()

    asyncio.run(run())
    assert stored_ids(SQLiteLogStore(tmp_path / "logs.db")) == sorted(f"r{i}" for i in range(20))


def test_shutdown_during_an_outage_spills_and_the_next_start_replays(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "logs.db")
    store.down = True

    async def first() -> None:
        writer = BatchWriter(store, spill=Spill(tmp_path / "spill"), batch_size=7, interval_s=10)
        await writer.start()
        for i in range(30):
            writer.submit(record(i))
        await writer.close()

    asyncio.run(first())
    assert stored_ids(SQLiteLogStore(tmp_path / "logs.db")) == [] and Spill(tmp_path / "spill").segments()
    lines = sum(len(p.read_bytes().splitlines()) for p in Spill(tmp_path / "spill").segments())
    assert lines == 30

    async def second() -> None:
        writer = BatchWriter(SQLiteLogStore(tmp_path / "logs.db"), spill=Spill(tmp_path / "spill"), interval_s=0.01)
        await writer.start()
        await until(lambda: not Spill(tmp_path / "spill").segments())
        await writer.close()

    asyncio.run(second())
    assert stored_ids(SQLiteLogStore(tmp_path / "logs.db")) == sorted(f"r{i}" for i in range(30))


def test_replay_skips_a_torn_last_line_and_segments_another_process_holds(tmp_path: Path) -> None:
    spill = Spill(tmp_path / "spill")
    spill.append([record(1), record(2)])
    spill.seal()
    (segment,) = spill.segments()
    with segment.open("ab") as f:
        f.write(b'{"request_id":"torn","ts":1')  # a crash in the middle of an append
    held = Spill(tmp_path / "spill")
    held.append([record(3)])  # still open and locked: as if another live process were appending
    store = MemoryLogStore()

    async def run() -> None:
        writer = BatchWriter(store, spill=Spill(tmp_path / "spill"), interval_s=0.01)
        await writer.start()
        await until(lambda: len(store.query()) == 2)
        await writer.close()

    asyncio.run(run())
    assert sorted(r.request_id for r in store.query()) == ["r1", "r2"]
    (remaining,) = Spill(tmp_path / "spill").segments()
    with remaining.open("rb") as f, pytest.raises(BlockingIOError):
        fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.seal()


def test_a_full_queue_drops_counts_and_reports(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryLogStore()

    async def run() -> BatchWriter:
        writer = BatchWriter(store, max_queue=5, interval_s=0.01)
        for i in range(8):
            writer.submit(record(i))
        assert writer.depth == 5 and writer.dropped == 3
        await writer.start()
        await writer.close()
        return writer

    with caplog.at_level(logging.WARNING, logger="switchyard.storage"):
        writer = asyncio.run(run())
    assert writer.written == 5 and len(store.query()) == 5
    assert any("3 records dropped" in message for message in caplog.messages)


def test_without_a_spill_a_failing_store_keeps_records_queued(tmp_path: Path) -> None:
    store = Switchable(tmp_path / "logs.db")
    store.down = True

    async def run() -> None:
        writer = BatchWriter(store, interval_s=0.01, max_backoff_s=0.05)
        await writer.start()
        for i in range(10):
            writer.submit(record(i))
        await until(lambda: store.calls >= 3)
        assert writer.depth == 10
        store.down = False
        await until(lambda: writer.depth == 0)
        await writer.close()

    asyncio.run(run())
    assert stored_ids(SQLiteLogStore(tmp_path / "logs.db")) == sorted(f"r{i}" for i in range(10))


def test_retention_runs_at_start(tmp_path: Path) -> None:
    store = MemoryLogStore()
    store.write_batch([record(1), record(2)])  # ts 1001, 1002

    async def run() -> None:
        writer = BatchWriter(store, interval_s=0.01, retention_days=1, clock=lambda: 1001.5 + 86400)
        await writer.start()
        await until(lambda: len(store.query()) == 1)
        await writer.close()

    asyncio.run(run())
    assert [r.request_id for r in store.query()] == ["r2"]
