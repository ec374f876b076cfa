"""Per-deployment hard limits (``rpm``, ``tpm``, ``max_concurrency`` in a deployment's config).

The executor asks ``reserve`` before it calls a limited deployment: a refusal makes it try the next candidate,
and when every candidate refused, the request fails with a 429 whose Retry-After is the soonest reset. An
admitted attempt holds a reservation on the same ``LimitStore`` the key/team limits use (memory or Redis), and
``settle`` gives it back with the tokens actually used when the attempt ends (for a stream, when the stream
ends), which also frees its concurrency slot. Deployments without limits never touch the store.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from switchyard import errors
from switchyard.limits.protocols import LimitBackendError, LimitStore, Reservation, Scope
from switchyard.routing.target import Group
from switchyard.types.chat import Usage
from switchyard.types.identity import Limits

log = logging.getLogger("switchyard.limits")


class DeploymentLimits:
    def __init__(self, store: LimitStore, scopes: dict[str, Scope]) -> None:
        self._store = store
        self._scopes = scopes
        self._outage = False

    @classmethod
    def build(cls, store: LimitStore | None, groups: Iterable[Group]) -> DeploymentLimits | None:
        """None when no deployment has a limit, so the request path makes no store call at all."""
        if store is None:
            return None
        scopes: dict[str, Scope] = {}
        for group in groups:
            for target in group.targets:
                config = target.config
                if config.rpm or config.tpm or config.max_concurrency:
                    limits = Limits(config.rpm, config.tpm, config.max_concurrency)
                    scopes[target.id] = Scope(f"deployment:{target.id}", limits)
        return cls(store, scopes) if scopes else None

    def limited(self, deployment: str) -> bool:
        return deployment in self._scopes

    async def reserve(self, deployment: str, tokens: int) -> Reservation | errors.RateLimitError | None:
        """A reservation, the refusal (to try elsewhere), or None when the deployment is unlimited."""
        scope = self._scopes.get(deployment)
        if scope is None:
            return None
        try:
            decision = await self._store.reserve([scope], tokens)
        except LimitBackendError as exc:
            # Deployment limits protect the upstream's quota, which the upstream enforces anyway: admit.
            if not self._outage:
                self._outage = True
                log.warning("%s; deployment limits not enforced until the store is back", exc)
            return None
        self._outage = False
        if decision.allowed:
            return decision.reservation
        refusal = errors.RateLimitError(
            f"Rate limit reached: every deployment able to serve this request is at its "
            f"{decision.refused_kind or 'requests'} limit.",
            retry_after=float(max(1, math.ceil(decision.retry_after_s))),
        )
        refusal.allow_fallback = True  # the fallback groups' deployments have their own limits
        return refusal

    def settle(self, held: Reservation | None, usage: Usage | None, upstream_saw_it: bool) -> None:
        """Correct the token charge to the usage reported and free the concurrency slot. Never blocks."""
        if held is None:
            return
        if usage is not None:
            actual = usage.total_tokens or usage.prompt_tokens + usage.completion_tokens
        else:
            actual = held.tokens if upstream_saw_it else 0
        self._store.settle(held, actual)


def soonest(refusals: list[errors.RateLimitError]) -> errors.RateLimitError:
    return min(refusals, key=lambda r: r.retry_after if r.retry_after is not None else math.inf)
