"""Review findings: each test failed before its fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount
from typer.testing import CliRunner

from switchyard.cli import app as cli
from switchyard.config.schema import Config
from switchyard.errors import StoreUnavailableError
from switchyard.routing.learned.traffic import TrafficUnavailableError, read_postgres
from switchyard.server.app import create_app
from switchyard.storage.feedback import Feedback

# A malformed port: asyncpg raises a plain ValueError while parsing it, before any connection.
MESSAGES = [{"role": "user", "content": "hi"}]
BAD_DSN = "postgresql://u:s3cretpw@127.0.0.1:notaport/db"


def test_a_malformed_database_url_is_a_clean_error_naming_no_secret() -> None:
    with pytest.raises(TrafficUnavailableError) as caught:
        asyncio.run(read_postgres(BAD_DSN, "auto"))
    assert "s3cretpw" not in str(caught.value)


def test_eval_shadow_with_a_malformed_database_url_says_so_without_a_traceback(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        f'server: {{database_url: "{BAD_DSN}"}}\n'
        "model_groups:\n"
        "  a: {deployments: [{provider: demo, model: a}]}\n"
        "  b: {deployments: [{provider: demo, model: b}]}\n"
        "  auto: {router: {kind: random, members: [a, b]}}\n"
    )
    result = CliRunner().invoke(cli, ["eval", "shadow", "--config", str(config)])
    assert result.exit_code == 2, result.output
    assert "error:" in result.output and "s3cretpw" not in result.output


def test_feedback_store_with_a_malformed_database_url_is_unavailable_not_a_500() -> None:
    pytest.importorskip("asyncpg")
    from switchyard.storage.feedback_postgres import PostgresFeedbackStore

    async def add() -> None:
        store = PostgresFeedbackStore(BAD_DSN)
        try:
            await store.add(Feedback("r1", 1.0, 0.0, None, None))
        finally:
            await store.aclose()

    with pytest.raises(StoreUnavailableError):
        asyncio.run(add())


def test_a_mounted_gateway_routes_fixed_paths_as_starlette_does(tmp_path: Path) -> None:
    # Mounted under /v1, "/v1/route" is the gateway's "/route", which it does not have: Starlette answers 404.
    config = Config.model_validate(
        {"server": {"data_dir": str(tmp_path), "request_log": False},
         "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}}}
    )  # fmt: skip
    outer = Starlette(routes=[Mount("/v1", app=create_app(config))])

    async def call() -> tuple[httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=outer)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            missing = await client.post("/v1/route", json={"model": "demo", "messages": []})
            served = await client.post("/v1/v1/chat/completions", json={"model": "demo", "messages": MESSAGES})
            return missing, served

    missing, served = asyncio.run(call())
    assert missing.status_code == 404 and served.status_code == 200
