"""The embedded key store: SQLite (WAL) in the gateway's database file.

Every call runs on a worker thread (``asyncio.to_thread``): admin writes are rare and authentication reads only
on a cache miss, so a thread per call is cheap enough and the event loop never waits on the disk.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import msgspec

from switchyard.errors import StoreUnavailableError
from switchyard.storage.keys_migrations import COMPONENT, MIGRATIONS, VERSION_TABLE
from switchyard.storage.keys_protocol import (
    TABLES,
    AnyRecord,
    DuplicateError,
    KeyRecord,
    R,
    key_hash_of,
    team_of,
    unique_name,
)

log = logging.getLogger("switchyard.storage")


class SQLiteKeyStore:
    def __init__(self, path: Path) -> None:
        self._path = path
        self._db: sqlite3.Connection | None = None
        # One connection shared by the worker threads, one statement at a time.
        self._lock = threading.Lock()

    async def start(self) -> None:
        await asyncio.to_thread(self._open)

    def _open(self) -> None:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("BEGIN IMMEDIATE")  # one process migrates at a time
        try:
            db.execute(VERSION_TABLE)
            rows = db.execute("SELECT version FROM sy_schema_version WHERE component=?", (COMPONENT,))
            done = {row[0] for row in rows}
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    db.execute(statement)
                db.execute("INSERT INTO sy_schema_version VALUES (?, ?, ?)", (COMPONENT, version, time.time()))
        except BaseException:
            db.execute("ROLLBACK")
            db.close()
            raise
        db.execute("COMMIT")
        self._db = db

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            if self._db is None:
                raise StoreUnavailableError("The key store is closed.")
            try:
                return self._db.execute(sql, args).fetchall()
            except sqlite3.IntegrityError as exc:
                raise DuplicateError(str(exc)) from None
            except sqlite3.Error:
                log.exception("key store query failed")
                raise StoreUnavailableError("The key store is unavailable; try again shortly.") from None

    async def insert(self, record: AnyRecord) -> None:
        table = TABLES[type(record)]
        sql = f"INSERT INTO {table} (id, uniq, team_id, key_hash, data) VALUES (?, ?, ?, ?, ?)"
        await asyncio.to_thread(self._run, sql, _row(record))

    async def replace(self, record: AnyRecord) -> None:
        table = TABLES[type(record)]
        sql = f"UPDATE {table} SET uniq=?, team_id=?, key_hash=?, data=? WHERE id=?"
        record_id, *rest = _row(record)
        await asyncio.to_thread(self._run, sql, (*rest, record_id))

    async def get(self, kind: type[R], record_id: str) -> R | None:
        rows = await asyncio.to_thread(self._run, f"SELECT data FROM {TABLES[kind]} WHERE id=?", (record_id,))
        return msgspec.json.decode(rows[0][0], type=kind) if rows else None

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        rows = await asyncio.to_thread(self._run, "SELECT data FROM sy_keys WHERE key_hash=?", (key_hash,))
        return msgspec.json.decode(rows[0][0], type=KeyRecord) if rows else None

    async def page(
        self, kind: type[R], *, team_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[R], str | None]:
        sql = f"SELECT data FROM {TABLES[kind]} WHERE id > ?"
        args: tuple[Any, ...] = (cursor or "",)
        if team_id is not None:
            sql += " AND team_id = ?"
            args += (team_id,)
        sql += " ORDER BY id LIMIT ?"
        rows = await asyncio.to_thread(self._run, sql, (*args, limit + 1))
        records = [msgspec.json.decode(row[0], type=kind) for row in rows[:limit]]
        return records, (records[-1].id if len(rows) > limit else None)

    async def any_keys(self) -> bool:
        return bool(await asyncio.to_thread(self._run, "SELECT 1 FROM sy_keys LIMIT 1"))

    async def add_grace(self, key_hash: str, key_id: str, until: float) -> None:
        # Expired grace rows are dropped here: rotations are rare, so the table stays tiny without a sweeper.
        await asyncio.to_thread(self._run, "DELETE FROM sy_key_grace WHERE valid_until <= ?", (time.time(),))
        sql = "INSERT OR REPLACE INTO sy_key_grace VALUES (?, ?, ?)"
        await asyncio.to_thread(self._run, sql, (key_hash, key_id, until))

    async def grace(self, key_hash: str, now: float) -> tuple[str, float] | None:
        sql = "SELECT key_id, valid_until FROM sy_key_grace WHERE key_hash = ? AND valid_until > ?"
        rows = await asyncio.to_thread(self._run, sql, (key_hash, now))
        return (str(rows[0][0]), float(rows[0][1])) if rows else None


def _row(record: AnyRecord) -> tuple[str, str | None, str | None, str | None, str]:
    return record.id, unique_name(record), team_of(record), key_hash_of(record), msgspec.json.encode(record).decode()
