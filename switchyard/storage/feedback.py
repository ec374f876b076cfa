"""Feedback on served answers (``POST /v1/feedback``): a score in [0, 1] per request id, kept for retraining.

``switchyard train router --from-logs`` joins feedback with the request log (the served member, and the prompt
when bodies are logged) to retrain a router on production traffic. Backends: in memory (tests), SQLite in the data
directory, written off the event loop (feedback is rare: one thread hop per call, no batching needed), and
PostgreSQL for scale-out (``feedback_postgres.py``), so feedback given to any instance lands in one place.
Several scores for one request are all kept; the trainer averages them.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import msgspec


class Feedback(msgspec.Struct, frozen=True, omit_defaults=True):
    request_id: str
    score: float
    ts: float
    comment: str | None = None
    key_id: str | None = None


class FeedbackStore(Protocol):
    async def add(self, feedback: Feedback) -> None: ...

    async def entries(self) -> list[Feedback]: ...

    async def aclose(self) -> None: ...


# The same table and statements in both SQL dialects; only the insert's placeholders differ.
COLUMNS = "request_id, score, ts, comment, key_id"
SELECT_ALL = f"SELECT {COLUMNS} FROM feedback ORDER BY ts"


def row_of(feedback: Feedback) -> tuple[str, float, float, str | None, str | None]:
    return (feedback.request_id, feedback.score, feedback.ts, feedback.comment, feedback.key_id)


def feedback_of(row: Sequence[Any]) -> Feedback:
    return Feedback(row[0], float(row[1]), float(row[2]), row[3], row[4])


class MemoryFeedbackStore:
    def __init__(self) -> None:
        self.items: list[Feedback] = []

    async def add(self, feedback: Feedback) -> None:
        self.items.append(feedback)

    async def entries(self) -> list[Feedback]:
        return list(self.items)

    async def aclose(self) -> None:
        return None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    request_id TEXT NOT NULL,
    score REAL NOT NULL,
    ts REAL NOT NULL,
    comment TEXT,
    key_id TEXT
);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);
"""


class SQLiteFeedbackStore:
    """``<data_dir>/feedback.db`` (WAL). The connection is opened lazily in the worker thread that uses it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _connect(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = sqlite3.connect(self.path, check_same_thread=False, timeout=10)
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(_SCHEMA)
            self._db = db
        return self._db

    def add_sync(self, feedback: Feedback) -> None:
        with self._lock:
            db = self._connect()
            db.execute(f"INSERT INTO feedback ({COLUMNS}) VALUES (?, ?, ?, ?, ?)", row_of(feedback))
            db.commit()

    def entries_sync(self) -> list[Feedback]:
        with self._lock:
            return [feedback_of(row) for row in self._connect().execute(SELECT_ALL)]

    async def add(self, feedback: Feedback) -> None:
        await asyncio.to_thread(self.add_sync, feedback)

    async def entries(self) -> list[Feedback]:
        return await asyncio.to_thread(self.entries_sync)

    async def aclose(self) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
