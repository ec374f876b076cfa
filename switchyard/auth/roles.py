"""Who may use which part of the admin API.

- ``admin`` (and the master key): everything.
- ``team_admin``: keys and users of its own team, reading its own team; it cannot create or promote keys
  to ``admin`` or ``viewer`` (either would reach beyond the team), nor change teams.
- ``viewer``: reads request logs and spend, nothing else.
- ``user``: no admin API at all.

Records outside a team admin's team are reported as not found, so their ids reveal nothing.
"""

from __future__ import annotations

from switchyard.errors import AuthenticationError, PermissionDeniedError
from switchyard.types.identity import Principal, Role

# Roles a team admin may hand out: the ones that stay inside its team.
TEAM_ROLES: frozenset[Role] = frozenset({"user", "team_admin"})

_NO_ADMIN = "The admin API needs the master key or an admin key. Configure server.master_key to enable it."


def admin_caller(principal: Principal | None) -> Principal:
    """The caller of any admin route: authenticated, and not a plain user."""
    if principal is None:
        # An open gateway (no master key, no keys) serves models to anyone, but never its admin API.
        raise AuthenticationError(_NO_ADMIN)
    if principal.role == "user":
        raise PermissionDeniedError("This key may not use the admin API.")
    return principal


def require_manager(principal: Principal) -> None:
    """Keys and users: admins, and team admins within their team."""
    if principal.role == "admin":
        return
    if principal.role == "team_admin" and principal.team_id is not None:
        return
    raise PermissionDeniedError(f"A {principal.role} key may not manage keys, teams or users.")


def require_admin(principal: Principal) -> None:
    if principal.role != "admin":
        raise PermissionDeniedError("Only an admin may do this.")


def require_reader(principal: Principal) -> str | None:
    """Logs and spend: admins, viewers, and team admins (for their own team). Returns the team every query must
    be narrowed to, or None for all teams."""
    if principal.role in ("admin", "viewer"):
        return None
    if principal.role == "team_admin" and principal.team_id is not None:
        return principal.team_id
    raise PermissionDeniedError("This key may not read logs or spend.")


def team_scope(principal: Principal, requested: str | None) -> str | None:
    """The team a manager's listing is narrowed to: a team admin's own, whatever it asked for."""
    if principal.role == "admin":
        return requested
    if requested is not None and requested != principal.team_id:
        raise PermissionDeniedError("A team admin may only see its own team.")
    return principal.team_id


def can_see(principal: Principal, team_id: str | None) -> bool:
    return principal.role == "admin" or (team_id is not None and team_id == principal.team_id)


def check_grant(principal: Principal, role: Role, team_id: str | None) -> None:
    """May this manager give a key ``role`` in ``team_id``?"""
    if principal.role == "admin":
        return
    if team_id != principal.team_id:
        raise PermissionDeniedError("A team admin may only manage keys of its own team.")
    if role not in TEAM_ROLES:
        raise PermissionDeniedError(f"A team admin may not create or promote a key to {role}.")
