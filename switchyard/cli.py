"""The ``switchyard`` command: serve, config check, version."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer

from switchyard import __version__
from switchyard.errors import ConfigError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Switchyard, an OpenAI-compatible AI gateway.")
config_app = typer.Typer(no_args_is_help=True, help="Work with configuration files.")
app.add_typer(config_app, name="config")


def _mount_eval() -> None:
    # Offline training and evaluation (the `router` extra): mounted only when its dependencies are installed,
    # so the gateway itself never needs numpy or scikit-learn.
    try:
        from switchyard.cli_eval import eval_app, train_app
    except ImportError:
        return
    from switchyard.cli_cache import eval_cache, train_cache  # the semantic cache; its imports are lazy

    eval_app.command("cache")(eval_cache)
    train_app.command("cache")(train_cache)
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")


_mount_eval()

# Operator commands against a running gateway (admin API over HTTP).
from switchyard.cli_ops import logs_app, status  # noqa: E402 - after the app they attach to

app.command()(status)
app.add_typer(logs_app, name="logs")

from switchyard.cli_keys import keys_app, teams_app  # noqa: E402 - virtual keys and teams, same admin API

app.add_typer(keys_app, name="keys")
app.add_typer(teams_app, name="teams")

ConfigOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--config", "-c", help="YAML config file (default: $SWITCHYARD_CONFIG, else the demo setup)"),
]


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[Optional[str], typer.Option(help="address to listen on [default: 127.0.0.1]")] = None,  # noqa: UP045
    port: Annotated[Optional[int], typer.Option(help="port to listen on [default: 4000]")] = None,  # noqa: UP045
    workers: Annotated[Optional[int], typer.Option(help="worker processes [default: 1]")] = None,  # noqa: UP045
) -> None:
    """Start the gateway."""
    import uvicorn

    from switchyard.config import load_config

    try:
        settings = load_config(config, overrides={"host": host, "port": port, "workers": workers})
    except ConfigError as exc:
        _fail(exc)
    server = settings.server
    from switchyard.observability.logs import configure_logging

    configure_logging(server.log_level, server.log_format)
    options = dict(
        host=server.host,
        port=server.port,
        loop="uvloop" if sys.platform != "win32" else "asyncio",
        http="httptools",
        log_level=server.log_level,
        access_log=server.access_log,
        # X-Forwarded-For rewrites the client address, which only uvicorn's access log reads: skip it otherwise.
        proxy_headers=server.access_log,
        log_config=None,  # logging is configured above (text or JSON); uvicorn's own config would replace it
        timeout_graceful_shutdown=30,
    )
    typer.echo(
        f"Switchyard {__version__} on http://{server.host}:{server.port} "
        f"({len(settings.model_groups)} model groups: {', '.join(settings.model_groups)})",
        err=True,
    )
    if server.workers > 1:
        # Worker processes build their own app from the same file; the flags travel as overrides in env.
        if config is not None:
            os.environ["SWITCHYARD_CONFIG"] = str(config.resolve())
        # Metrics from every worker in one scrape: prometheus-client's multiprocess mode, in a fresh folder.
        own_metrics_dir = "PROMETHEUS_MULTIPROC_DIR" not in os.environ
        if own_metrics_dir:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="switchyard-metrics-")
        try:
            uvicorn.run("switchyard.server.app:app_from_env", factory=True, workers=server.workers, **options)  # type: ignore[arg-type]
        finally:
            if own_metrics_dir:
                shutil.rmtree(os.environ.pop("PROMETHEUS_MULTIPROC_DIR"), ignore_errors=True)
        return
    from switchyard.providers.registry import PROVIDERS  # noqa: F401 - imported early to fail fast
    from switchyard.server.app import create_app

    try:
        application = create_app(settings)
    except ConfigError as exc:
        _fail(exc)
    from switchyard.server.runtime import tune_gc

    tune_gc()
    uvicorn.run(application, **options)  # type: ignore[arg-type]


@config_app.command("check")
def config_check(file: Annotated[Path, typer.Argument(help="the YAML file to check")]) -> None:
    """Validate a config file without starting anything."""
    from switchyard.config import load_config
    from switchyard.providers.base import ProviderContext
    from switchyard.providers.registry import PROVIDERS
    from switchyard.routing.build import build_groups
    from switchyard.routing.router_build import build_routers
    from switchyard.transport import HttpTransport
    from switchyard.transport.guarded import GuardedFetcher

    try:
        settings = load_config(file)
        # Building the adapters checks provider names and credentials; nothing connects anywhere.
        fetcher = GuardedFetcher(max_bytes=1, timeout_s=1)
        groups = build_groups(settings, PROVIDERS, ProviderContext(HttpTransport(), settings.router, fetcher, 1))
        build_routers(settings, groups)  # loads router and scorer files, so a bad path fails here too
    except ConfigError as exc:
        _fail(exc)
    deployments = sum(len(g.deployments) for g in settings.model_groups.values())
    typer.echo(f"{file}: OK ({len(settings.model_groups)} model groups, {deployments} deployments)")


@app.command()
def prices(
    config: ConfigOption = None,
    model: Annotated[Optional[str], typer.Option(help="only entries containing this text")] = None,  # noqa: UP045
) -> None:
    """List the pricing table, or with --config, the price each deployment will be billed at."""
    from rich.console import Console
    from rich.table import Table

    from switchyard.accounting.pricing import builtin_table, price_for
    from switchyard.config import load_config
    from switchyard.config.schema import deployment_id

    table = builtin_table()
    view = Table(title=f"Prices (USD per million tokens), table version {table.version}")
    for column in ("model", "input", "cached read", "cache write", "output", "reasoning", "per request", "source"):
        view.add_column(column, justify="left" if column in ("model", "source") else "right")
    if config is None:
        rows = [(name, price) for name, price in sorted(table.models.items())]
    else:
        try:
            settings = load_config(config)
        except ConfigError as exc:
            _fail(exc)
        rows = []
        missing = []
        for group, spec in settings.model_groups.items():
            for index, deployment in enumerate(spec.deployments):
                name = f"{deployment_id(group, index, deployment)} ({deployment.provider}/{deployment.model})"
                price = price_for(deployment, table)
                if price is None:
                    missing.append(name)
                else:
                    rows.append((name, price))
    for name, price in rows:
        if model is None or model in name:
            view.add_row(
                name,
                *(
                    f"{v:g}"
                    for v in (
                        price.input,
                        price.cache_read,
                        price.cache_write,
                        price.output,
                        price.reasoning,
                        price.per_request,
                    )
                ),
                price.source,
            )
    # Piped output is not cut to 80 columns: scripts and tests read whole model names.
    Console(width=None if sys.stdout.isatty() else 200).print(view)
    if config is not None and missing:
        typer.echo("no price (cost will not be recorded): " + ", ".join(missing), err=True)
        raise typer.Exit(1)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def _fail(exc: ConfigError) -> None:
    typer.echo(f"config error: {exc}", err=True)
    raise typer.Exit(2)


def main() -> None:
    app()
