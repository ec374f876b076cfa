"""The embedded request-log store: SQLite in WAL mode under the data directory.

Synchronous on purpose: the batch writer calls ``write_batch`` on its own thread, and readers run these methods
through ``asyncio.to_thread`` (see ``logs_protocol.threaded``). Writes and reads use separate connections so a
long query never waits for a batch, and WAL lets several gateway processes share the file.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path

from switchyard.storage import log_sql
from switchyard.types.logs import LogPage, LogQuery, RequestLog, SpendQuery, SpendRow

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
)
"""

# Columns added after the first release, in order: a database made by an older version gets them in place.
_ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("cost_usd", "REAL"),
    ("log_id", "TEXT"),
    ("key_id", "TEXT"),
    ("team_id", "TEXT"),
    ("user_id", "TEXT"),
    ("cache_status", "TEXT"),
    ("decision", "TEXT"),
    ("request_body", "TEXT"),
    ("response_body", "TEXT"),
)

_INDEXES = """
CREATE INDEX IF NOT EXISTS request_logs_ts ON request_logs (ts);
CREATE INDEX IF NOT EXISTS request_logs_request_id ON request_logs (request_id);
CREATE UNIQUE INDEX IF NOT EXISTS request_logs_log_id ON request_logs (log_id);
CREATE INDEX IF NOT EXISTS request_logs_key ON request_logs (key_id, ts);
CREATE INDEX IF NOT EXISTS request_logs_team ON request_logs (team_id, ts);
CREATE INDEX IF NOT EXISTS request_logs_user ON request_logs (user_id, ts);
CREATE INDEX IF NOT EXISTS request_logs_model ON request_logs (model_group, ts);
CREATE INDEX IF NOT EXISTS request_logs_deployment ON request_logs (deployment, ts);
"""

_DAY = "strftime('%Y-%m-%d', ts, 'unixepoch')"


def _connect(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


class SQLiteLogStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = _connect(path)
        self._migrate()
        self._reader = _connect(path)
        self._lock = threading.Lock()
        self._read_lock = threading.Lock()
        self._insert = log_sql.insert_sql(log_sql.qmark, "ON CONFLICT (log_id) DO NOTHING")

    def _migrate(self) -> None:
        # Several processes may start on one file at once: one migrates, the others wait for its lock.
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute(_SCHEMA)
            present = {row[1] for row in self._db.execute("PRAGMA table_info(request_logs)")}
            for column, kind in _ADDED_COLUMNS:
                if column not in present:
                    self._db.execute(f"ALTER TABLE request_logs ADD COLUMN {column} {kind}")
            # Rows from before log ids existed get one, so pagination has a total order.
            self._db.execute("UPDATE request_logs SET log_id = 'm' || rowid WHERE log_id IS NULL")
            for statement in filter(str.strip, _INDEXES.split(";")):
                self._db.execute(statement)
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def write_batch(self, records: Sequence[RequestLog]) -> None:
        rows = [log_sql.row_of(r) for r in records]
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(self._insert, rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, limit: int = 100) -> list[RequestLog]:
        return self.search(LogQuery(limit=limit)).data

    def search(self, query: LogQuery) -> LogPage:
        sql, args = log_sql.search_sql(query, log_sql.qmark)
        with self._read_lock:
            rows = self._reader.execute(sql, args).fetchall()
        return log_sql.page_of(rows, query)

    def get(self, request_id: str) -> RequestLog | None:
        with self._read_lock:
            row = self._reader.execute(log_sql.get_sql(log_sql.qmark), (request_id,)).fetchone()
        return None if row is None else log_sql.record_of(row)

    def spend(self, query: SpendQuery) -> list[SpendRow]:
        sql, args = log_sql.spend_sql(query, log_sql.qmark, _DAY)
        with self._read_lock:
            rows = self._reader.execute(sql, args).fetchall()
        return log_sql.spend_rows(rows)

    def delete_before(self, ts: float) -> int:
        with self._lock:
            return self._db.execute("DELETE FROM request_logs WHERE ts < ?", (ts,)).rowcount

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._db.close()
            self._reader.close()
