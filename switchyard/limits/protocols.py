"""The limits seam: reserve capacity across several scopes at once, settle on actual usage.

A *scope* is one thing a limit applies to (a key, a team, a model group, a deployment), named by a string
such as ``key:3f9c`` or ``group:gpt-4o``. ``reserve`` is all-or-nothing across the scopes it is given: either
every scope takes the request (and its tokens and a concurrency slot), or none is charged. ``settle`` runs
once per admitted request with the tokens actually used; it corrects the token charge and releases the
concurrency slots. Neither may block the event loop; ``settle`` must return at once (queue the work).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from switchyard.types.identity import Limits

PERIOD_S = 60.0  # rpm and tpm are per minute


class LimitBackendError(Exception):
    """The shared limit store could not be reached; the caller applies the configured failure mode."""


@dataclass(frozen=True, slots=True)
class Scope:
    name: str
    limits: Limits


@dataclass(frozen=True, slots=True)
class Quota:
    """One dimension of one scope after a decision: the state rate-limit headers report."""

    scope: str
    kind: str  # "requests" or "tokens"
    limit: int
    remaining: int
    reset_s: float  # until the bucket is full again


@dataclass(frozen=True, slots=True)
class Reservation:
    """What an admitted request holds until it is settled."""

    id: str
    scopes: tuple[Scope, ...]
    tokens: int


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    reservation: Reservation | None = None
    retry_after_s: float = 0.0
    # The scope and dimension that refused ("requests", "tokens", "concurrency"); None when allowed.
    refused_scope: str | None = None
    refused_kind: str | None = None
    quotas: tuple[Quota, ...] = field(default_factory=tuple)


class LimitStore(Protocol):
    async def reserve(self, scopes: Sequence[Scope], tokens: int) -> Decision:
        """Admit one request of ``tokens`` tokens in every scope, or in none. Raises ``LimitBackendError``."""
        ...

    def settle(self, reservation: Reservation, actual_tokens: int) -> None:
        """Charge the difference between actual and reserved tokens and release concurrency. Never blocks."""
        ...

    async def close(self) -> None:
        """Finish pending settlements."""
        ...
