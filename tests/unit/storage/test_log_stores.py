"""The request-log stores: in-place migration, insert-if-absent, filters, keyset pages, spend, retention.

SQLite and the memory store must give the same answers (PostgreSQL runs the same SQL, see the integration tests).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from switchyard.storage.log_memory import memory_search
from switchyard.storage.memory import MemoryLogStore
from switchyard.storage.sqlite import SQLiteLogStore
from switchyard.types.logs import LogQuery, RequestLog, SpendQuery

DAY = 86400.0
T0 = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC


def record(i: int, **fields: object) -> RequestLog:
    base: dict[str, object] = {
        "request_id": f"r{i}",
        "ts": T0 + i,
        "endpoint": "/v1/chat/completions",
        "status": 200,
        "latency_ms": 1.0,
        "model_group": "g",
        "deployment": "g/0",
        "prompt_tokens": 10,
        "completion_tokens": 5,
        "total_tokens": 15,
        "cost_usd": 0.001,
        "log_id": f"L{i:06d}",
        "key_id": f"k{i % 3}",
        "team_id": f"t{i % 2}",
        "user_id": "u1" if i % 5 == 0 else None,
    }
    base.update(fields)
    return RequestLog(**base)  # type: ignore[arg-type]


def sample() -> list[RequestLog]:
    records = [record(i) for i in range(30)]
    records += [record(30, status=429, error_code="rate_limit_exceeded", model_group="h", deployment="h/0")]
    records += [record(31, ts=T0 + DAY, model_group="h", deployment="h/1", cost_usd=0.5, team_id="t1")]
    return records


@pytest.fixture(params=["sqlite", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> SQLiteLogStore | MemoryLogStore:
    chosen: SQLiteLogStore | MemoryLogStore
    chosen = SQLiteLogStore(tmp_path / "logs.db") if request.param == "sqlite" else MemoryLogStore()
    chosen.write_batch(sample())
    return chosen


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    store = SQLiteLogStore(tmp_path / "a" / "logs.db")
    full = record(
        1,
        stream=True,
        ttft_ms=3.5,
        attempts=2,
        trace='[{"deployment":"g/0"}]',
        upstream_request_id="up-1",
        cache_status="miss",
        decision='{"member":"cheap"}',
        request_body='{"model":"g"}',
        response_body='{"id":"x"}',
    )
    store.write_batch([full])
    assert store.get("r1") == full
    assert store.get("nope") is None
    store.close()


def test_a_record_written_twice_is_stored_once(tmp_path: Path) -> None:
    # Only durable stores see a batch again (replayed from the spill); the memory store keeps what it is given.
    store = SQLiteLogStore(tmp_path / "logs.db")
    store.write_batch(sample())
    store.write_batch([record(3), record(99)])
    ids = [r.log_id for r in store.search(LogQuery(limit=1000)).data]
    assert ids.count("L000003") == 1 and ids.count("L000099") == 1


def test_filters(store: SQLiteLogStore | MemoryLogStore) -> None:
    def ids(**filters: object) -> set[str]:
        return {r.request_id for r in store.search(LogQuery(limit=1000, **filters)).data}  # type: ignore[arg-type]

    assert ids(key_id="k1") == {f"r{i}" for i in range(32) if i % 3 == 1}
    assert ids(team_id="t0") == {f"r{i}" for i in range(31) if i % 2 == 0}
    assert ids(user_id="u1") == {"r0", "r5", "r10", "r15", "r20", "r25", "r30"}
    assert ids(model="h") == {"r30", "r31"}
    assert ids(deployment="h/1") == {"r31"}
    assert ids(status=429) == ids(status="error") == {"r30"}
    assert len(ids(status="ok")) == 31
    assert ids(since=T0 + 28, until=T0 + 31) == {"r28", "r29", "r30"}
    assert ids(model="g", team_id="t1", key_id="k0") == {"r3", "r9", "r15", "r21", "r27"}


def test_pages_walk_every_record_once_newest_first(store: SQLiteLogStore | MemoryLogStore) -> None:
    seen: list[RequestLog] = []
    after = None
    for _ in range(20):
        page = store.search(LogQuery(limit=7, after=after))
        seen += page.data
        if page.next is None:
            break
        after = page.next
    assert [r.request_id for r in seen] == [f"r{i}" for i in reversed(range(32))]


def test_pages_break_ties_on_equal_timestamps(tmp_path: Path) -> None:
    records = [record(i, ts=T0, log_id=f"same{i:03d}") for i in range(10)]
    for chosen in (SQLiteLogStore(tmp_path / "t.db"), MemoryLogStore()):
        chosen.write_batch(records)
        first = chosen.search(LogQuery(limit=4))
        second = chosen.search(LogQuery(limit=4, after=first.next))
        assert first.next is not None
        got = [r.log_id for r in first.data + second.data]
        assert got == [f"same{i:03d}" for i in reversed(range(2, 10))]
    assert memory_search([], LogQuery()).data == []


def test_spend_rollups(store: SQLiteLogStore | MemoryLogStore) -> None:
    by_model = {row.group: row for row in store.spend(SpendQuery(group_by="model"))}
    assert set(by_model) == {"g", "h"}
    assert by_model["g"].requests == 30 and by_model["g"].prompt_tokens == 300
    assert by_model["g"].completion_tokens == 150 and by_model["g"].cost_usd == pytest.approx(0.03)
    assert by_model["h"].cost_usd == pytest.approx(0.501)
    by_day = store.spend(SpendQuery(group_by="day"))
    assert [(row.group, row.requests) for row in by_day] == [("2023-11-14", 31), ("2023-11-15", 1)]
    by_user = store.spend(SpendQuery(group_by="user"))
    assert [(row.group, row.requests) for row in by_user] == [("u1", 7), (None, 25)]  # no user sorts last
    team = store.spend(SpendQuery(group_by="deployment", team_id="t1", since=T0 + 10))
    assert [(row.group, row.requests) for row in team] == [("g/0", 10), ("h/1", 1)]
    for group_by in ("key", "team"):
        rows = store.spend(SpendQuery(group_by=group_by))  # type: ignore[arg-type]
        assert sum(row.requests for row in rows) == 32


def test_retention_deletes_only_older_records(store: SQLiteLogStore | MemoryLogStore) -> None:
    assert store.delete_before(T0 + 10) == 10
    remaining = store.search(LogQuery(limit=1000)).data
    assert len(remaining) == 22 and min(r.ts for r in remaining) == T0 + 10


def test_an_old_database_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    # The table as the first release made it: no cost, no identity, no log id.
    db.execute(
        "CREATE TABLE request_logs (request_id TEXT NOT NULL, ts REAL NOT NULL, endpoint TEXT NOT NULL, "
        "status INTEGER NOT NULL, latency_ms REAL NOT NULL, model_group TEXT, deployment TEXT, "
        "stream INTEGER NOT NULL DEFAULT 0, error_code TEXT, ttft_ms REAL, prompt_tokens INTEGER, "
        "completion_tokens INTEGER, total_tokens INTEGER, attempts INTEGER NOT NULL DEFAULT 0, trace TEXT, "
        "upstream_request_id TEXT)"
    )
    db.execute(
        "INSERT INTO request_logs (request_id, ts, endpoint, status, latency_ms) VALUES ('old', 1, '/x', 200, 1)"
    )
    db.commit()
    db.close()
    store = SQLiteLogStore(path)
    store.write_batch([record(1)])
    old = store.get("old")
    assert old is not None and old.log_id and old.cost_usd is None and old.key_id is None
    assert store.get("r1") == record(1)
    assert [r.request_id for r in store.search(LogQuery()).data] == ["r1", "old"]
    store.close()
    SQLiteLogStore(path).close()  # a second open finds nothing to do
