"""The exact cache on a real Redis, shared by two gateway processes; Redis going away costs hits, never requests."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.services import RedisServer

KEY = "sk-upstream-openai-0123456789"
_counter = iter(range(1_000_000))


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeOpenAI) -> None:
    fake.reset()


def config(fake: FakeOpenAI, redis_url: str) -> dict[str, Any]:
    gpt = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": KEY}
    return {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "cache": {"enabled": True, "backend": "redis", "redis_url": redis_url},
        "model_groups": {"gpt": {"deployments": [gpt]}},
    }


def question() -> list[Any]:
    return [{"role": "user", "content": f"What is a shared cache? #{next(_counter)}"}]


def ask(gateway: GatewayProcess, messages: list[Any], stream: bool = False) -> tuple[str, Any]:
    """(x-switchyard-cache, the answer: a completion, or the list of chunks)."""
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-a", max_retries=0)
    if stream:
        with client.chat.completions.with_streaming_response.create(
            model="gpt", messages=messages, temperature=0, stream=True
        ) as response:
            return response.headers["x-switchyard-cache"], [c.model_dump() for c in response.parse()]
    raw = client.chat.completions.with_raw_response.create(model="gpt", messages=messages, temperature=0)
    return raw.headers["x-switchyard-cache"], raw.parse().model_dump()


def cache_keys(redis: RedisServer) -> int:
    reply = redis.command("EVAL", "return #redis.call('KEYS', 'switchyard:cache:*')", "0")
    return int(reply.strip().lstrip(b":"))


def test_one_instance_stores_the_other_hits(
    fake: FakeOpenAI, redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    first = start_gateway(config(fake, redis_server.url))
    second = start_gateway(config(fake, redis_server.url))
    for stream in (False, True):
        messages = question()
        status, original = ask(first, messages, stream)
        assert status == "miss"
        deadline = time.monotonic() + 5  # the store is written after the answer: give it a moment
        while True:
            status, replay = ask(second, messages, stream)
            if status == "hit" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        assert status == "hit" and replay == original
    served = len(fake.requests)
    assert ask(first, messages, True)[0] == "hit" and len(fake.requests) == served


def test_redis_down_means_misses_and_recovery_means_hits(
    fake: FakeOpenAI, redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(config(fake, redis_server.url))
    messages = question()
    redis_server.stop()
    try:
        for stream in (False, True, False):
            status, answer = ask(gateway, messages, stream)
            assert status == "miss" and answer  # served, from the upstream
        assert len(fake.requests) == 3
    finally:
        redis_server.start()
    deadline = time.monotonic() + 10
    statuses: list[str] = []
    while "hit" not in statuses and time.monotonic() < deadline:
        statuses.append(ask(gateway, messages)[0])
        time.sleep(0.2)
    assert "hit" in statuses, statuses
    log = gateway.output()
    assert log.count("redis cache unavailable") == 1  # one outage, one line, however many requests it touched
    assert "redis://" not in log  # the URL (and any password in it) never reaches the log


def test_writes_started_before_shutdown_are_not_lost(
    fake: FakeOpenAI, redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    gateway = start_gateway(config(fake, redis_server.url))
    before = cache_keys(redis_server)
    for _ in range(20):
        ask(gateway, question())
    gateway.stop()
    assert cache_keys(redis_server) == before + 20


def test_an_admin_purge_empties_the_shared_cache_for_every_instance(
    fake: FakeOpenAI, redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    master = "sk-master-cache-purge"
    settings = {**config(fake, redis_server.url), "server": {"master_key": master}}
    first, second = start_gateway(settings), start_gateway(settings)

    def ask_as_master(gateway: GatewayProcess, messages: list[Any]) -> str:
        client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=master, max_retries=0)
        raw = client.chat.completions.with_raw_response.create(model="gpt", messages=messages, temperature=0)
        return str(raw.headers["x-switchyard-cache"])

    asked = [question() for _ in range(3)]
    for messages in asked:
        assert ask_as_master(first, messages) == "miss"
    deadline = time.monotonic() + 5
    while not all(ask_as_master(second, m) == "hit" for m in asked):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert cache_keys(redis_server) >= 3
    purge = f"{second.base_url}/admin/cache"
    assert httpx.delete(purge).status_code == 401  # admin only
    purged = httpx.delete(purge, headers={"authorization": f"Bearer {master}"})
    assert purged.status_code == 200 and purged.json()["deleted"] >= 3, purged.text
    assert cache_keys(redis_server) == 0
    assert [ask_as_master(first, m) for m in asked] == ["miss"] * 3  # gone for the other instance too
