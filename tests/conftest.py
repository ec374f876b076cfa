"""Shared fixtures: a demo gateway process, and a factory for gateways with any config."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_process import GatewayProcess
from tests.governance_modes import MODES, GovernanceMode
from tests.services import PostgresServer, RedisServer

GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture
def start_gateway(tmp_path: Path) -> Iterator[GatewayFactory]:
    started: list[GatewayProcess] = []

    def start(config: dict[str, Any] | None = None, env: dict[str, str] | None = None) -> GatewayProcess:
        directory = tmp_path / f"gw{len(started)}"
        directory.mkdir()
        gateway = GatewayProcess(config, directory, env)
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        gateway.stop()


@pytest.fixture(scope="module")
def demo_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    """The gateway exactly as `make serve` starts it: no config file, demo provider, no key."""
    gateway = GatewayProcess(None, tmp_path_factory.mktemp("demo"))
    yield gateway
    gateway.stop()


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A private redis-server on loopback for the whole session; tests that need a clean slate call ``flush()``."""
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A private PostgreSQL cluster; ``fresh_database()`` gives each test its own database."""
    server = PostgresServer()
    yield server
    server.remove()


@pytest.fixture(scope="module", params=MODES)
def governance_mode(request: pytest.FixtureRequest) -> GovernanceMode:
    """Each governance test runs twice: embedded (SQLite, in-process) and scale-out (PostgreSQL + Redis)."""
    if request.param == "embedded":
        return GovernanceMode("embedded")
    redis: RedisServer = request.getfixturevalue("redis_server")
    postgres: PostgresServer = request.getfixturevalue("postgres_server")
    return GovernanceMode("scaleout", redis, postgres)
