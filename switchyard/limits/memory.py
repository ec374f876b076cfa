"""In-process limits: GCRA state and concurrency leases in dicts, for the embedded (one process) deployment.

Everything runs on the event loop thread between awaits, so a reservation across scopes is atomic without
locks. Memory is bounded by the number of live scopes: an idle scope's state is dropped once its bucket has
refilled (checked lazily, a few entries per call).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence

from switchyard.limits import gcra
from switchyard.limits.protocols import PERIOD_S, Decision, Quota, Reservation, Scope


class MemoryLimitStore:
    def __init__(self, clock: Callable[[], float] = time.monotonic, lease_s: float = 3600.0) -> None:
        self._clock = clock
        self._lease_s = lease_s
        # (scope, "requests"|"tokens") -> tat
        self._tat: dict[tuple[str, str], float] = {}
        # scope -> {reservation id: lease expiry}
        self._held: dict[str, dict[str, float]] = {}
        self._ids = itertools.count(1)

    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        return self.reserve_now(scopes, tokens)

    def reserve_now(self, scopes: Sequence[Scope], tokens: int, now: float | None = None) -> Decision:
        now = self._clock() if now is None else now
        self._prune(now)
        updates: list[tuple[tuple[str, str], float]] = []
        quotas: list[Quota] = []
        refusal: tuple[float, str, str] | None = None
        for scope in scopes:
            limits = scope.limits
            for kind, limit, cost in (("requests", limits.rpm, 1), ("tokens", limits.tpm, tokens)):
                if limit is None:
                    continue
                slot = (scope.name, kind)
                tat = self._tat.get(slot, now)
                allowed, new_tat, wait = gcra.charge(tat, now, cost, limit, PERIOD_S)
                if not allowed and (refusal is None or wait > refusal[0]):
                    refusal = (wait, scope.name, kind)
                updates.append((slot, new_tat))
                quotas.append(
                    Quota(
                        scope.name,
                        kind,
                        limit,
                        gcra.remaining(new_tat, now, limit, PERIOD_S),
                        gcra.reset_after(new_tat, now),
                    )
                )
            if limits.max_concurrency is not None:
                held = self._held.get(scope.name, {})
                live = sum(1 for expiry in held.values() if expiry > now)
                if live >= limits.max_concurrency and refusal is None:
                    # Nobody knows when a slot frees up; a second is a polite hint.
                    refusal = (1.0, scope.name, "concurrency")
        if refusal is not None:
            wait, scope_name, kind = refusal
            return Decision(False, None, wait, scope_name, kind, tuple(quotas))
        for slot, new_tat in updates:
            # Re-inserted so the dict stays ordered by last use, which is what _prune looks at first.
            self._tat.pop(slot, None)
            self._tat[slot] = new_tat
        reservation = Reservation(f"m{next(self._ids)}", tuple(scopes), tokens)
        for scope in scopes:
            if scope.limits.max_concurrency is not None:
                self._held.setdefault(scope.name, {})[reservation.id] = now + self._lease_s
        return Decision(True, reservation, quotas=tuple(quotas))

    def settle(self, reservation: Reservation, actual_tokens: int, now: float | None = None) -> None:
        now = self._clock() if now is None else now
        delta = actual_tokens - reservation.tokens
        for scope in reservation.scopes:
            tpm = scope.limits.tpm
            if tpm is not None and delta:
                slot = (scope.name, "tokens")
                tat = self._tat.get(slot)
                if tat is not None:
                    self._tat[slot] = gcra.adjust(tat, now, delta, tpm, PERIOD_S)
            if scope.limits.max_concurrency is not None:
                held = self._held.get(scope.name)
                if held is not None:
                    held.pop(reservation.id, None)
                    if not held:
                        del self._held[scope.name]

    async def close(self) -> None:
        return None

    def _prune(self, now: float) -> None:
        # Look at a few of the oldest entries per call: amortised O(1), and an idle scope eventually goes.
        for slot in list(itertools.islice(self._tat, 4)):
            if self._tat[slot] <= now:
                del self._tat[slot]
