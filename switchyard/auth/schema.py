"""The admin API's bodies for keys, teams and users, as msgspec structs: they validate requests (a bad field is
a 400 naming it) and are the source of the OpenAPI document's schemas. Updates use ``UNSET`` for "leave as is",
so ``null`` can clear a value."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from switchyard.storage.keys_protocol import KeyRecord
from switchyard.types.identity import Period, Role

# Names, ids and emails are stored in indexed text columns, and PostgreSQL text cannot hold a NUL character:
# refused here as a 400 in both deployments rather than failing in the store.
_NO_NUL = r"^[^\x00]*$"
Name = Annotated[str, Meta(min_length=1, max_length=200, pattern=_NO_NUL)]
Ref = Annotated[str, Meta(min_length=1, max_length=100, pattern=_NO_NUL)]
Email = Annotated[str, Meta(min_length=3, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")]
Count = Annotated[int, Meta(ge=1, le=1_000_000_000)]
Usd = Annotated[float, Meta(ge=0)]
Models = Annotated[list[Annotated[str, Meta(min_length=1, max_length=200)]], Meta(max_length=1000)]
Metadata = Annotated[
    dict[Annotated[str, Meta(min_length=1, max_length=100)], Annotated[str, Meta(max_length=2000)]],
    Meta(max_length=100),
]
Tags = Annotated[list[Annotated[str, Meta(min_length=1, max_length=100)]], Meta(max_length=100)]
Timestamp = Annotated[float, Meta(ge=0, description="unix seconds")]



class KeyCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alias: Name | None = None
    team_id: Ref | None = None
    user_id: Ref | None = None
    role: Role = "user"
    models: Models | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_usd: Usd | None = None
    budget_period: Period = "monthly"
    expires_at: Timestamp | None = None
    metadata: Metadata = {}
    tags: Tags = []


class KeyRotate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """Optional body of a rotation: how long the previous secret keeps working (0: it stops at once)."""

    grace_s: Annotated[float, Meta(ge=0, le=30 * 86400, description="seconds, at most 30 days")] = 0.0


class KeyUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    alias: Name | None | UnsetType = UNSET
    team_id: Ref | None | UnsetType = UNSET
    user_id: Ref | None | UnsetType = UNSET
    role: Role | UnsetType = UNSET
    models: Models | None | UnsetType = UNSET
    rpm: Count | None | UnsetType = UNSET
    tpm: Count | None | UnsetType = UNSET
    max_concurrency: Count | None | UnsetType = UNSET
    budget_usd: Usd | None | UnsetType = UNSET
    budget_period: Period | UnsetType = UNSET
    expires_at: Timestamp | None | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET
    tags: Tags | UnsetType = UNSET


class KeyView(msgspec.Struct, kw_only=True):
    """A key as lists show it: its prefix, never the secret or its hash."""

    id: str
    prefix: str
    status: Literal["active", "expired", "revoked"]
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


class KeyCreated(KeyView, kw_only=True):
    """The answer to create and rotate: the only time the secret is shown."""

    key: str


class TeamCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name
    models: Models | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    max_concurrency: Count | None = None
    budget_usd: Usd | None = None
    budget_period: Period = "monthly"
    metadata: Metadata = {}


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | UnsetType = UNSET
    models: Models | None | UnsetType = UNSET
    rpm: Count | None | UnsetType = UNSET
    tpm: Count | None | UnsetType = UNSET
    max_concurrency: Count | None | UnsetType = UNSET
    budget_usd: Usd | None | UnsetType = UNSET
    budget_period: Period | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


class UserCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | None = None
    email: Email | None = None
    team_id: Ref | None = None
    metadata: Metadata = {}


class UserUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | None | UnsetType = UNSET
    email: Email | None | UnsetType = UNSET
    team_id: Ref | None | UnsetType = UNSET
    metadata: Metadata | UnsetType = UNSET


def changes(update: msgspec.Struct) -> dict[str, object]:
    """The fields an update sets (``null`` included), by name."""
    return {
        name: value for name in update.__struct_fields__ if (value := getattr(update, name)) is not UNSET
    }


def key_view(record: KeyRecord, now: float) -> KeyView:
    fields = msgspec.structs.asdict(record)
    del fields["key_hash"]
    return KeyView(status=key_status(record, now), **fields)


def key_created(record: KeyRecord, secret: str, now: float) -> KeyCreated:
    fields = msgspec.structs.asdict(record)
    del fields["key_hash"]
    return KeyCreated(status=key_status(record, now), key=secret, **fields)


def key_status(record: KeyRecord, now: float) -> Literal["active", "expired", "revoked"]:
    if record.revoked_at is not None:
        return "revoked"
    if record.expires_at is not None and record.expires_at <= now:
        return "expired"
    return "active"
