"""Feedback and router read-back in scale-out: several gateway instances share one PostgreSQL database.

Feedback posted to any instance lands in the one ``feedback`` table, and ``switchyard eval shadow`` and
``switchyard train router --from-logs`` given the gateway's config read every instance's requests and feedback
back from PostgreSQL (no SQLite file is involved). PostgreSQL down gives a 503 envelope, and the CLI never
prints the DSN.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from switchyard.errors import StoreUnavailableError
from switchyard.routing.learned import LearnedRouter
from switchyard.storage.feedback import Feedback
from switchyard.storage.feedback_postgres import PostgresFeedbackStore
from tests.conftest import GatewayFactory
from tests.e2e.test_auto_routing import EASY, HARD, config, fakes  # noqa: F401 - fakes is a fixture
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import free_port
from tests.services import PostgresServer

SWITCHYARD = Path(sys.executable).parent / "switchyard"
PER_INSTANCE = 12
PASSWORD = "pw-never-printed-7731"


def dead_dsn() -> str:
    """A DSN with a password, pointing at a loopback port nothing listens on."""
    return f"postgresql://switchyard:{PASSWORD}@127.0.0.1:{free_port()}/switchyard"


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("SWITCHYARD_CONFIG", None)
    env.pop("SWITCHYARD_DATA_DIR", None)
    return subprocess.run([str(SWITCHYARD), *args], capture_output=True, text=True, timeout=120, cwd=cwd, env=env)


def test_postgres_feedback_store_is_shared_by_instances(postgres_server: PostgresServer) -> None:
    dsn = postgres_server.fresh_database()

    async def run() -> tuple[list[Feedback], list[Feedback]]:
        # Two stores on one database stand for two gateway instances; both migrate, neither fails.
        first, second = PostgresFeedbackStore(dsn), PostgresFeedbackStore(dsn)
        try:
            await first.add(Feedback("r1", 0.25, 1.0, "meh", "key-1"))
            await second.add(Feedback("r2", 1.0, 2.0))
            await second.add(Feedback("r1", 0.75, 3.0))
            return await first.entries(), await second.entries()
        finally:
            await first.aclose()
            await second.aclose()

    seen_by_first, seen_by_second = asyncio.run(run())
    expected = [Feedback("r1", 0.25, 1.0, "meh", "key-1"), Feedback("r2", 1.0, 2.0), Feedback("r1", 0.75, 3.0)]
    assert seen_by_first == seen_by_second == expected
    database = dsn.rsplit("/", 1)[1]
    assert postgres_server.psql(database, "SELECT version FROM feedback_migrations") == "1"


def test_postgres_feedback_store_down_raises_store_unavailable() -> None:
    store = PostgresFeedbackStore(dead_dsn())

    async def attempt(call: Any) -> StoreUnavailableError:
        with pytest.raises(StoreUnavailableError) as caught:
            await call
        return caught.value

    async def run() -> list[StoreUnavailableError]:
        errors = [await attempt(store.add(Feedback("r1", 1.0, 1.0))), await attempt(store.entries())]
        await store.aclose()
        return errors

    for error in asyncio.run(run()):
        assert error.status == 503 and error.code == "store_unavailable"
        assert PASSWORD not in str(error) and "127.0.0.1" not in str(error)


def test_feedback_endpoint_answers_503_while_postgres_is_down(
    postgres_server: PostgresServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway({"server": {"database_url": postgres_server.fresh_database()}})
    given = {"request_id": "req-1", "score": 1.0}
    assert httpx.post(f"{gateway.base_url}/v1/feedback", json=given).status_code == 201
    postgres_server.stop()
    try:
        down = httpx.post(f"{gateway.base_url}/v1/feedback", json=given, timeout=30)
        assert down.status_code == 503, down.text
        error = down.json()["error"]
        assert error["code"] == "store_unavailable" and "feedback store" in error["message"], error
        assert "postgresql://" not in down.text
    finally:
        postgres_server.start()
    # Back up: the pool reconnects (a connection broken by the restart may fail one more call).
    statuses = [httpx.post(f"{gateway.base_url}/v1/feedback", json=given, timeout=30).status_code for _ in range(3)]
    assert 201 in statuses and set(statuses) <= {201, 503}, statuses


def test_two_instances_feedback_and_read_back_from_postgres(
    postgres_server: PostgresServer,
    start_gateway: GatewayFactory,
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
    tmp_path: Path,
) -> None:
    dsn = postgres_server.fresh_database()
    settings = config(fakes, bodies=True, auto={"kind": "learned", "strong_share": 0.3, "shadow": True})
    settings["server"]["database_url"] = dsn
    gateways = [start_gateway(settings), start_gateway(settings)]
    would: dict[str, int] = {"cheap": 0, "strong": 0}
    scores: dict[str, float] = {}
    for index, gateway in enumerate(gateways):
        sdk = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="anything", max_retries=0)
        for i in range(PER_INSTANCE):
            request_id = f"gw{index}-{i}"
            prompt = f"{HARD} case {i}" if i % 3 == 0 else f"{EASY} number {i}"
            reply = sdk.chat.completions.with_raw_response.create(
                model="auto", messages=[{"role": "user", "content": prompt}], extra_headers={"x-request-id": request_id}
            )
            route = reply.headers["x-switchyard-route"]
            assert "chosen=strong" in route and reply.parse().model == "strong-model", route
            choice = re.search(r"shadow=(\w+)", route)
            assert choice is not None
            would[choice[1]] += 1
            scores[request_id] = 1.0 if i % 2 else 0.0
    # Each request's feedback goes to the other instance: it only meets its request in the shared database.
    for request_id, score in scores.items():
        other = gateways[1 - int(request_id[2])]
        given = httpx.post(f"{other.base_url}/v1/feedback", json={"request_id": request_id, "score": score})
        assert given.status_code == 201, given.text
    for gateway in gateways:
        gateway.stop()  # flushes the request log
    database = dsn.rsplit("/", 1)[1]
    assert postgres_server.psql(database, "SELECT count(*) FROM feedback") == str(len(scores))
    for gateway in gateways:
        assert not (gateway.data_dir / "feedback.db").exists()

    total = 2 * PER_INSTANCE
    config_path = gateways[0].config_path
    assert config_path is not None
    # cwd holds no data_dir: had the commands looked for SQLite files, they would find none.
    shadow = cli("eval", "shadow", "--group", "auto", "--config", str(config_path), cwd=tmp_path)
    assert shadow.returncode == 0, shadow.stderr
    assert f"{total} answered requests, served by strong {total}" in shadow.stdout, shadow.stdout
    assert f"cheap {would['cheap']} ({would['cheap'] / total:.1%})" in shadow.stdout, shadow.stdout
    counted = re.findall(r"Feedback on requests the router would send to \w+: (\d+)", shadow.stdout)
    assert sum(int(n) for n in counted) == total, shadow.stdout

    out = tmp_path / "retrained.npz"
    trained = cli("train", "router", "--from-logs", "--config", str(config_path), "--out", str(out), cwd=tmp_path)
    assert trained.returncode == 0, trained.stderr + trained.stdout
    assert f"{total} requests with feedback" in trained.stdout, trained.stdout
    router = LearnedRouter.load(out)
    assert router.settings["trained_on"] == total and router.settings["calibrated_on"] == total
    assert router.settings["per_member"] == {"strong": total, "cheap": 0}


@pytest.mark.parametrize("command", [["eval", "shadow"], ["train", "router", "--from-logs"]])
def test_cli_with_postgres_down_fails_cleanly_without_the_dsn(
    command: list[str],
    fakes: tuple[FakeOpenAI, FakeOpenAI],  # noqa: F811
    tmp_path: Path,
) -> None:
    settings = config(fakes, auto={"kind": "learned", "shadow": True})
    settings["server"]["database_url"] = dead_dsn()
    path = tmp_path / "switchyard.yaml"
    path.write_text(yaml.safe_dump(settings))
    ran = cli(*command, "--group", "auto", "--config", str(path), cwd=tmp_path)
    assert ran.returncode == 2, ran.stdout + ran.stderr
    assert "PostgreSQL (server.database_url) did not answer" in ran.stderr
    assert PASSWORD not in ran.stdout + ran.stderr and "Traceback" not in ran.stderr
