"""Feedback in PostgreSQL (scale-out): every instance behind the balancer writes to the one ``feedback`` table.

The insert is awaited in the feedback handler, as the SQLite store's thread hop is: feedback is rare, and the
caller's 201 promises the score is stored. The pool is made on first use, so a gateway whose database is down
still starts; while it is down each call fails fast with ``StoreUnavailableError`` (503), never a 500 or a hang
(connect and query are bounded by timeouts). The table is created by a versioned migration under an advisory
lock, like the request log's, so instances starting together agree.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # the "postgres" extra; create_app imports this module only then

from switchyard.errors import StoreUnavailableError
from switchyard.storage import pg_migrations
from switchyard.storage.feedback import COLUMNS, SELECT_ALL, Feedback, feedback_of, row_of

# (version, statements). Never edit a released migration: add the next one.
MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS feedback (
            request_id TEXT NOT NULL,
            score DOUBLE PRECISION NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            comment TEXT,
            key_id TEXT
        );
        CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);
        CREATE INDEX IF NOT EXISTS feedback_ts ON feedback (ts);
        """,
    ),
)

# Any constant works; it only has to be the same in every instance.
_MIGRATION_LOCK = 0x5357_4642_4B  # "SWFBK"
_INSERT = f"INSERT INTO feedback ({COLUMNS}) VALUES ($1, $2, $3, $4, $5)"

log = logging.getLogger("switchyard.storage")


class PostgresFeedbackStore:
    def __init__(
        self, dsn: str, *, max_connections: int = 2, connect_timeout_s: float = 5.0, timeout_s: float = 10.0
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._pool = pg_migrations.MigratedPool(
            dsn, min_size=0, max_size=max_connections, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s,
            lock=_MIGRATION_LOCK, version_table="feedback_migrations", migrations=MIGRATIONS,
        )  # fmt: skip  # min_size 0: feedback is rare, so no idle connection is held open for it

    async def _run(self, sql: str, *args: Any) -> list[Any]:
        try:
            pool = await self._pool.get()
            async with pool.acquire(timeout=self._connect_timeout_s) as conn:
                return list(await conn.fetch(sql, *args, timeout=self._timeout_s))
        # ValueError: a malformed URL (a port that is not a number), which asyncpg reports as a plain ValueError.
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError, ValueError) as exc:
            # Refused, reset, restarting, timed out, bad credentials: a 503 with no DSN in it (it may hold a
            # password). Only the exception's type is logged, for the same reason.
            log.warning("feedback store query failed: %s", type(exc).__name__)
            raise StoreUnavailableError("The feedback store is unavailable; try again shortly.") from None

    async def add(self, feedback: Feedback) -> None:
        await self._run(_INSERT, *row_of(feedback))

    async def entries(self) -> list[Feedback]:
        return [feedback_of(tuple(row)) for row in await self._run(SELECT_ALL)]

    async def aclose(self) -> None:
        await self._pool.close()
