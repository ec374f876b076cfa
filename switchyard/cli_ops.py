"""Operator commands against a running gateway: ``switchyard status`` and ``switchyard logs tail``.

They talk to the admin API over HTTP (stdlib urllib: nothing to install), with the master key or an admin/viewer
key from ``--master-key`` or ``SWITCHYARD_MASTER_KEY``.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from datetime import datetime, timezone
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

logs_app = typer.Typer(no_args_is_help=True, help="Read the request log of a running gateway.")

UrlOption = Annotated[str, typer.Option("--url", envvar="SWITCHYARD_URL", help="the gateway's base URL")]
KeyOption = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--master-key", envvar="SWITCHYARD_MASTER_KEY", help="master key, or an admin/viewer key"),
]
_BREAKER_STYLE = {"closed": "green", "half_open": "yellow", "open": "bold red"}


class GatewayError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def get_json(base: str, path: str, key: str | None, params: dict[str, Any] | None = None) -> Any:
    query = urllib.parse.urlencode({k: v for k, v in (params or {}).items() if v is not None})
    url = base.rstrip("/") + path + (f"?{query}" if query else "")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the operator's own gateway URL
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            message = json.loads(exc.read())["error"]["message"]
        except (ValueError, KeyError, TypeError):
            message = exc.reason
        raise GatewayError(exc.code, f"{exc.code} from {path}: {message}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise GatewayError(0, f"cannot reach {base}: {getattr(exc, 'reason', exc)}") from None


def _fail(exc: GatewayError) -> None:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(1)


def _console() -> Console:
    # Piped output keeps whole lines (scripts and tests read it), a terminal gets its own width.
    console = Console()
    return console if console.is_terminal else Console(width=200)


def status(url: UrlOption = "http://127.0.0.1:4000", master_key: KeyOption = None) -> None:
    """Health, deployments with their breaker state and load, and today's spend."""
    console = _console()
    try:
        ready = get_json(url, "/health/readiness", None)
    except GatewayError as exc:
        if exc.status != 503:
            _fail(exc)
        ready = {"status": "starting"}
    try:
        state = get_json(url, "/admin/status", master_key)
    except GatewayError as exc:
        _fail(exc)
    console.print(
        f"[bold]{url}[/bold]  {ready.get('status')}  version {state['version']}  up {state['uptime_s']:.0f}s  "
        f"log queue {state['log_queue_depth']}"
    )
    table = Table(title="Deployments")
    for column in (
        "group",
        "deployment",
        "provider/model",
        "breaker",
        "in flight",
        "latency ms",
        "ttft ms",
        "errors (window)",
    ):
        table.add_column(column, justify="right" if column in ("in flight", "latency ms", "ttft ms") else "left")
    for group in state["model_groups"]:
        for d in group["deployments"]:
            breaker = Text(d["breaker"], style=_BREAKER_STYLE.get(d["breaker"], ""))
            table.add_row(
                group["name"],
                d["id"],
                f"{d['provider']}/{d['model']}",
                breaker,
                str(d["in_flight"]),
                _ms(d["latency_ms"]),
                _ms(d["ttft_ms"]),
                f"{d['failures_in_window']}/{d['attempts_in_window']}",
            )
    console.print(table)
    _router_groups(console, url, master_key)
    _spend_today(console, url, master_key)


def _router_groups(console: Console, url: str, key: str | None) -> None:
    """One row per router group (``GET /admin/routers``), a row per cascade stage under it; nothing without any."""
    try:
        groups = get_json(url, "/admin/routers", key).get("data", [])
    except GatewayError as exc:
        if exc.status in (404, 405):
            return  # a gateway from before the routers view
        _fail(exc)
    if not groups:
        return
    table = Table(title="Router groups")
    for column in ("group", "strategy", "members", "threshold", "window", "strong share", "decisions"):
        table.add_column(column)
    for g in groups:
        strategy = g["strategy"] + (f" (shadow, serves {g['serve']})" if g["shadow"] else "")
        table.add_row(
            g["name"], strategy, " < ".join(g["members"]), _threshold(g["threshold"], g["threshold_source"]),
            _window(g["window"]), _share(g), ", ".join(f"{m} {n}" for m, n in sorted(g["decisions"].items())) or "-",
        )  # fmt: skip
        for stage in g["stages"] or []:
            accepted = f"accepted {stage['accepted']}/{stage['judged']}, failed {stage['failed']}"
            table.add_row(
                "", f"  stage {stage['member']}", "", _threshold(stage["threshold"], stage["calibration"]),
                _window(stage["window"]), "", accepted,
            )  # fmt: skip
        if g["scopes"]:
            scopes = g["scopes"]
            table.add_row("", f"  {scopes['count']} {scopes['kind']} windows", "", "", "", "", "")
    console.print(table)


