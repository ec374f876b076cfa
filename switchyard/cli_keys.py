"""``switchyard keys …`` and ``switchyard teams …``: manage a running gateway through its admin API over HTTP.

The CLI holds no database connection of its own: it speaks the same /admin API as any other client, so it
works the same against one embedded gateway or a fleet sharing PostgreSQL.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Annotated, Any, Optional

import typer

keys_app = typer.Typer(no_args_is_help=True, help="Virtual keys on a running gateway (admin API).")
teams_app = typer.Typer(no_args_is_help=True, help="Teams on a running gateway (admin API).")

Url = Annotated[
    str, typer.Option("--url", envvar="SWITCHYARD_URL", help="the gateway")
]
MasterKey = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--master-key", envvar="SWITCHYARD_MASTER_KEY", help="master or admin key"),
]
AsJson = Annotated[bool, typer.Option("--json", help="print the raw JSON answer")]
Models = Annotated[Optional[str], typer.Option(help="allowed model groups, comma-separated ('' clears)")]  # noqa: UP045
Rpm = Annotated[Optional[int], typer.Option(help="requests per minute")]  # noqa: UP045
Tpm = Annotated[Optional[int], typer.Option(help="tokens per minute")]  # noqa: UP045
Concurrency = Annotated[Optional[int], typer.Option("--max-concurrency", help="requests in flight")]  # noqa: UP045
BudgetUsd = Annotated[Optional[float], typer.Option("--budget-usd", help="spend ceiling per period")]  # noqa: UP045
BudgetPeriod = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option("--budget-period", help="daily | weekly | monthly | total"),
]
Meta = Annotated[Optional[list[str]], typer.Option("--meta", help="metadata KEY=VALUE (repeat)")]  # noqa: UP045
DEFAULT_URL = "http://127.0.0.1:4000"


class _Client:
    def __init__(self, url: str, key: str | None) -> None:
        self.url = url.rstrip("/")
        self.key = key

    def call(self, method: str, path: str, body: dict[str, Any] | None = None, **params: Any) -> Any:
        import asyncio

        return asyncio.run(self._call(method, path, body, {k: str(v) for k, v in params.items() if v is not None}))

    async def _call(self, method: str, path: str, body: dict[str, Any] | None, params: dict[str, str]) -> Any:
        import aiohttp

        headers = {"authorization": f"Bearer {self.key}"} if self.key else {}
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
                session.request(method, self.url + path, json=body, params=params, headers=headers) as response,
            ):
                text = await response.text()
                status = response.status
        except aiohttp.ClientError as exc:
            _die(f"cannot reach the gateway at {self.url}: {exc}")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            _die(f"HTTP {status}: {text[:200]}")
        if status >= 400:
            error = data.get("error", {}) if isinstance(data, dict) else {}
            where = f" ({error['param']})" if error.get("param") else ""
            _die(f"HTTP {status} {error.get('code', '')}: {error.get('message', text[:200])}{where}")
        return data


def _die(message: str) -> Any:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def _client(url: str | None, key: str | None) -> _Client:
    return _Client(url or DEFAULT_URL, key)


def _limits(
    models: str | None, rpm: int | None, tpm: int | None, concurrency: int | None, budget: float | None,
    period: str | None, meta: list[str] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if models is not None:
        body["models"] = [m.strip() for m in models.split(",") if m.strip()] if models.strip() else None
    for name, value in (("rpm", rpm), ("tpm", tpm), ("max_concurrency", concurrency), ("budget_usd", budget),
                        ("budget_period", period)):
        if value is not None:
            body[name] = value
    if meta:
        pairs = [item.split("=", 1) for item in meta]
        if any(len(pair) != 2 for pair in pairs):
            _die("--meta takes KEY=VALUE")
        body["metadata"] = dict(pairs)
    return body


def _when(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M")


def _show(data: Any, as_json: bool, columns: list[str], title: str) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    rows = data["data"] if isinstance(data, dict) and "data" in data else [data]
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = []
        for column in columns:
            value = row.get(column)
            if column.endswith("_at"):
                value = _when(value)
            elif isinstance(value, list):
                value = ",".join(map(str, value))
            elif isinstance(value, dict):
                value = ",".join(f"{k}={v}" for k, v in value.items())
            cells.append("" if value is None else str(value))
        table.add_row(*cells)
    Console(width=None if sys.stdout.isatty() else 200).print(table)
    if isinstance(data, dict) and data.get("next_cursor"):
        typer.echo(f"more: --cursor {data['next_cursor']}")


_KEY_COLUMNS = ["id", "prefix", "alias", "status", "role", "team_id", "models", "rpm", "tpm", "budget_usd",
                "expires_at", "created_at"]
_TEAM_COLUMNS = ["id", "name", "models", "rpm", "tpm", "max_concurrency", "budget_usd", "budget_period", "deleted_at"]


def _secret(data: dict[str, Any], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(data, indent=2))
        return
    typer.echo(f"id:     {data['id']}")
    typer.echo(f"key:    {data['key']}")
    typer.echo("The key is shown only now: store it safely.", err=True)


# --- keys ------------------------------------------------------------------------------------------------------


@keys_app.command("create")
def keys_create(
    alias: Annotated[Optional[str], typer.Option(help="a unique name")] = None,  # noqa: UP045
    team: Annotated[Optional[str], typer.Option(help="team id")] = None,  # noqa: UP045
    user: Annotated[Optional[str], typer.Option(help="user id")] = None,  # noqa: UP045
    role: Annotated[str, typer.Option(help="user | team_admin | viewer | admin")] = "user",
    models: Models = None, rpm: Rpm = None, tpm: Tpm = None, max_concurrency: Concurrency = None,
    budget_usd: BudgetUsd = None, budget_period: BudgetPeriod = None, meta: Meta = None,
    tag: Annotated[Optional[list[str]], typer.Option(help="a tag (repeat)")] = None,  # noqa: UP045
    expires_in_days: Annotated[Optional[float], typer.Option(help="expire after this many days")] = None,  # noqa: UP045
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """Create a key; its secret is printed once."""
    import time

    body = _limits(models, rpm, tpm, max_concurrency, budget_usd, budget_period, meta)
    body.update({k: v for k, v in (("alias", alias), ("team_id", team), ("user_id", user)) if v is not None})
    body["role"] = role
    if tag:
        body["tags"] = tag
    if expires_in_days is not None:
        body["expires_at"] = time.time() + expires_in_days * 86400
    _secret(_client(url, master_key).call("POST", "/admin/keys", body), as_json)


@keys_app.command("list")
def keys_list(
    team: Annotated[Optional[str], typer.Option(help="only this team's keys")] = None,  # noqa: UP045
    limit: Annotated[int, typer.Option(help="page size")] = 50,
    cursor: Annotated[Optional[str], typer.Option(help="next page")] = None,  # noqa: UP045
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """List keys by prefix (secrets are never shown again)."""
    data = _client(url, master_key).call("GET", "/admin/keys", team_id=team, limit=limit, cursor=cursor)
    _show(data, as_json, _KEY_COLUMNS, "Keys")


@keys_app.command("show")
def keys_show(key_id: str, url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False) -> None:
    """Show one key."""
    data = _client(url, master_key).call("GET", f"/admin/keys/{key_id}")
    _show(data, as_json, [*_KEY_COLUMNS, "user_id", "tags", "metadata", "revoked_at"], "Key")


@keys_app.command("update")
def keys_update(
    key_id: str,
    alias: Annotated[Optional[str], typer.Option(help="a unique name")] = None,  # noqa: UP045
    role: Annotated[Optional[str], typer.Option(help="user | team_admin | viewer | admin")] = None,  # noqa: UP045
    models: Models = None, rpm: Rpm = None, tpm: Tpm = None, max_concurrency: Concurrency = None,
    budget_usd: BudgetUsd = None, budget_period: BudgetPeriod = None, meta: Meta = None,
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """Change a key's limits, models, role or alias."""
    body = _limits(models, rpm, tpm, max_concurrency, budget_usd, budget_period, meta)
    body.update({k: v for k, v in (("alias", alias), ("role", role)) if v is not None})
    data = _client(url, master_key).call("PATCH", f"/admin/keys/{key_id}", body)
    _show(data, as_json, _KEY_COLUMNS, "Key")


