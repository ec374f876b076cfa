"""Versioned PostgreSQL migrations, applied once per database even when several instances start together.

Each store names its own version table and advisory lock; the lock is held for the transaction, so a second
instance waits, then finds the versions already applied. Never edit a released migration: add the next one.
"""

from __future__ import annotations

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
