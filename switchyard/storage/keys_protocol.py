"""The key-store seam: virtual keys, teams and users as stored records, and the protocol both backends meet.

A key record holds the SHA-256 of the secret, never the secret. Every table has the same shape: an id (ordered
by creation time, and the pagination cursor), an optional unique name (``uniq``: a live key's alias, a
live team's name, a user's email), the owning team, the key hash, and the record itself as JSON. The stores do
no policy: who may change what, and what a change means, is decided in ``switchyard.auth``.
"""

from __future__ import annotations

import os
import time
from typing import Protocol, TypeVar

import msgspec

from switchyard.types.identity import Period, Role


class KeyRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    key_hash: str
    prefix: str
    created_at: float
    updated_at: float
    alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    role: Role = "user"
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_usd: float | None = None
    budget_period: Period = "monthly"
    expires_at: float | None = None
    revoked_at: float | None = None
    metadata: dict[str, str] = {}
    tags: list[str] = []


class TeamRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    name: str
    created_at: float
    updated_at: float
    models: list[str] | None = None
    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None
    budget_usd: float | None = None
    budget_period: Period = "monthly"
    # A deleted team is kept (its keys' history refers to it) but its keys stop working.
    deleted_at: float | None = None
    metadata: dict[str, str] = {}


class UserRecord(msgspec.Struct, kw_only=True, omit_defaults=True):
    id: str
    created_at: float
    updated_at: float
    name: str | None = None
    email: str | None = None
    team_id: str | None = None
    deleted_at: float | None = None
    metadata: dict[str, str] = {}


AnyRecord = KeyRecord | TeamRecord | UserRecord
R = TypeVar("R", KeyRecord, TeamRecord, UserRecord)

TABLES: dict[type[AnyRecord], str] = {KeyRecord: "sy_keys", TeamRecord: "sy_teams", UserRecord: "sy_users"}
_ID_PREFIX: dict[type[AnyRecord], str] = {KeyRecord: "key_", TeamRecord: "team_", UserRecord: "user_"}


class DuplicateError(Exception):
    """A live record already uses this alias, team name or email."""


def new_id(kind: type[AnyRecord]) -> str:
    """Nanoseconds since the epoch, then randomness: ids sort (almost always) by creation, and listings page
    by id, so the last id seen is the cursor."""
    return f"{_ID_PREFIX[kind]}{time.time_ns():016x}{os.urandom(4).hex()}"


def unique_name(record: AnyRecord) -> str | None:
    """The value that must be unique among live records of the same table (None: nothing to check)."""
    if isinstance(record, KeyRecord):
        return record.alias if record.revoked_at is None else None
    if isinstance(record, TeamRecord):
        return record.name if record.deleted_at is None else None
    return record.email if record.deleted_at is None else None


def team_of(record: AnyRecord) -> str | None:
    """The team a record belongs to; a team belongs to itself, so a team filter finds it too."""
    return record.id if isinstance(record, TeamRecord) else record.team_id


def key_hash_of(record: AnyRecord) -> str | None:
    return record.key_hash if isinstance(record, KeyRecord) else None


class KeyStore(Protocol):
    """Keys, teams and users. Async: the SQLite backend runs on a thread, the PostgreSQL one on a pool."""

    async def start(self) -> None:
        """Open connections and apply migrations."""

    async def close(self) -> None: ...

    async def insert(self, record: AnyRecord) -> None:
        """Add a record; ``DuplicateError`` when its unique name is taken."""

    async def replace(self, record: AnyRecord) -> None:
        """Overwrite the record with the same id; ``DuplicateError`` when its unique name is taken."""

    async def get(self, kind: type[R], record_id: str) -> R | None: ...

    async def key_by_hash(self, key_hash: str) -> KeyRecord | None: ...

    async def page(
        self, kind: type[R], *, team_id: str | None, limit: int, cursor: str | None
    ) -> tuple[list[R], str | None]:
        """Records in creation order after ``cursor``; the next cursor, or None on the last page."""

    async def any_keys(self) -> bool:
        """Whether a key was ever created (an open gateway closes once one exists)."""

    async def add_grace(self, key_hash: str, key_id: str, until: float) -> None:
        """Accept the secret with ``key_hash`` for key ``key_id`` until ``until`` (a rotation's grace period)."""

    async def grace(self, key_hash: str, now: float) -> tuple[str, float] | None:
        """(key id, end of grace) for a rotated key's previous secret while its grace period lasts; else None."""
