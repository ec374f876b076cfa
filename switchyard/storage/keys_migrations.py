"""Versioned schema of the key store, the same SQL for SQLite and PostgreSQL, applied in order at start-up.

Applied versions are recorded in ``sy_schema_version`` under the component ``keys`` (other stores keep their
own component), so a database upgraded by a newer gateway is never migrated twice. Append; never edit a step.
"""

from __future__ import annotations

from switchyard.storage.keys_protocol import TABLES

COMPONENT = "keys"

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS sy_schema_version (
    component TEXT NOT NULL,
    version INTEGER NOT NULL,
    applied_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version)
)
"""


def _tables() -> list[str]:
    statements = []
    for table in TABLES.values():
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table} (id TEXT PRIMARY KEY, uniq TEXT UNIQUE, team_id TEXT,"
            " key_hash TEXT UNIQUE, data TEXT NOT NULL)"
        )
        statements.append(f"CREATE INDEX IF NOT EXISTS {table}_team ON {table} (team_id, id)")
    return statements


# A rotated key's previous secret, accepted until ``until`` (unix s) when the rotation granted a grace period.
_GRACE = (
    "CREATE TABLE IF NOT EXISTS sy_key_grace (key_hash TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
    " valid_until DOUBLE PRECISION NOT NULL)"
)

MIGRATIONS: list[tuple[int, list[str]]] = [(1, _tables()), (2, [_GRACE])]
