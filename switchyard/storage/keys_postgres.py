"""The scale-out key store: PostgreSQL through an asyncpg pool built at start-up.

Several gateway processes share the database; each migrates at start-up under an advisory lock, so when
they start together one applies the schema and the others find it applied.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg  # type: ignore[import-untyped]
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

# Any constant works; it only has to be the same in every gateway process.
_MIGRATION_LOCK = 0x5357_4B45_5953
_QUERY_TIMEOUT_S = 5.0

log = logging.getLogger("switchyard.storage")


class PostgresKeyStore:
    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self._dsn = dsn
        self._min_size = min_size
        self._max_size = max_size
        self._pool: Any = None

    async def start(self) -> None:
        """Connect and migrate. Raises while PostgreSQL is unreachable; the gateway retries in the background."""
        if self._pool is not None:
            return
        pool = await asyncpg.create_pool(self._dsn, min_size=self._min_size, max_size=self._max_size)
        try:
            await self._migrate(pool)
        except BaseException:
            pool.terminate()
            raise
        self._pool = pool

    async def _migrate(self, pool: Any) -> None:
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _MIGRATION_LOCK)
            await conn.execute(VERSION_TABLE)
            rows = await conn.fetch("SELECT version FROM sy_schema_version WHERE component=$1", COMPONENT)
            done = {row[0] for row in rows}
            for version, statements in MIGRATIONS:
                if version in done:
                    continue
                for statement in statements:
                    await conn.execute(statement)
                await conn.execute("INSERT INTO sy_schema_version VALUES ($1, $2, $3)", COMPONENT, version, time.time())

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def _fetch(self, sql: str, *args: Any) -> list[Any]:
        if self._pool is None:
            raise StoreUnavailableError("The key store is not connected; try again shortly.")
        try:
            return list(await self._pool.fetch(sql, *args, timeout=_QUERY_TIMEOUT_S))
        except asyncpg.UniqueViolationError as exc:
            raise DuplicateError(str(exc)) from None
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError) as exc:
            # Connection refused or reset, server restarting, query timeout: the caller gets a 503, never a 500.
            log.warning("key store query failed: %s", type(exc).__name__)
            raise StoreUnavailableError("The key store is unavailable; try again shortly.") from None

    async def insert(self, record: AnyRecord) -> None:
        table = TABLES[type(record)]
        await self._fetch(
            f"INSERT INTO {table} (id, uniq, team_id, key_hash, data) VALUES ($1, $2, $3, $4, $5)", *_row(record)
        )

    async def replace(self, record: AnyRecord) -> None:
        table = TABLES[type(record)]
        await self._fetch(f"UPDATE {table} SET uniq=$2, team_id=$3, key_hash=$4, data=$5 WHERE id=$1", *_row(record))

    async def get(self, kind: type[R], record_id: str) -> R | None:
        rows = await self._fetch(f"SELECT data FROM {TABLES[kind]} WHERE id=$1", record_id)
        return msgspec.json.decode(rows[0][0], type=kind) if rows else None

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None:
        rows = await self._fetch("SELECT data FROM sy_keys WHERE key_hash=$1", key_hash)
        return msgspec.json.decode(rows[0][0], type=KeyRecord) if rows else None

    async def page(
        self, kind: type[R], *, team_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[R], str | None]:
        table = TABLES[kind]
        sql = f"SELECT data FROM {table} WHERE id > $1 AND ($2::text IS NULL OR team_id = $2) ORDER BY id LIMIT $3"
        rows = await self._fetch(sql, cursor or "", team_id, limit + 1)
        records = [msgspec.json.decode(row[0], type=kind) for row in rows[:limit]]
        return records, (records[-1].id if len(rows) > limit else None)

    async def any_keys(self) -> bool:
        return bool(await self._fetch("SELECT 1 FROM sy_keys LIMIT 1"))

    async def add_grace(self, key_hash: str, key_id: str, until: float) -> None:
        # Expired grace rows are dropped here: rotations are rare, so the table stays tiny without a sweeper.
        await self._fetch("DELETE FROM sy_key_grace WHERE valid_until <= $1", time.time())
        sql = "INSERT INTO sy_key_grace VALUES ($1, $2, $3) ON CONFLICT (key_hash) DO UPDATE SET valid_until = $3"
        await self._fetch(sql, key_hash, key_id, until)

    async def grace(self, key_hash: str, now: float) -> tuple[str, float] | None:
        sql = "SELECT key_id, valid_until FROM sy_key_grace WHERE key_hash = $1 AND valid_until > $2"
        rows = await self._fetch(sql, key_hash, now)
        return (str(rows[0][0]), float(rows[0][1])) if rows else None


def _row(record: AnyRecord) -> tuple[str, str | None, str | None, str | None, str]:
    return record.id, unique_name(record), team_of(record), key_hash_of(record), msgspec.json.encode(record).decode()
