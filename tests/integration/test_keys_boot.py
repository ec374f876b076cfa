"""Scale-out only (it stops PostgreSQL): the gateway starts while PostgreSQL is down and picks the keys up later."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.conftest import GatewayFactory
from tests.services import PostgresServer, RedisServer

MASTER = "sk-master-boot"
HI = {"model": "demo", "messages": [{"role": "user", "content": "Hi"}]}


def chat(base_url: str, key: str) -> httpx.Response:
    return httpx.post(f"{base_url}/v1/chat/completions", json=HI, headers={"authorization": f"Bearer {key}"},
                      timeout=30)


def test_gateway_starts_with_postgres_down_and_serves_keys_once_it_is_back(
    start_gateway: GatewayFactory, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    redis_server.start()
    config = {
        "server": {"master_key": MASTER, "database_url": postgres_server.fresh_database()},
        "limits": {"backend": "redis", "redis_url": redis_server.url},
        "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
    }
    first = start_gateway(config)
    made = httpx.post(f"{first.base_url}/admin/keys", json={}, headers={"authorization": f"Bearer {MASTER}"})
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    first.stop()

    postgres_server.stop()
    try:
        gateway = start_gateway(config)  # would raise if the gateway did not become ready
        assert chat(gateway.base_url, MASTER).status_code == 200  # the master key needs no database
        down = chat(gateway.base_url, key)
        assert down.status_code == 503 and down.json()["error"]["code"] == "store_unavailable"
        assert key not in down.text
        assert chat(gateway.base_url, "not-a-virtual-key").status_code == 401  # closed, not open, meanwhile
    finally:
        postgres_server.start()
    deadline = time.monotonic() + 30
    while (status := chat(gateway.base_url, key).status_code) != 200:
        assert status == 503, status
        if time.monotonic() > deadline:
            pytest.fail("the key store never came back")
        time.sleep(0.2)
    assert "key store failed at start-up" in gateway.output()
