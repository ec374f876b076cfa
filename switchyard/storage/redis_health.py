"""Breaker, cooldown, error-rate and latency state shared by every gateway instance through Redis.

``HealthStore.get`` is synchronous and on the request path, so it never touches Redis: it returns this
process's mirror of the state. A background task syncs the mirror every ``sync_s`` seconds, one pipelined round
trip for all deployments. The mirror is therefore up to ``sync_s`` (plus one round trip) stale; that is the
documented price of keeping Redis off the request path.

What is shared, and how:
- Breaker transitions. When this instance opens a breaker (or a probe closes it), the event is published with its
  wall-clock time; a newer event seen in Redis is adopted, so failures seen by one instance open the breaker in
  all of them. The half-open probe stays per instance.
- Retry-After cooldowns: the latest ``cooldown_until`` wins.
- The error-rate window: each instance adds its attempts and failures to per-second Redis counters and reads
  the other instances' counts, so ``min_requests`` and ``error_rate`` apply to the traffic of all instances.
- Latency: each instance publishes its moving averages; the mirror holds their mean.
Consecutive-failure counts, in-flight counts, the retry budget and RPM/TPM headroom stay per instance.

When Redis is unreachable the mirror simply stops syncing: each instance runs on its own state (the same as
``router.state: memory``) and catches up when Redis is back. A warning is logged once per outage.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from redis.asyncio import Redis

from switchyard.types.health import BreakerState, DeploymentHealth, Window

log = logging.getLogger("switchyard.storage")

# KEYS[1] state hash. ARGV: kind ("open"/"closed"), changed (wall), opened_at (wall), open_for_s.
# An event is applied only if it is newer than the one stored, so crossing events settle on the latest.
_PUBLISH = """
local changed = tonumber(redis.call('HGET', KEYS[1], 'changed') or '0')
if tonumber(ARGV[2]) > changed then
  redis.call('HSET', KEYS[1], 'state', ARGV[1], 'changed', ARGV[2], 'opened_at', ARGV[3], 'open_for_s', ARGV[4])
end
return 1
"""


class SharedWindow(Window):
    """A window whose totals include the other instances' counts, as last read from Redis."""

    __slots__ = ("pending", "others")

    def __init__(self, seconds: int) -> None:
        super().__init__(seconds)
        self.pending: dict[int, list[int]] = {}  # monotonic second -> [count, failures] not yet published
        self.others: dict[int, tuple[int, int]] = {}  # monotonic second -> the other instances' counts

    def add(self, now: float, *, count: int = 1, failures: int = 0, tokens: int = 0) -> None:
        super().add(now, count=count, failures=failures, tokens=tokens)
        bucket = self.pending.setdefault(int(now), [0, 0])
        bucket[0] += count
        bucket[1] += failures

    def totals(self, now: float) -> tuple[int, int, int]:
        count, failures, tokens = super().totals(now)
        horizon = int(now) - self._seconds
        for second, (c, f) in self.others.items():
            if second > horizon:
                count += c
                failures += f
        return count, failures, tokens


class _Synced:
    """What this instance last published or adopted for one deployment, to tell new local changes apart."""

    __slots__ = ("state", "opened_at", "cooldown_until", "changed")

    def __init__(self) -> None:
        self.state = BreakerState.CLOSED
        self.opened_at = 0.0
        self.cooldown_until = 0.0
        self.changed = 0.0


