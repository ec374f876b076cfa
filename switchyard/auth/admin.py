"""The admin operations on keys, teams and users: role rules, validation, secrets, cache invalidation.

The HTTP routes are thin wrappers around this class, so every rule here is testable without a server.
"""

from __future__ import annotations

import time
from typing import Any

import msgspec

from switchyard.auth import roles
from switchyard.auth.authenticator import Authenticator
from switchyard.auth.schema import (
    KeyCreate,
    KeyCreated,
    KeyUpdate,
    KeyView,
    TeamCreate,
    TeamUpdate,
    UserCreate,
    UserUpdate,
    changes,
    key_created,
    key_view,
)
from switchyard.auth.secrets import display_prefix, hash_key, new_secret
from switchyard.errors import ConflictError, InvalidRequestError, NotFoundError
from switchyard.storage.keys_protocol import (
    AnyRecord,
    DuplicateError,
    KeyRecord,
    KeyStore,
    R,
    TeamRecord,
    UserRecord,
    new_id,
)
from switchyard.types.identity import Principal

Page = tuple[list[Any], str | None]


class AdminService:
    def __init__(self, store: KeyStore, authenticator: Authenticator) -> None:
        self._store = store
        self._auth = authenticator

    # --- keys ---------------------------------------------------------------------------------------------------

    async def create_key(self, caller: Principal, body: KeyCreate) -> KeyCreated:
        roles.require_manager(caller)
        team_id = body.team_id if body.team_id is not None or caller.role == "admin" else caller.team_id
        roles.check_grant(caller, body.role, team_id)
        await self._check_refs(caller, team_id, body.user_id)
        secret, now = new_secret(), time.time()
        fields = msgspec.structs.asdict(body) | {"team_id": team_id}
        record = KeyRecord(
            id=new_id(KeyRecord), key_hash=hash_key(secret), prefix=display_prefix(secret), created_at=now,
            updated_at=now, **fields,
        )
        await self._write(record, insert=True, what="key alias")
        self._auth.key_created(record.key_hash)
        return key_created(record, secret, now)

    async def list_keys(self, caller: Principal, team_id: str | None, limit: int, cursor: str | None) -> Page:
        roles.require_manager(caller)
        team = roles.team_scope(caller, team_id)
        records, next_cursor = await self._store.page(KeyRecord, team_id=team, limit=limit, cursor=cursor)
        now = time.time()
        return [key_view(record, now) for record in records], next_cursor

    async def get_key(self, caller: Principal, key_id: str) -> KeyView:
        return key_view(await self._key(caller, key_id), time.time())

    async def update_key(self, caller: Principal, key_id: str, body: KeyUpdate) -> KeyView:
        record = await self._key(caller, key_id)
        update = changes(body)
        record = msgspec.structs.replace(record, **update, updated_at=time.time())
        roles.check_grant(caller, record.role, record.team_id)
        await self._check_refs(
            caller, record.team_id if "team_id" in update else None, record.user_id if "user_id" in update else None
        )
        await self._write(record, what="key alias")
        self._auth.forget_all()  # also the previous secret's entry, if a rotation's grace period is running
        return key_view(record, time.time())

    async def rotate_key(self, caller: Principal, key_id: str, grace_s: float = 0.0) -> KeyCreated:
        """A new secret for the same key. The old one keeps working for ``grace_s`` seconds, then (or at once,
        without a grace period) stops: here at once, on other instances within the auth cache TTL."""
        record = await self._key(caller, key_id)
        # A team admin must not mint a new secret for (or revoke) an admin or viewer key that sits in its team.
        roles.check_grant(caller, record.role, record.team_id)
        if record.revoked_at is not None:
            raise InvalidRequestError("A revoked key cannot be rotated; create a new one.", param="id")
        secret, now = new_secret(), time.time()
        old_hash = record.key_hash
        record = msgspec.structs.replace(
            record, key_hash=hash_key(secret), prefix=display_prefix(secret), updated_at=now
        )
        await self._write(record, what="key")
        if grace_s > 0:
            await self._store.add_grace(old_hash, record.id, now + grace_s)
        self._auth.forget(old_hash)
        return key_created(record, secret, now)

    async def revoke_key(self, caller: Principal, key_id: str) -> KeyView:
        record = await self._key(caller, key_id)
        roles.check_grant(caller, record.role, record.team_id)
        if record.revoked_at is None:
            now = time.time()
            record = msgspec.structs.replace(record, revoked_at=now, updated_at=now)
            await self._write(record, what="key")
        self._auth.forget_all()  # also the previous secret's entry, if a rotation's grace period is running
        return key_view(record, time.time())

    async def _key(self, caller: Principal, key_id: str) -> KeyRecord:
        roles.require_manager(caller)
        return self._visible(caller, await self._store.get(KeyRecord, key_id), "key", key_id)

    # --- teams --------------------------------------------------------------------------------------------------

    async def create_team(self, caller: Principal, body: TeamCreate) -> TeamRecord:
        roles.require_admin(caller)
        now = time.time()
        record = TeamRecord(id=new_id(TeamRecord), created_at=now, updated_at=now, **msgspec.structs.asdict(body))
        await self._write(record, insert=True, what="team name")
        return record

    async def list_teams(self, caller: Principal, limit: int, cursor: str | None) -> Page:
        roles.require_manager(caller)
        team = roles.team_scope(caller, None)
        return await self._store.page(TeamRecord, team_id=team, limit=limit, cursor=cursor)

    async def get_team(self, caller: Principal, team_id: str) -> TeamRecord:
        roles.require_manager(caller)
        return self._visible(caller, await self._store.get(TeamRecord, team_id), "team", team_id)

    async def update_team(self, caller: Principal, team_id: str, body: TeamUpdate) -> TeamRecord:
        roles.require_admin(caller)
        record = self._visible(caller, await self._store.get(TeamRecord, team_id), "team", team_id)
        record = msgspec.structs.replace(record, **changes(body), updated_at=time.time())
        await self._write(record, what="team name")
        self._auth.forget_all()
        return record

    async def delete_team(self, caller: Principal, team_id: str) -> TeamRecord:
        """Keeps the record (logs and spend refer to it); the team's keys stop authenticating."""
        roles.require_admin(caller)
        record = self._visible(caller, await self._store.get(TeamRecord, team_id), "team", team_id)
        if record.deleted_at is None:
            now = time.time()
            record = msgspec.structs.replace(record, deleted_at=now, updated_at=now)
            await self._write(record, what="team")
        self._auth.forget_all()
        return record

    # --- users --------------------------------------------------------------------------------------------------

    async def create_user(self, caller: Principal, body: UserCreate) -> UserRecord:
        roles.require_manager(caller)
        team_id = body.team_id if body.team_id is not None or caller.role == "admin" else caller.team_id
        if not roles.can_see(caller, team_id):
            roles.check_grant(caller, "user", team_id)
        await self._check_refs(caller, team_id, None)
        now = time.time()
        fields = msgspec.structs.asdict(body) | {"team_id": team_id}
        record = UserRecord(id=new_id(UserRecord), created_at=now, updated_at=now, **fields)
        await self._write(record, insert=True, what="user email")
        return record

    async def list_users(self, caller: Principal, team_id: str | None, limit: int, cursor: str | None) -> Page:
        roles.require_manager(caller)
        team = roles.team_scope(caller, team_id)
        return await self._store.page(UserRecord, team_id=team, limit=limit, cursor=cursor)

    async def get_user(self, caller: Principal, user_id: str) -> UserRecord:
        roles.require_manager(caller)
        return self._visible(caller, await self._store.get(UserRecord, user_id), "user", user_id)

    async def update_user(self, caller: Principal, user_id: str, body: UserUpdate) -> UserRecord:
        record = await self.get_user(caller, user_id)
        update = changes(body)
        record = msgspec.structs.replace(record, **update, updated_at=time.time())
        if not roles.can_see(caller, record.team_id):
            roles.check_grant(caller, "user", record.team_id)
        await self._check_refs(caller, record.team_id if "team_id" in update else None, None)
        await self._write(record, what="user email")
        return record

    async def delete_user(self, caller: Principal, user_id: str) -> UserRecord:
        record = await self.get_user(caller, user_id)
        if record.deleted_at is None:
            now = time.time()
            record = msgspec.structs.replace(record, deleted_at=now, updated_at=now)
            await self._write(record, what="user")
        self._auth.forget_all()  # the user's keys stop authenticating (see principal.refusal)
        return record

    # --- shared -------------------------------------------------------------------------------------------------

    @staticmethod
    def _visible(caller: Principal, record: R | None, what: str, record_id: str) -> R:
        team = record.id if isinstance(record, TeamRecord) else record.team_id if record is not None else None
        if record is None or not roles.can_see(caller, team):
            raise NotFoundError(f"No {what} with id {record_id!r}.", param="id")
        return record

    async def _check_refs(self, caller: Principal, team_id: str | None, user_id: str | None) -> None:
        if team_id is not None:
            team = await self._store.get(TeamRecord, team_id)
            if team is None or team.deleted_at is not None:
                raise InvalidRequestError(f"No team with id {team_id!r}.", param="team_id")
        if user_id is not None:
            user = await self._store.get(UserRecord, user_id)
            # a team admin may attach only its own team's users: another team's user reads as absent
            if user is None or user.deleted_at is not None or not roles.can_see(caller, user.team_id):
                raise InvalidRequestError(f"No user with id {user_id!r}.", param="user_id")

    async def _write(self, record: AnyRecord, *, what: str, insert: bool = False) -> None:
        try:
            if insert:
                await self._store.insert(record)
            else:
                await self._store.replace(record)
        except DuplicateError:
            raise ConflictError(f"That {what} is already in use.", param=what.rsplit(" ", 1)[-1]) from None
