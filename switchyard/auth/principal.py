"""Stored key and team records → the Principal a request carries, and whether a key may be used at all."""

from __future__ import annotations

from switchyard.storage.keys_protocol import KeyRecord, TeamRecord, UserRecord
from switchyard.types.identity import Budget, Limits, Period, Principal


def refusal(key: KeyRecord, team: TeamRecord | None, now: float, user: UserRecord | None = None) -> str | None:
    """Why this key cannot authenticate now, or None when it can. ``user``: the key's user, when it has one."""
    if key.revoked_at is not None:
        return "This API key has been revoked."
    if key.expires_at is not None and key.expires_at <= now:
        return "This API key has expired."
    if key.team_id is not None and (team is None or team.deleted_at is not None):
        return "This API key belongs to a team that no longer exists."
    if key.user_id is not None and user is not None and user.deleted_at is not None:
        return "This API key belongs to a user that was deleted."
    return None


def allowed_models(key: KeyRecord, team: TeamRecord | None) -> frozenset[str] | None:
    """The key's groups ∩ its team's groups; None (each side) means every group."""
    sides = [set(models) for models in (key.models, team.models if team else None) if models is not None]
    if not sides:
        return None
    return frozenset(set.intersection(*sides))


def _budget(usd: float | None, period: Period) -> Budget | None:
    return None if usd is None else Budget(max_usd=usd, period=period)


def build_principal(key: KeyRecord, team: TeamRecord | None) -> Principal:
    return Principal(
        role=key.role,
        key_id=key.id,
        key_prefix=key.prefix,
        key_alias=key.alias,
        team_id=key.team_id,
        user_id=key.user_id,
        allowed_models=allowed_models(key, team),
        key_limits=Limits(key.rpm, key.tpm, key.max_concurrency),
        team_limits=Limits(team.rpm, team.tpm, team.max_concurrency) if team else Limits(),
        key_budget=_budget(key.budget_usd, key.budget_period),
        team_budget=_budget(team.budget_usd, team.budget_period) if team else None,
        tags=tuple(key.tags),
        metadata=dict(key.metadata),
    )