def _threshold(value: float | None, source: str | None) -> str:
    shown = "-" if value is None else f"{value:.4f}"
    return shown if source is None else f"{shown} ({source})"


def _window(window: dict[str, Any] | None) -> str:
    if window is None:
        return "-"
    return f"{window['filled']}/{window['size']}" + (" warming up" if window["warming_up"] else "")


def _share(group: dict[str, Any]) -> str:
    realised, target = group["realised_strong_share"], group["target_share"]
    if realised is None and target is None:
        return "-"
    shown = "-" if realised is None else f"{realised:.1%}"
    return shown + ("" if target is None else f" (target {target:.0%})")


def _spend_today(console: Console, url: str, key: str | None) -> None:
    midnight = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()  # noqa: UP017
    try:
        spend = get_json(url, "/admin/spend", key, {"group_by": "model", "since": midnight})
    except GatewayError as exc:
        if exc.status in (404, 405):
            console.print("spend today: not available (this gateway has no spend API)")
            return
        _fail(exc)
    rows = spend.get("data", [])
    total = sum(row.get("cost_usd") or 0.0 for row in rows)
    requests = sum(row.get("requests") or 0 for row in rows)
    console.print(f"[bold]spend today (UTC)[/bold]: ${total:.6f} over {requests} requests")
    for row in sorted(rows, key=lambda r: -(r.get("cost_usd") or 0.0)):
        console.print(f"  {row.get('group') or '-'}: ${row.get('cost_usd') or 0.0:.6f} ({row.get('requests')} req)")


@logs_app.command("tail")
def tail(
    url: UrlOption = "http://127.0.0.1:4000",
    master_key: KeyOption = None,
    model: Annotated[Optional[str], typer.Option(help="only this model group")] = None,  # noqa: UP045
    status_filter: Annotated[
        Optional[str], typer.Option("--status", help="a status code, or ok / error")  # noqa: UP045
    ] = None,
    interval: Annotated[float, typer.Option(help="seconds between polls")] = 2.0,
    last: Annotated[int, typer.Option(help="records to show at start")] = 20,
    follow: Annotated[bool, typer.Option("--follow/--no-follow", help="keep polling")] = True,
) -> None:
    """Print the newest request-log records, then keep printing new ones as they arrive."""
    console = _console()
    seen: deque[str] = deque(maxlen=5000)
    since: float | None = None
    limit = max(1, last)
    while True:
        params = {"model": model, "status": status_filter, "since": since, "limit": limit}
        try:
            page = get_json(url, "/admin/logs", master_key, params)
        except GatewayError as exc:
            _fail(exc)
        fresh = [r for r in reversed(page.get("data", [])) if _id(r) not in seen]
        for record in fresh:
            seen.append(_id(record))
            console.print(_line(record), highlight=False, soft_wrap=True)
            since = max(since or 0.0, float(record["ts"]))
        if not follow:
            return
        limit = 500
        time.sleep(interval)


def _id(record: dict[str, Any]) -> str:
    return str(record.get("log_id") or record.get("request_id"))


def _line(record: dict[str, Any]) -> Text:
    when = datetime.fromtimestamp(float(record["ts"])).strftime("%H:%M:%S")
    code = int(record["status"])
    style = "green" if code < 400 else ("yellow" if code < 500 else "bold red")
    line = Text(f"{when} ")
    line.append(f"{code}", style=style)
    line.append(f" {record.get('model_group') or '-'} -> {record.get('deployment') or '-'}", style="cyan")
    line.append(f" {record['latency_ms']:.0f}ms")
    if record.get("prompt_tokens") is not None:
        line.append(f" {record.get('prompt_tokens')}+{record.get('completion_tokens') or 0} tok")
    if record.get("cost_usd"):
        line.append(f" ${record['cost_usd']:.6f}")
    if record.get("cache_status"):
        line.append(f" cache:{record['cache_status']}")
    if record.get("error_code"):
        line.append(f" {record['error_code']}", style=style)
    if int(record.get("attempts") or 0) > 1:
        line.append(f" attempts:{record['attempts']}", style="magenta")
    line.append(f" {record['request_id']}", style="dim")
    return line


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"