@keys_app.command("rotate")
def keys_rotate(key_id: str, url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False) -> None:
    """Give a key a new secret; the old one stops working."""
    _secret(_client(url, master_key).call("POST", f"/admin/keys/{key_id}/rotate"), as_json)


@keys_app.command("revoke")
def keys_revoke(key_id: str, url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False) -> None:
    """Revoke a key for good."""
    data = _client(url, master_key).call("DELETE", f"/admin/keys/{key_id}")
    _show(data, as_json, _KEY_COLUMNS, "Revoked")


# --- teams -----------------------------------------------------------------------------------------------------


@teams_app.command("create")
def teams_create(
    name: str,
    models: Models = None, rpm: Rpm = None, tpm: Tpm = None, max_concurrency: Concurrency = None,
    budget_usd: BudgetUsd = None, budget_period: BudgetPeriod = None, meta: Meta = None,
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """Create a team."""
    body = {"name": name, **_limits(models, rpm, tpm, max_concurrency, budget_usd, budget_period, meta)}
    _show(_client(url, master_key).call("POST", "/admin/teams", body), as_json, _TEAM_COLUMNS, "Team")


@teams_app.command("list")
def teams_list(
    limit: Annotated[int, typer.Option(help="page size")] = 50,
    cursor: Annotated[Optional[str], typer.Option(help="next page")] = None,  # noqa: UP045
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """List teams."""
    data = _client(url, master_key).call("GET", "/admin/teams", limit=limit, cursor=cursor)
    _show(data, as_json, _TEAM_COLUMNS, "Teams")


@teams_app.command("show")
def teams_show(team_id: str, url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False) -> None:
    """Show one team."""
    _show(_client(url, master_key).call("GET", f"/admin/teams/{team_id}"), as_json, _TEAM_COLUMNS, "Team")


@teams_app.command("update")
def teams_update(
    team_id: str,
    name: Annotated[Optional[str], typer.Option(help="new name")] = None,  # noqa: UP045
    models: Models = None, rpm: Rpm = None, tpm: Tpm = None, max_concurrency: Concurrency = None,
    budget_usd: BudgetUsd = None, budget_period: BudgetPeriod = None, meta: Meta = None,
    url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False,
) -> None:
    """Change a team; its keys see the change at once on this gateway."""
    body = _limits(models, rpm, tpm, max_concurrency, budget_usd, budget_period, meta)
    if name is not None:
        body["name"] = name
    data = _client(url, master_key).call("PATCH", f"/admin/teams/{team_id}", body)
    _show(data, as_json, _TEAM_COLUMNS, "Team")


@teams_app.command("delete")
def teams_delete(team_id: str, url: Url = DEFAULT_URL, master_key: MasterKey = None, as_json: AsJson = False) -> None:
    """Delete a team; its keys stop working."""
    data = _client(url, master_key).call("DELETE", f"/admin/teams/{team_id}")
    _show(data, as_json, _TEAM_COLUMNS, "Deleted")
