"""Who is calling: the principal an authenticated request carries through the pipeline. No behaviour."""

from __future__ import annotations

from typing import Literal

import msgspec

Role = Literal["admin", "team_admin", "viewer", "user"]
Period = Literal["daily", "weekly", "monthly", "total"]


class Limits(msgspec.Struct, frozen=True, omit_defaults=True):
    """Request-rate, token-rate and concurrency ceilings; ``None`` is unlimited."""

    rpm: int | None = None
    tpm: int | None = None
    max_concurrency: int | None = None


class Budget(msgspec.Struct, frozen=True, omit_defaults=True):
    """A spend ceiling in USD that resets every period; alerts fire at each soft threshold (fractions of it)."""

    max_usd: float
    period: Period = "monthly"
    soft_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)


class Principal(msgspec.Struct, frozen=True, omit_defaults=True):
    """An authenticated caller. The master key is the principal with ``role="admin"`` and no key id.

    ``allowed_models`` of ``None`` means every model group. Limits and budgets are copied from the key and
    its team at authentication time, so the stages that enforce them never touch the key store.
    """

    role: Role
    key_id: str | None = None
    key_prefix: str | None = None
    key_alias: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    allowed_models: frozenset[str] | None = None
    key_limits: Limits = Limits()
    team_limits: Limits = Limits()
    key_budget: Budget | None = None
    team_budget: Budget | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, str] = {}


MASTER = Principal(role="admin")
