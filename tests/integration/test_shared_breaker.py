"""Breaker state shared through Redis: failures seen by one gateway open the breaker in another.

Each group has a primary deployment that refuses connections (a closed port) and a working demo backup.
Instance A sends traffic until its breaker for the primary opens; instance B, which has never seen the primary
fail, must then skip it too. A third instance on ``router.state: memory`` is the control: it still tries the
primary first.
"""

from __future__ import annotations

import time

import httpx

from tests.conftest import GatewayFactory
from tests.gateway_process import free_port
from tests.services import RedisServer

MASTER = "sk-master-breaker"
AUTH = {"authorization": f"Bearer {MASTER}"}


def config(redis_url: str | None) -> dict[str, object]:
    router: dict[str, object] = {
        "strategy": "ordered",
        "num_retries": 1,
        "retry_backoff_s": 0,
        "breaker": {"consecutive_failures": 3, "cooldown_s": 120},
    }
    if redis_url is not None:
        router.update({"state": "redis", "state_redis_url": redis_url, "state_sync_s": 0.05})
    dead = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there: connection refused
    deployments = [
        {"id": "primary", "provider": "openai_compatible", "model": "m", "api_base": dead, "priority": 2},
        {"id": "backup", "provider": "demo", "model": "demo-1", "priority": 1},
    ]
    return {"server": {"master_key": MASTER}, "router": router, "model_groups": {"g": {"deployments": deployments}}}


def ask(base_url: str) -> httpx.Response:
    body = {"model": "g", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=AUTH, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["x-switchyard-deployment"] == "backup"
    return response


def attempts(response: httpx.Response) -> int:
    return int(response.headers["x-switchyard-attempts"])


def primary_breaker(base_url: str) -> str:
    """The instance's own view of the primary's breaker, without sending it a request."""
    status = httpx.get(f"{base_url}/admin/status", headers=AUTH, timeout=10).json()
    found = [d for g in status["model_groups"] for d in g["deployments"] if d["id"] == "primary"]
    return str(found[0]["breaker"])


def wait_for_open(base_url: str) -> None:
    deadline = time.monotonic() + 15
    while primary_breaker(base_url) != "open":
        assert time.monotonic() < deadline, "the open breaker never reached this instance"
        time.sleep(0.05)


def test_failures_on_one_instance_open_the_breaker_on_another(
    redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    redis_server.flush()
    a = start_gateway(config(redis_server.url))
    b = start_gateway(config(redis_server.url))
    control = start_gateway(config(None))

    # A closed breaker: the primary is tried (and fails) before the backup answers.
    assert attempts(ask(a.base_url)) == 2
    assert attempts(ask(a.base_url)) == 2
    assert attempts(ask(a.base_url)) == 2  # third consecutive failure: A opens the breaker
    assert attempts(ask(a.base_url)) == 1

    # B has sent the primary nothing, so only A's failures can have opened B's breaker.
    assert primary_breaker(b.base_url) in ("closed", "open")
    wait_for_open(b.base_url)
    response = ask(b.base_url)
    assert attempts(response) == 1 and "primary" not in response.headers.get("x-switchyard-trace", "")
    # The control instance keeps its own state and still tries the primary first.
    assert primary_breaker(control.base_url) == "closed"
    assert attempts(ask(control.base_url)) == 2


def test_redis_down_degrades_to_local_state_without_errors(
    redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    redis_server.flush()
    a = start_gateway(config(redis_server.url))
    redis_server.stop()
    try:
        for _ in range(3):
            assert attempts(ask(a.base_url)) == 2
        assert attempts(ask(a.base_url)) == 1  # its own breaker still works
    finally:
        redis_server.start()
    # Once Redis is back, A publishes the breaker it opened meanwhile, and a new instance adopts it untried.
    b = start_gateway(config(redis_server.url))
    wait_for_open(b.base_url)
    assert attempts(ask(b.base_url)) == 1
    assert "Redis unavailable" in a.output()
