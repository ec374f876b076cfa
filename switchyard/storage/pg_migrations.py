"""Versioned PostgreSQL migrations, applied once per database even when several instances start together.

Each store names its own version table and advisory lock; the lock is held for the transaction, so a second
instance waits, then finds the versions already applied. Never edit a released migration: add the next one.
"""

from __future__ import annotations

import asyncio
from typing import Any


async def apply(pool: Any, lock: int, version_table: str, migrations: tuple[tuple[int, str], ...]) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", lock)
        await conn.execute(
            f"CREATE TABLE IF NOT EXISTS {version_table} "
            "(version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        applied = {row[0] for row in await conn.fetch(f"SELECT version FROM {version_table}")}
        for version, statements in migrations:
            if version not in applied:
                await conn.execute(statements)
                await conn.execute(f"INSERT INTO {version_table} (version) VALUES ($1)", version)


class MigratedPool:
    """An asyncpg pool opened on first use and migrated then, so a gateway whose database is down still starts."""

    def __init__(
        self,
        dsn: str,
        *,
        min_size: int,
        max_size: int,
        connect_timeout_s: float,
        timeout_s: float,
        lock: int,
        version_table: str,
        migrations: tuple[tuple[int, str], ...],
    ) -> None:
        self._dsn = dsn
        self._sizes = (min_size, max_size)
        self._timeouts = (connect_timeout_s, timeout_s)
        self._migration = (lock, version_table, migrations)
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def get(self) -> Any:
        if self._pool is not None:
            return self._pool
        async with self._opening:
            if self._pool is None:
                import asyncpg  # type: ignore[import-untyped]  # the "postgres" extra: only scale-out installs it

                pool = await asyncpg.create_pool(
                    self._dsn,
                    min_size=self._sizes[0],
                    max_size=self._sizes[1],
                    timeout=self._timeouts[0],
                    command_timeout=self._timeouts[1],
                )
                try:
                    await apply(pool, *self._migration)
                except BaseException:
                    pool.terminate()
                    raise
                self._pool = pool
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
