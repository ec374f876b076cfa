"""The scale-out request-log store: PostgreSQL through an asyncpg pool.

Natively asynchronous, so the batch writer awaits it on the event loop and the query API reads without a
thread. The pool is made on first use, not at construction: a gateway whose database is down still starts,
and its records wait in the spill until the database answers. Migrations are versioned (table
``request_log_migrations``) and applied once under an advisory lock, so instances starting together agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from switchyard.storage import log_sql, pg_migrations
from switchyard.types.logs import LogPage, LogQuery, RequestLog, SpendQuery, SpendRow

# (version, statements). Never edit a released migration: add the next one.
_MIGRATIONS: tuple[tuple[int, str], ...] = (
    (
        1,
        """
        CREATE TABLE IF NOT EXISTS request_logs (
            log_id TEXT,
            request_id TEXT NOT NULL,
            ts DOUBLE PRECISION NOT NULL,
            endpoint TEXT NOT NULL,
            status INTEGER NOT NULL,
            latency_ms DOUBLE PRECISION NOT NULL,
            model_group TEXT,
            deployment TEXT,
            stream BOOLEAN NOT NULL DEFAULT FALSE,
            error_code TEXT,
            ttft_ms DOUBLE PRECISION,
            prompt_tokens INTEGER,
            completion_tokens INTEGER,
            total_tokens INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            trace TEXT,
            upstream_request_id TEXT,
            cost_usd DOUBLE PRECISION,
            key_id TEXT,
            team_id TEXT,
            user_id TEXT,
            cache_status TEXT,
            decision TEXT,
            request_body TEXT,
            response_body TEXT
        );
        CREATE UNIQUE INDEX IF NOT EXISTS request_logs_log_id ON request_logs (log_id);
        CREATE INDEX IF NOT EXISTS request_logs_ts ON request_logs (ts);
        CREATE INDEX IF NOT EXISTS request_logs_request_id ON request_logs (request_id);
        CREATE INDEX IF NOT EXISTS request_logs_key ON request_logs (key_id, ts);
        CREATE INDEX IF NOT EXISTS request_logs_team ON request_logs (team_id, ts);
        CREATE INDEX IF NOT EXISTS request_logs_user ON request_logs (user_id, ts);
        CREATE INDEX IF NOT EXISTS request_logs_model ON request_logs (model_group, ts);
        CREATE INDEX IF NOT EXISTS request_logs_deployment ON request_logs (deployment, ts);
        """,
    ),
)

# Any constant works; it only has to be the same in every instance.
_MIGRATION_LOCK = 0x5357_4C4F47  # "SWLOG"
_DAY = "to_char(to_timestamp(ts) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


class PostgresLogStore:
    def __init__(
        self, dsn: str, *, max_connections: int = 4, connect_timeout_s: float = 5.0, timeout_s: float = 30.0
    ) -> None:
        self._connect_timeout_s = connect_timeout_s
        self._timeout_s = timeout_s
        self._pool = pg_migrations.MigratedPool(
            dsn, min_size=1, max_size=max_connections, connect_timeout_s=connect_timeout_s, timeout_s=timeout_s,
            lock=_MIGRATION_LOCK, version_table="request_log_migrations", migrations=_MIGRATIONS,
        )  # fmt: skip
        self._insert = log_sql.insert_sql(log_sql.dollar, "ON CONFLICT (log_id) DO NOTHING")

    async def write_batch(self, records: Sequence[RequestLog]) -> None:
        pool = await self._pool.get()
        rows = [log_sql.row_of(r) for r in records]
        async with pool.acquire(timeout=self._connect_timeout_s) as conn, conn.transaction():
            await conn.executemany(self._insert, rows, timeout=self._timeout_s)

    async def search(self, query: LogQuery) -> LogPage:
        sql, args = log_sql.search_sql(query, log_sql.dollar)
        rows = await (await self._pool.get()).fetch(sql, *args)
        return log_sql.page_of([tuple(row) for row in rows], query)

    async def get(self, request_id: str) -> RequestLog | None:
        row = await (await self._pool.get()).fetchrow(log_sql.get_sql(log_sql.dollar), request_id)
        return None if row is None else log_sql.record_of(tuple(row))

    async def spend(self, query: SpendQuery) -> list[SpendRow]:
        sql, args = log_sql.spend_sql(query, log_sql.dollar, _DAY)
        rows = await (await self._pool.get()).fetch(sql, *args)
        return log_sql.spend_rows([tuple(row) for row in rows])

    async def delete_before(self, ts: float) -> int:
        status = await (await self._pool.get()).execute("DELETE FROM request_logs WHERE ts < $1", ts)
        return int(str(status).rsplit(" ", 1)[-1])

    async def close(self) -> None:
        await self._pool.close()
