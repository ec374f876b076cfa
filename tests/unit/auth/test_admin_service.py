"""Role rules and key lifecycle through AdminService and the Authenticator, on a real SQLite key store."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from switchyard.auth.admin import AdminService
from switchyard.auth.authenticator import Authenticator
from switchyard.auth.schema import KeyCreate, KeyUpdate, TeamCreate, TeamUpdate, UserCreate
from switchyard.errors import (
    AuthenticationError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    StoreUnavailableError,
)
from switchyard.storage.keys_sqlite import SQLiteKeyStore
from switchyard.types.identity import MASTER, Principal

T = TypeVar("T")
Scenario = Callable[[AdminService, Authenticator], Awaitable[None]]


def run(tmp_path: Path, scenario: Scenario, *, master: str | None = "mk", ttl_s: float = 60.0) -> None:
    async def main() -> None:
        store = SQLiteKeyStore(tmp_path / "switchyard.db")
        await store.start()
        auth = Authenticator(store, master, ttl_s=ttl_s)
        await auth.start()
        try:
            await scenario(AdminService(store, auth), auth)
        finally:
            await store.close()

    asyncio.run(main())


async def refused(kind: type[Exception], call: Awaitable[T]) -> Exception:
    with pytest.raises(kind) as caught:
        await call
    return caught.value


def test_key_lifecycle_create_rotate_revoke(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        created = await admin.create_key(MASTER, KeyCreate(alias="ci", models=["demo"], rpm=5))
        principal = await auth.authenticate(created.key)
        assert principal is not None and principal.key_id == created.id and principal.key_limits.rpm == 5
        assert principal.allowed_models == frozenset({"demo"})
        rotated = await admin.rotate_key(MASTER, created.id)
        assert rotated.id == created.id and rotated.key != created.key
        await refused(AuthenticationError, auth.authenticate(created.key))  # at once, despite the 60 s cache
        assert await auth.authenticate(rotated.key) is not None
        view = await admin.revoke_key(MASTER, created.id)
        assert view.status == "revoked"
        error = await refused(AuthenticationError, auth.authenticate(rotated.key))
        assert "revoked" in str(error)
        await refused(InvalidRequestError, admin.rotate_key(MASTER, created.id))

    run(tmp_path, scenario)
    raw = (tmp_path / "switchyard.db").read_bytes()
    assert b"sk-sy-" in raw  # the prefix is stored for lists...
    rows = sqlite3.connect(tmp_path / "switchyard.db").execute("SELECT data FROM sy_keys").fetchall()
    assert all('"key_hash"' in row[0] for row in rows)


def test_update_is_seen_at_once_and_null_clears(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        created = await admin.create_key(MASTER, KeyCreate(models=["a"], tpm=100))
        assert (await auth.authenticate(created.key)).allowed_models == {"a"}  # type: ignore[union-attr]
        await admin.update_key(MASTER, created.id, KeyUpdate(models=None, tpm=7))
        principal = await auth.authenticate(created.key)
        assert principal is not None and principal.allowed_models is None and principal.key_limits.tpm == 7
        await admin.update_key(MASTER, created.id, KeyUpdate(expires_at=time.time() - 1))
        assert "expired" in str(await refused(AuthenticationError, auth.authenticate(created.key)))

    run(tmp_path, scenario)


def test_team_changes_reach_cached_principals(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        team = await admin.create_team(MASTER, TeamCreate(name="red", models=["a", "b"]))
        created = await admin.create_key(MASTER, KeyCreate(team_id=team.id, models=["b", "c"]))
        assert (await auth.authenticate(created.key)).allowed_models == {"b"}  # type: ignore[union-attr]
        await admin.update_team(MASTER, team.id, TeamUpdate(models=["c"]))
        assert (await auth.authenticate(created.key)).allowed_models == {"c"}  # type: ignore[union-attr]
        await admin.delete_team(MASTER, team.id)
        await refused(AuthenticationError, auth.authenticate(created.key))
        await refused(InvalidRequestError, admin.create_key(MASTER, KeyCreate(team_id=team.id)))

    run(tmp_path, scenario)


def test_duplicates_conflict(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        await admin.create_team(MASTER, TeamCreate(name="red"))
        await refused(ConflictError, admin.create_team(MASTER, TeamCreate(name="red")))
        first = await admin.create_key(MASTER, KeyCreate(alias="ci"))
        await refused(ConflictError, admin.create_key(MASTER, KeyCreate(alias="ci")))
        await admin.revoke_key(MASTER, first.id)
        await admin.create_key(MASTER, KeyCreate(alias="ci"))  # a revoked key's alias is free again
        await admin.create_user(MASTER, UserCreate(email="a@b.c"))
        await refused(ConflictError, admin.create_user(MASTER, UserCreate(email="a@b.c")))

    run(tmp_path, scenario)


def test_team_admin_stays_inside_its_team(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        red = await admin.create_team(MASTER, TeamCreate(name="red"))
        blue = await admin.create_team(MASTER, TeamCreate(name="blue"))
        blue_key = await admin.create_key(MASTER, KeyCreate(team_id=blue.id))
        boss = await admin.create_key(MASTER, KeyCreate(team_id=red.id, role="team_admin"))
        caller = await auth.authenticate(boss.key)
        assert caller is not None and caller.role == "team_admin"
        own = await admin.create_key(caller, KeyCreate())  # defaults to its own team
        assert own.team_id == red.id
        await refused(PermissionDeniedError, admin.create_key(caller, KeyCreate(team_id=blue.id)))
        await refused(PermissionDeniedError, admin.create_key(caller, KeyCreate(role="admin")))
        await refused(PermissionDeniedError, admin.create_key(caller, KeyCreate(role="viewer")))
        await refused(NotFoundError, admin.get_key(caller, blue_key.id))
        await refused(NotFoundError, admin.revoke_key(caller, blue_key.id))
        await refused(PermissionDeniedError, admin.update_key(caller, own.id, KeyUpdate(role="admin")))
        await refused(PermissionDeniedError, admin.update_key(caller, own.id, KeyUpdate(team_id=blue.id)))
        await refused(PermissionDeniedError, admin.list_keys(caller, blue.id, 50, None))
        listed, _ = await admin.list_keys(caller, None, 50, None)
        assert {view.team_id for view in listed} == {red.id} and len(listed) == 2
        await refused(PermissionDeniedError, admin.create_team(caller, TeamCreate(name="green")))
        await refused(PermissionDeniedError, admin.update_team(caller, red.id, TeamUpdate(rpm=1)))
        await refused(NotFoundError, admin.get_team(caller, blue.id))
        teams, _ = await admin.list_teams(caller, 50, None)
        assert [t.id for t in teams] == [red.id]

    run(tmp_path, scenario)


@pytest.mark.parametrize("role", ["viewer", "user"])
def test_viewer_and_user_cannot_manage(tmp_path: Path, role: str) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        caller = Principal(role=role)  # type: ignore[arg-type]
        await refused(PermissionDeniedError, admin.create_key(caller, KeyCreate()))
        await refused(PermissionDeniedError, admin.list_keys(caller, None, 50, None))
        await refused(PermissionDeniedError, admin.list_users(caller, None, 50, None))

    run(tmp_path, scenario)


def test_pagination_by_cursor(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        made = [(await admin.create_key(MASTER, KeyCreate(alias=f"k{i}"))).id for i in range(5)]
        seen: list[str] = []
        cursor = None
        while True:
            page, cursor = await admin.list_keys(MASTER, None, 2, cursor)
            seen += [view.id for view in page]
            if cursor is None:
                break
        assert len(seen) == len(made) and set(seen) == set(made)

    run(tmp_path, scenario)


def test_open_gateway_until_a_key_exists(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        assert auth.open
        assert await auth.authenticate(None) is None
        assert await auth.authenticate("anything") is None

    run(tmp_path, scenario, master=None)


def test_unknown_and_missing_keys(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        assert not auth.open
        assert await auth.authenticate("mk") is MASTER
        await refused(AuthenticationError, auth.authenticate(None))
        await refused(AuthenticationError, auth.authenticate("sk-sy-unknown"))
        await refused(AuthenticationError, auth.authenticate("mk2"))
        # Concurrent first uses of one key share a lookup and agree.
        created = await admin.create_key(MASTER, KeyCreate())
        results = await asyncio.gather(*(auth.authenticate(created.key) for _ in range(20)))
        assert {p.key_id for p in results if p is not None} == {created.id} and None not in results

    run(tmp_path, scenario)


def test_a_failing_store_serves_known_keys_and_answers_503_for_others(tmp_path: Path) -> None:
    async def scenario(admin: AdminService, auth: Authenticator) -> None:
        known = await admin.create_key(MASTER, KeyCreate(alias="known"))
        other = await admin.create_key(MASTER, KeyCreate(alias="other"))
        principal = await auth.authenticate(known.key)
        assert principal is not None
        await admin._store.close()  # the database goes away
        await asyncio.sleep(0.05)  # past the cache TTL, so the next use asks the store
        assert await auth.authenticate(known.key) == principal
        error = await refused(StoreUnavailableError, auth.authenticate(other.key))
        assert getattr(error, "status", None) == 503
        assert await auth.authenticate("mk") is MASTER  # the master key needs no database
        await refused(StoreUnavailableError, admin.list_keys(MASTER, None, 10, None))

    run(tmp_path, scenario, ttl_s=0.01)