class RedisHealthStore:
    def __init__(
        self,
        url: str,
        window_s: int = 30,
        *,
        sync_s: float = 0.2,
        prefix: str = "switchyard:health:",
        clock: Callable[[], float] = time.monotonic,
        known: Iterable[str] = (),
    ) -> None:
        """``known``: the configured deployment ids, synced from the start so a new instance begins with the
        state the others built (a deployment first seen later is synced from then on)."""
        self._redis: Redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._window_s = window_s
        self._sync_s = sync_s
        self._prefix = prefix
        self._clock = clock
        self._instance = os.urandom(6).hex()
        self._records: dict[str, DeploymentHealth] = {}
        self._synced: dict[str, _Synced] = {}
        # Per deployment, how many replies its pushes add to the pipeline (skipped when reading the replies).
        self._pushed: dict[str, int] = {}
        for deployment in known:
            self.get(deployment)
        self._task: asyncio.Task[None] | None = None
        self._healthy = True
        self.syncs = 0

    def get(self, deployment: str) -> DeploymentHealth:
        record = self._records.get(deployment)
        if record is None:
            record = DeploymentHealth(self._window_s)
            record.outcomes = SharedWindow(self._window_s)
            self._records[deployment] = record
            self._synced[deployment] = _Synced()
        return record

    async def start(self) -> None:
        try:
            # Before the instance reports ready: adopt the breakers the other instances already opened.
            await asyncio.wait_for(self.sync(), 2.0)
        except Exception as exc:
            log.warning("shared health state: Redis unavailable at start (%s); using local state", exc)
            self._healthy = False
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self._redis.aclose()

    async def _run(self) -> None:
        while True:
            try:
                await self.sync()
                if not self._healthy:
                    log.warning("shared health state: Redis is back")
                self._healthy = True
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._healthy:
                    log.warning("shared health state: Redis unavailable (%s); using local state", exc)
                self._healthy = False
            await asyncio.sleep(self._sync_s)

    async def sync(self) -> None:
        """Publish local changes and adopt the others', for every deployment, in one round trip."""
        if not self._records:
            return
        offset = time.time() - self._clock()  # monotonic -> wall clock, for times other hosts compare
        now = self._clock()
        first_second = int(now + offset) - self._window_s
        pipe = self._redis.pipeline(transaction=False)
        names = list(self._records)
        # What was published is remembered only once Redis took it: on failure, publish it again next time.
        saved = {name: self._save(name) for name in names}
        for name in names:
            self._push(pipe, name, offset, now)
            pipe.hgetall(self._key(name))
            for wall_second in range(first_second + 1, int(now + offset) + 1):
                pipe.hgetall(f"{self._key(name)}:o:{wall_second}")
        try:
            replies = await pipe.execute()
        except BaseException:
            for name, (synced, pending) in saved.items():
                self._restore(name, synced, pending)
            raise
        # Keep only the read replies: the pushes' replies come before each deployment's reads.
        reads = iter(replies)
        for name in names:
            for _ in range(self._pushed.pop(name, 0)):
                next(reads)
            state: dict[bytes, bytes] = next(reads)
            seconds = [next(reads) for _ in range(first_second + 1, int(now + offset) + 1)]
            self._adopt(name, state, seconds, first_second + 1, offset)
        self.syncs += 1

    def _key(self, deployment: str) -> str:
        return f"{self._prefix}{deployment}"

    def _save(self, name: str) -> tuple[_Synced, dict[int, list[int]]]:
        synced, copy = self._synced[name], _Synced()
        copy.state, copy.opened_at = synced.state, synced.opened_at
        copy.cooldown_until, copy.changed = synced.cooldown_until, synced.changed
        window = self._records[name].outcomes
        return copy, dict(window.pending) if isinstance(window, SharedWindow) else {}

    def _restore(self, name: str, synced: _Synced, pending: dict[int, list[int]]) -> None:
        self._synced[name] = synced
        window = self._records[name].outcomes
        if isinstance(window, SharedWindow):
            for second, (count, failures) in pending.items():
                bucket = window.pending.setdefault(second, [0, 0])
                bucket[0] += count
                bucket[1] += failures

    def _push(self, pipe: Any, name: str, offset: float, now: float) -> None:
        h, synced, key = self._records[name], self._synced[name], self._key(name)
        commands = 0
        window = h.outcomes
        if isinstance(window, SharedWindow) and window.pending:
            for second, (count, failures) in window.pending.items():
                counts_key = f"{key}:o:{second + round(offset)}"
                pipe.hincrby(counts_key, f"{self._instance}:a", count)
                pipe.hincrby(counts_key, f"{self._instance}:f", failures)
                pipe.expire(counts_key, self._window_s + 5)
                commands += 3
            window.pending.clear()
        if h.state is not synced.state or h.opened_at != synced.opened_at:
            if h.state is BreakerState.OPEN or (h.state is BreakerState.CLOSED and synced.state is not h.state):
                changed = max(now + offset, synced.changed + 1e-6)
                kind = "open" if h.state is BreakerState.OPEN else "closed"
                # Plain EVAL: a breaker changes state rarely, and the script is tiny.
                pipe.eval(_PUBLISH, 1, key, kind, changed, h.opened_at + offset, h.open_for_s)
                commands += 1
                synced.changed = changed
            synced.state, synced.opened_at = h.state, h.opened_at
        if h.cooldown_until > synced.cooldown_until:
            # The latest Retry-After wins: HSET is enough, a stale value only shortens a cooldown by a sync.
            pipe.hset(key, "cooldown_until", h.cooldown_until + offset)
            commands += 1
            synced.cooldown_until = h.cooldown_until
        for field, value in (("lat", h.latency_ms), ("ttft", h.ttft_ms)):
            if value is not None:
                pipe.hset(key, f"{field}:{self._instance}", value)
                commands += 1
        self._pushed[name] = commands

    def _adopt(
        self, name: str, state: dict[bytes, bytes], seconds: list[dict[bytes, bytes]], first: int, offset: float
    ) -> None:
        h, synced = self._records[name], self._synced[name]
        changed = float(state.get(b"changed", b"0"))
        if changed > synced.changed:
            synced.changed = changed
            kind = state.get(b"state")
            if kind == b"open" and h.state is not BreakerState.HALF_OPEN:
                h.state = BreakerState.OPEN
                h.opened_at = float(state[b"opened_at"]) - offset
                h.open_for_s = float(state[b"open_for_s"])
            elif kind == b"closed" and h.state is BreakerState.OPEN:
                h.state = BreakerState.CLOSED
                h.open_for_s = 0.0
                h.consecutive_failures = 0
            synced.state, synced.opened_at = h.state, h.opened_at
        if b"cooldown_until" in state:
            remote = float(state[b"cooldown_until"]) - offset
            if remote > h.cooldown_until:
                h.cooldown_until = synced.cooldown_until = remote
        self._adopt_latency(h, state)
        window = h.outcomes
        if isinstance(window, SharedWindow):
            others: dict[int, tuple[int, int]] = {}
            mine = self._instance.encode()
            for index, counts in enumerate(seconds):
                c = f = 0
                for field, value in counts.items():
                    instance, _, kind_ = field.rpartition(b":")
                    if instance == mine:
                        continue
                    if kind_ == b"a":
                        c += int(value)
                    else:
                        f += int(value)
                if c or f:
                    others[first + index - round(offset)] = (c, f)
            window.others = others

    @staticmethod
    def _adopt_latency(h: DeploymentHealth, state: dict[bytes, bytes]) -> None:
        for prefix, attribute in ((b"lat:", "latency_ms"), (b"ttft:", "ttft_ms")):
            values = [float(v) for k, v in state.items() if k.startswith(prefix)]
            if values:
                setattr(h, attribute, sum(values) / len(values))
