"""Limits shared by every gateway process through Redis: one Lua script per reservation, one per settlement.

The scripts do the same GCRA arithmetic as ``gcra.py`` on Redis's own clock (``TIME``), so instances with
skewed clocks still agree. Each runs atomically on the server, which is what makes "N per minute" exact across
instances. Keys carry a TTL of the bucket's refill time (token and request buckets) or the concurrency lease,
so idle scopes vanish on their own. Scripts are sent with EVALSHA (redis-py falls back to EVAL after a
restart flushed them). All keys of one request must live on one Redis primary (no Redis Cluster slots).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchyard.limits.protocols import PERIOD_S, Decision, LimitBackendError, Quota, Reservation, Scope

log = logging.getLogger("switchyard.limits")

# ARGV: period, lease_s, member, then per key: kind ("r", "t" or "c"), limit, cost.
# Returns: allowed, retry_after, refused index (0 = none), then per key its state (tat, or held slots).
_RESERVE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local period = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local member = ARGV[3]
local states = {}
local allowed = 1
local wait = 0
local refused = 0
for i = 1, #KEYS do
  local kind = ARGV[1 + i * 3]
  local limit = tonumber(ARGV[2 + i * 3])
  local cost = tonumber(ARGV[3 + i * 3])
  if kind == 'c' then
    redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now)
    local held = redis.call('ZCARD', KEYS[i])
    states[i] = held
    if held >= limit and refused == 0 then
      allowed = 0
      refused = i
      if wait < 1 then wait = 1 end
    end
  else
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    if tat < now then tat = now end
    local interval = period / limit
    if cost > limit then cost = limit end
    local new = tat + cost * interval
    local over = new - now - period
    if over > 1e-9 * period then
      allowed = 0
      if over > wait or refused == 0 then
        wait = over
        refused = i
      end
      states[i] = tat
    else
      states[i] = new
    end
  end
end
if allowed == 1 then
  for i = 1, #KEYS do
    local kind = ARGV[1 + i * 3]
    if kind == 'c' then
      redis.call('ZADD', KEYS[i], now + lease, member)
      redis.call('PEXPIRE', KEYS[i], math.ceil(lease * 1000))
    else
      local ttl = math.ceil((states[i] - now) * 1000) + 1000
      redis.call('SET', KEYS[i], tostring(states[i]), 'PX', ttl)
    end
  end
end
local out = {allowed, tostring(wait), refused, tostring(now)}
for i = 1, #KEYS do out[4 + i] = tostring(states[i]) end
return out
"""

# ARGV: period, member, then per key: kind ("t" or "c"), limit, delta tokens.
_SETTLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local period = tonumber(ARGV[1])
local member = ARGV[2]
for i = 1, #KEYS do
  local kind = ARGV[i * 3]
  local limit = tonumber(ARGV[1 + i * 3])
  local delta = tonumber(ARGV[2 + i * 3])
  if kind == 'c' then
    redis.call('ZREM', KEYS[i], member)
  else
    local tat = tonumber(redis.call('GET', KEYS[i]) or now)
    local new = tat + delta * period / limit
    if new <= now then
      redis.call('DEL', KEYS[i])
    else
      redis.call('SET', KEYS[i], tostring(new), 'PX', math.ceil((new - now) * 1000) + 1000)
    end
  end
end
return 1
"""

_KINDS = {"r": "requests", "t": "tokens", "c": "concurrency"}


class RedisLimitStore:
    def __init__(self, client: aioredis.Redis, prefix: str = "sy:rl:", lease_s: float = 3600.0) -> None:
        self._client = client
        self._prefix = prefix
        self._lease_s = lease_s
        self._reserve = client.register_script(_RESERVE)
        self._settle = client.register_script(_SETTLE)
        self._pending: set[asyncio.Task[None]] = set()
        self._ids = itertools.count(1)
        self._process = os.urandom(6).hex()

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimitStore:
        # Short timeouts: a slow or absent Redis must turn into the failure mode quickly, not a hung request.
        client = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, **kwargs)

    def _plan(self, scopes: Sequence[Scope], tokens: int) -> tuple[list[str], list[Any], list[tuple[Scope, str]]]:
        keys: list[str] = []
        args: list[Any] = []
        which: list[tuple[Scope, str]] = []
        for scope in scopes:
            limits = scope.limits
            for kind, limit, cost in (
                ("r", limits.rpm, 1),
                ("t", limits.tpm, tokens),
                ("c", limits.max_concurrency, 1),
            ):
                if limit is not None:
                    keys.append(f"{self._prefix}{scope.name}:{kind}")
                    args += [kind, limit, cost]
                    which.append((scope, kind))
        return keys, args, which

    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        keys, args, which = self._plan(scopes, tokens)
        member = f"{self._process}:{next(self._ids)}"
        try:
            raw = await self._reserve(keys=keys, args=[PERIOD_S, self._lease_s, member, *args])
        except RedisError as exc:
            raise LimitBackendError(f"Redis limit store unavailable: {type(exc).__name__}") from None
        allowed, wait, refused, now = int(raw[0]), float(raw[1]), int(raw[2]), float(raw[3])
        quotas: list[Quota] = []
        for (scope, kind), state in zip(which, raw[4:], strict=True):
            if kind == "c":
                continue
            limit = scope.limits.rpm if kind == "r" else scope.limits.tpm
            assert limit is not None
            tat = float(state)
            used = max(tat - now, 0.0) * limit / PERIOD_S
            quotas.append(Quota(scope.name, _KINDS[kind], limit, max(0, int(limit - used + 1e-9 * limit)), tat - now))
        if not allowed:
            scope, kind = which[refused - 1]
            return Decision(False, None, wait, scope.name, _KINDS[kind], tuple(quotas))
        return Decision(True, Reservation(member, tuple(scopes), tokens), quotas=tuple(quotas))

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        delta = actual_tokens - reservation.tokens
        keys: list[str] = []
        args: list[Any] = []
        for scope in reservation.scopes:
            limits = scope.limits
            if limits.tpm is not None and delta:
                keys.append(f"{self._prefix}{scope.name}:t")
                args += ["t", limits.tpm, delta]
            if limits.max_concurrency is not None:
                keys.append(f"{self._prefix}{scope.name}:c")
                args += ["c", limits.max_concurrency, 0]
        if not keys:
            return
        task = asyncio.get_running_loop().create_task(self._send_settle(keys, [PERIOD_S, reservation.id, *args]))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _send_settle(self, keys: list[str], args: list[Any]) -> None:
        try:
            await self._settle(keys=keys, args=args)
        except RedisError as exc:
            # Lost settlements only cost accuracy: token charges stay at the reservation, leases expire.
            log.warning("could not settle a rate-limit reservation in Redis: %s", type(exc).__name__)

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()
