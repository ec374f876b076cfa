"""Who is calling: the master key, a virtual key, or (on an open gateway) nobody in particular.

A request must not wait on the database, so the outcome of a virtual-key lookup (the Principal, or why the
key is refused) is cached by key hash for ``ttl_s`` seconds. Changes made through this process's admin API
invalidate the cache at once; changes made on another instance are seen here within ``ttl_s`` (the staleness
window of a multi-instance deployment, documented in docs/governance.md). Concurrent misses for one hash
share a single lookup.
"""

from __future__ import annotations

import asyncio
import hmac
import time
from dataclasses import dataclass

from switchyard.auth.principal import build_principal, refusal
from switchyard.auth.secrets import hash_key, is_virtual
from switchyard.errors import AuthenticationError, StoreUnavailableError
from switchyard.storage.keys_protocol import KeyRecord, KeyStore, TeamRecord, UserRecord
from switchyard.types.identity import MASTER, Principal

_NO_KEY = "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'."
_BAD_KEY = "Incorrect API key provided."


@dataclass(slots=True, frozen=True)
class _Entry:
    principal: Principal | None
    refusal: str | None
    expires_at: float | None
    cached_until: float


class Authenticator:
    def __init__(self, store: KeyStore, master_key: str | None, *, ttl_s: float = 5.0, max_entries: int = 50_000):
        self._store = store
        self._master = master_key.encode() if master_key else None
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._cache: dict[str, _Entry] = {}
        self._pending: dict[str, asyncio.Future[_Entry]] = {}
        # Bumped by every invalidation: a lookup that started before one must not cache what it read.
        self._generation = 0
        # Open: no master key and no virtual key yet, so every request passes as before keys existed.
        self.open = self._master is None

    async def start(self) -> None:
        """After the key store started. Until then (a database down at boot) the gateway is closed, see boot.py."""
        if self._master is None:
            self.open = not await self._store.any_keys()

    def close_until_started(self) -> None:
        """The key store is not up yet: refuse everyone but the master key rather than serving an open gateway."""
        self.open = False

    async def authenticate(self, api_key: str | None) -> Principal | None:
        """The caller's principal; None on an open gateway. ``AuthenticationError`` when refused."""
        if api_key is not None:
            if self._master is not None and hmac.compare_digest(api_key.encode(), self._master):
                return MASTER
            if is_virtual(api_key):
                entry = await self._entry(hash_key(api_key))
                if entry.principal is not None:
                    if entry.expires_at is not None and entry.expires_at <= time.time():
                        raise AuthenticationError("This API key has expired.")
                    return entry.principal
                if not self.open:
                    raise AuthenticationError(entry.refusal or _BAD_KEY)
        if self.open:
            return None
        raise AuthenticationError(_NO_KEY if api_key is None else _BAD_KEY)

    async def _entry(self, key_hash: str) -> _Entry:
        entry = self._cache.get(key_hash)
        if entry is not None and entry.cached_until > time.monotonic():
            return entry
        pending = self._pending.get(key_hash)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._pending[key_hash] = future
        generation = self._generation
        try:
            entry = await self._load(key_hash)
        except StoreUnavailableError as exc:
            if entry is None:
                future.set_exception(exc)
                future.exception()
                raise
            # The database is down but this key was known a moment ago: keep serving what we knew.
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here, so a future nobody else awaited does not warn
            raise
        finally:
            del self._pending[key_hash]
        future.set_result(entry)
        if generation == self._generation:
            self._remember(key_hash, entry)
        return entry

    async def _load(self, key_hash: str) -> _Entry:
        until, now = time.monotonic() + self._ttl_s, time.time()
        key = await self._store.key_by_hash(key_hash)
        grace_ends: float | None = None
        if key is None:
            # A rotated key's previous secret, within the grace period the rotation granted: the same key.
            grace = await self._store.grace(key_hash, now)
            key = await self._store.get(KeyRecord, grace[0]) if grace is not None else None
            if key is None or grace is None:
                return _Entry(None, None, None, until)
            grace_ends = grace[1]
        team = await self._store.get(TeamRecord, key.team_id) if key.team_id else None
        user = await self._store.get(UserRecord, key.user_id) if key.user_id else None
        reason = refusal(key, team, now, user)
        if reason is not None:
            return _Entry(None, reason, None, until)
        expires = min((t for t in (key.expires_at, grace_ends) if t is not None), default=None)
        return _Entry(build_principal(key, team), None, expires, until)

    def _remember(self, key_hash: str, entry: _Entry) -> None:
        if self._ttl_s <= 0:
            return
        if len(self._cache) >= self._max_entries:
            # Unknown keys sprayed at the gateway must not grow memory: drop the oldest half.
            for stale in list(self._cache)[: self._max_entries // 2]:
                del self._cache[stale]
        self._cache[key_hash] = entry

    # --- invalidation by this process's admin API -------------------------------------------------------------

    def forget(self, key_hash: str) -> None:
        self._generation += 1
        self._cache.pop(key_hash, None)

    def forget_all(self) -> None:
        """After a team changes: every cached principal of its keys carries the old team state."""
        self._generation += 1
        self._cache.clear()

    def key_created(self, key_hash: str) -> None:
        self.open = False
        self.forget(key_hash)
