"""Several gateway processes sharing one Redis: limits and budgets hold across instances, and a Redis outage
degrades to the configured mode (open: admit; closed: 503) without a single 500."""

from __future__ import annotations

import itertools
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway_process import GatewayProcess
from tests.services import RedisServer

MASTER = "sk-master-redis-limits"
HEADERS = {"authorization": f"Bearer {MASTER}"}
BODY = {"model": "demo", "messages": [{"role": "user", "content": "hello"}]}


def config(
    redis: RedisServer, limits: dict[str, Any] | None = None, failure: str = "open", **deployment: Any
) -> dict[str, Any]:
    group: dict[str, Any] = {"deployments": [{"provider": "demo", "model": "demo-1", **deployment}]}
    if limits:
        group["limits"] = limits
    return {
        "server": {"master_key": MASTER},
        "limits": {"backend": "redis", "redis_url": redis.url, "redis_failure": failure},
        "model_groups": {"demo": group},
    }


@pytest.fixture
def instances(redis_server: RedisServer, tmp_path: Path) -> Any:
    """Start N gateways on one Redis and one shared data directory (so a key made on one works on all)."""
    redis_server.start()
    redis_server.flush()
    started: list[GatewayProcess] = []

    def start(cfg: dict[str, Any], count: int) -> list[GatewayProcess]:
        shared = tmp_path / "shared"
        shared.mkdir(exist_ok=True)
        for _ in range(count):
            directory = tmp_path / f"gw{len(started)}"
            directory.mkdir()
            started.append(GatewayProcess(cfg, directory, {"SWITCHYARD_DATA_DIR": str(shared)}))
        return started[-count:]

    yield start
    for gateway in started:
        gateway.stop()
    redis_server.start()


def spread(
    gateways: list[GatewayProcess], count: int, workers: int, headers: dict[str, str] = HEADERS, **body: Any
) -> list[httpx.Response]:
    """``count`` chat requests, round-robin over the instances, ``workers`` at a time."""
    urls = itertools.cycle([f"{g.base_url}/v1/chat/completions" for g in gateways])
    targets = [next(urls) for _ in range(count)]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda url: httpx.post(url, json={**BODY, **body}, headers=headers, timeout=30), targets))


def test_rpm_n_admits_exactly_n_of_3n_across_instances(redis_server: RedisServer, instances: Any) -> None:
    gateways = instances(config(redis_server, {"rpm": 12}), 3)
    responses = spread(gateways, 36, 12)
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] * 12 + [429] * 24
    admitted_by = {g.base_url: 0 for g in gateways}
    for response in responses:
        if response.status_code == 200:
            admitted_by[str(response.request.url).split("/v1")[0]] += 1
    assert sum(admitted_by.values()) == 12 and sum(1 for n in admitted_by.values() if n) >= 2


def test_tpm_holds_within_one_requests_tokens_across_instances(redis_server: RedisServer, instances: Any) -> None:
    tpm = 600
    gateways = instances(config(redis_server, {"tpm": tpm}), 2)
    responses = spread(gateways, 60, 4, max_tokens=30)
    admitted = [r.json()["usage"]["total_tokens"] for r in responses if r.status_code == 200]
    print(f"tpm {tpm} over 2 instances: admitted {len(admitted)} of 60 using {sum(admitted)} tokens")
    assert {r.status_code for r in responses} == {200, 429}
    # The bucket, plus the in-flight requests' overshoot over their estimates, plus refill while the loop ran.
    assert sum(admitted) <= tpm + 4 * max(admitted) + tpm
    assert sum(admitted) >= tpm // 2


def test_budget_overshoot_is_bounded_by_in_flight_requests(redis_server: RedisServer, instances: Any) -> None:
    gateways = instances(config(redis_server, prices={"per_request": 0.004}), 3)
    made = httpx.post(
        f"{gateways[0].base_url}/admin/keys", json={"budget_usd": 0.02, "budget_period": "daily"}, headers=HEADERS
    )
    assert made.status_code == 201, made.text
    key = made.json()["key"]
    workers = 4
    responses = spread(gateways, 40, workers, {"authorization": f"Bearer {key}"})
    admitted = sum(r.status_code == 200 for r in responses)
    refused = [r for r in responses if r.status_code != 200]
    assert all(r.status_code == 429 and r.json()["error"]["type"] == "insufficient_quota" for r in refused)
    print(f"budget $0.02 at $0.004/request, {workers} in flight over 3 instances: admitted {admitted} of 40")
    assert 5 <= admitted <= 5 + workers  # 0.02 / 0.004 = 5, plus at most the requests in flight
    for gateway in gateways:  # every instance now refuses
        late = httpx.post(
            f"{gateway.base_url}/v1/chat/completions", json=BODY, headers={"authorization": f"Bearer {key}"}
        )
        assert late.status_code == 429
    spent = [
        k
        for k in redis_server.command("KEYS", "sy:spend:key:*").split(b"\r\n")
        if k.startswith(b"sy:") and b":alert:" not in k
    ]
    assert len(spent) == 1
    value = redis_server.command("GET", spent[0].decode()).split(b"\r\n")[1]
    assert float(value) == pytest.approx(admitted * 0.004)


def test_redis_outage_fails_open_without_500s(redis_server: RedisServer, instances: Any) -> None:
    gateways = instances(config(redis_server, {"rpm": 5}, failure="open"), 2)
    assert {r.status_code for r in spread(gateways, 10, 2)} == {200, 429}
    redis_server.stop()
    during = spread(gateways, 20, 4)
    assert [r.status_code for r in during] == [200] * 20  # admitted, unlimited, while Redis is away
    redis_server.start()
    redis_server.flush()
    after = spread(gateways, 15, 3)
    assert sorted(r.status_code for r in after) == [200] * 5 + [429] * 10  # enforced again, scripts reloaded
    assert any("admitting requests without rate limits" in g.output() for g in gateways)


def test_redis_outage_fails_closed_with_503(redis_server: RedisServer, instances: Any) -> None:
    gateways = instances(config(redis_server, {"rpm": 100}, failure="closed"), 2)
    assert {r.status_code for r in spread(gateways, 4, 2)} == {200}
    redis_server.stop()
    during = spread(gateways, 10, 4)
    assert {r.status_code for r in during} == {503}
    error = during[0].json()["error"]
    assert error["code"] == "limits_unavailable" and "unreachable" in error["message"]
    assert during[0].headers["retry-after"] == "1"
    redis_server.restart()
    assert {r.status_code for r in spread(gateways, 4, 2)} == {200}
