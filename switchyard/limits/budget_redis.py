"""Budget counters in Redis, authoritative when several gateway processes share the spend.

``spent`` is one MGET; ``add`` is one Lua script run in the background that increments every scope's period
counter and claims each crossed alert threshold with SET NX, so exactly one instance emits each alert.
Counters expire a day after their period ends (``total`` never does).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from switchyard.limits.budget import AlertSink, BudgetScope, alert
from switchyard.limits.periods import period_key, seconds_left
from switchyard.limits.protocols import LimitBackendError

log = logging.getLogger("switchyard.limits")

# KEYS: per scope its counter key. ARGV: amount, then per scope: ttl (0 = none), alert-key prefix, n, thresholds...
# (each threshold given as its USD value and its fraction). Returns: flat list of (scope index, fraction, spend).
_ADD = """
local amount = tonumber(ARGV[1])
local at = 2
local out = {}
for i = 1, #KEYS do
  local ttl = tonumber(ARGV[at])
  local mark = ARGV[at + 1]
  local n = tonumber(ARGV[at + 2])
  at = at + 3
  local after = tonumber(redis.call('INCRBYFLOAT', KEYS[i], amount))
  local before = after - amount
  if ttl > 0 then redis.call('EXPIRE', KEYS[i], ttl) end
  for j = 1, n do
    local usd = tonumber(ARGV[at])
    local fraction = ARGV[at + 1]
    at = at + 2
    if before < usd and usd <= after then
      local claimed
      if ttl > 0 then
        claimed = redis.call('SET', mark .. fraction, '1', 'NX', 'EX', ttl)
      else
        claimed = redis.call('SET', mark .. fraction, '1', 'NX')
      end
      if claimed then
        table.insert(out, i)
        table.insert(out, fraction)
        table.insert(out, tostring(after))
      end
    end
  end
end
return out
"""

_MARGIN_S = 86400  # keep a finished period's counter a day, for late charges and inspection


class RedisBudgetStore:
    def __init__(
        self,
        client: aioredis.Redis,
        on_alert: AlertSink | None = None,
        prefix: str = "sy:spend:",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._client = client
        self._on_alert = on_alert
        self._prefix = prefix
        self._clock = clock
        self._add = client.register_script(_ADD)
        self._pending: set[asyncio.Task[None]] = set()

    @classmethod
    def from_url(cls, url: str, on_alert: AlertSink | None = None) -> RedisBudgetStore:
        client = aioredis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        return cls(client, on_alert)

    def _key(self, scope: BudgetScope, now: float) -> str:
        return f"{self._prefix}{scope.name}:{period_key(scope.budget.period, now)}"

    async def spent(self, scopes: Sequence[BudgetScope]) -> list[float]:
        if not scopes:
            return []
        now = self._clock()
        try:
            values = await self._client.mget([self._key(s, now) for s in scopes])
        except RedisError as exc:
            raise LimitBackendError(f"Redis budget store unavailable: {type(exc).__name__}") from None
        return [float(v) if v is not None else 0.0 for v in values]

    def add(self, scopes: Sequence[BudgetScope], amount: float) -> None:
        if amount <= 0 or not scopes:
            return
        now = self._clock()
        keys: list[str] = []
        args: list[Any] = [repr(amount)]
        for scope in scopes:
            key = self._key(scope, now)
            keys.append(key)
            left = seconds_left(scope.budget.period, now)
            args += [0 if left is None else int(left) + _MARGIN_S, f"{key}:alert:", len(scope.alert_at)]
            for fraction in scope.alert_at:
                args += [repr(fraction * scope.budget.max_usd), repr(fraction)]
        task = asyncio.get_running_loop().create_task(self._charge(list(scopes), keys, args, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _charge(self, scopes: list[BudgetScope], keys: list[str], args: list[Any], now: float) -> None:
        try:
            raw = await self._add(keys=keys, args=args)
        except RedisError as exc:
            log.warning("could not record spend in Redis: %s", type(exc).__name__)
            return
        if self._on_alert is None:
            return
        for index in range(0, len(raw), 3):
            scope = scopes[int(raw[index]) - 1]
            self._on_alert(alert(scope, float(raw[index + 1]), float(raw[index + 2]), now))

    async def close(self) -> None:
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        await self._client.aclose()
