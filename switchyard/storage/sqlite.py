"""The embedded request-log store: SQLite in WAL mode under the data directory."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

import msgspec

from switchyard.types.logs import RequestLog

_COLUMNS = tuple(RequestLog.__struct_fields__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS request_logs (
    request_id TEXT NOT NULL,
    ts REAL NOT NULL,
    endpoint TEXT NOT NULL,
    status INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    model_group TEXT,
    deployment TEXT,
    stream INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    ttft_ms REAL,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    total_tokens INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    trace TEXT,
    upstream_request_id TEXT,
    cost_usd REAL
);
CREATE INDEX IF NOT EXISTS request_logs_ts ON request_logs (ts);
CREATE INDEX IF NOT EXISTS request_logs_request_id ON request_logs (request_id);
"""


class SQLiteLogStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection shared by the writer thread and readers, serialised by a lock: SQLite allows
        # one writer at a time anyway, and WAL keeps readers in other processes unblocked.
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._migrate()
        self._lock = threading.Lock()
        placeholders = ", ".join("?" for _ in _COLUMNS)
        self._insert = f"INSERT INTO request_logs ({', '.join(_COLUMNS)}) VALUES ({placeholders})"

    def _migrate(self) -> None:
        # Columns added after a database was created: add them in place, never drop data.
        present = {row[1] for row in self._db.execute("PRAGMA table_info(request_logs)")}
        for column, kind in (("cost_usd", "REAL"),):
            if column not in present:
                self._db.execute(f"ALTER TABLE request_logs ADD COLUMN {column} {kind}")

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        rows = [tuple(getattr(r, c) for c in _COLUMNS) for r in records]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(self._insert, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, limit: int = 100) -> list[RequestLog]:
        with self._lock:
            cursor = self._db.execute(
                f"SELECT {', '.join(_COLUMNS)} FROM request_logs ORDER BY ts DESC LIMIT ?", (limit,)
            )
            rows = cursor.fetchall()
        return [msgspec.convert(dict(zip(_COLUMNS, row, strict=True)), RequestLog, strict=False) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
