"""The exact cache through a real gateway process, driven by the official SDKs, in front of fake upstreams that
count what reaches them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI, Fault
from tests.gateway_process import GatewayProcess

OPENAI_KEY = "sk-upstream-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-0123456789"
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        },
    }
]
_counter = iter(range(1_000_000))


def question() -> list[Any]:
    """A question no other test asked: every test starts from an empty cache for its own requests."""
    return [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": f"What is a gateway? #{next(_counter)}"},
    ]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake.reset()
    fake_anthropic.reset()


@pytest.fixture(scope="module")
def gateway(
    fake: FakeOpenAI, fake_anthropic: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gpt = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": OPENAI_KEY}
    claude = {
        "provider": "anthropic",
        "model": "claude-haiku-4-5",
        "api_base": fake_anthropic.base_url,
        "api_key": ANTHROPIC_KEY,
    }
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "cache": {"enabled": True},
        "model_groups": {
            "gpt": {"deployments": [gpt]},
            "gpt-tools": {"deployments": [{**gpt, "id": "gpt-tools"}], "cache": {"cache_tool_calls": True}},
            "claude": {"deployments": [claude]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess, key: str = "client-a") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)


def chat(gateway: GatewayProcess, messages: list[Any], key: str = "client-a", **kw: Any) -> tuple[Any, Any]:
    """(the SDK's parsed reply, the raw response with headers)."""
    kw.setdefault("temperature", 0)
    raw = sdk(gateway, key).chat.completions.with_raw_response.create(
        model=kw.pop("model", "gpt"), messages=messages, **kw
    )
    return raw.parse(), raw


def stream(gateway: GatewayProcess, messages: list[Any], key: str = "client-a", **kw: Any) -> tuple[list[Any], Any]:
    kw.setdefault("temperature", 0)
    model = kw.pop("model", "gpt")
    with sdk(gateway, key).chat.completions.with_streaming_response.create(
        model=model, messages=messages, stream=True, **kw
    ) as response:
        chunks = [chunk.model_dump() for chunk in response.parse()]
    return chunks, response


def test_a_repeated_plain_request_is_answered_from_the_cache(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = question()
    first, first_raw = chat(gateway, messages)
    second, second_raw = chat(gateway, messages, user="someone", metadata={"tag": "x"}, store=False)
    assert first_raw.headers["x-switchyard-cache"] == "miss"
    assert second_raw.headers["x-switchyard-cache"] == "hit"
    assert len(fake.requests) == 1
    assert second.model_dump() == first.model_dump()  # the very same answer, its id included
    assert second.usage and second.usage.total_tokens > 0
    assert float(second_raw.headers["x-switchyard-cost-usd"]) == 0.0
    assert float(second_raw.headers["x-switchyard-cache-saved-usd"]) > 0
    assert "x-switchyard-deployment" not in second_raw.headers


def test_a_streamed_hit_replays_the_original_stream(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = question()
    usage = {"include_usage": True}
    original, first = stream(gateway, messages, stream_options=usage)
    replay, second = stream(gateway, messages, stream_options=usage)
    assert first.headers["x-switchyard-cache"] == "miss" and second.headers["x-switchyard-cache"] == "hit"
    assert len(fake.requests) == 1
    assert replay == original
    assert original[-1]["usage"]["total_tokens"] > 0
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in replay)
    # Without include_usage the same entry replays without its usage-only chunk, as the live relay would.
    bare, third = stream(gateway, messages)
    assert third.headers["x-switchyard-cache"] == "hit" and len(fake.requests) == 1
    assert bare == [c for c in original if c["choices"]]
    # A plain request is its own entry.
    _, plain = chat(gateway, messages)
    assert plain.headers["x-switchyard-cache"] == "miss"


def test_tool_calls_are_not_cached_unless_the_group_allows(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = [{"role": "user", "content": f"call get_weather city=Paris #{next(_counter)}"}]
    reply, _ = chat(gateway, messages, tools=TOOLS)
    assert reply.choices[0].message.tool_calls
    _, again = chat(gateway, messages, tools=TOOLS)
    assert again.headers["x-switchyard-cache"] == "miss" and len(fake.requests) == 2
    # A group that allows it: the streamed tool call replays exactly.
    original, _ = stream(gateway, messages, model="gpt-tools", tools=TOOLS)
    replay, response = stream(gateway, messages, model="gpt-tools", tools=TOOLS)
    assert response.headers["x-switchyard-cache"] == "hit" and len(fake.requests) == 3
    assert replay == original
    calls = [
        c["choices"][0]["delta"]["tool_calls"]
        for c in replay
        if c["choices"] and c["choices"][0]["delta"]["tool_calls"]
    ]
    assert calls and calls[0][0]["function"]["name"] == "get_weather"
    assert replay[-1]["choices"][0]["finish_reason"] == "tool_calls"


def test_errors_and_broken_streams_are_never_cached(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = question()
    fake.push_fault(Fault.server_error())
    with pytest.raises(openai.InternalServerError):
        chat(gateway, messages)
    _, after_error = chat(gateway, messages)
    assert after_error.headers["x-switchyard-cache"] == "miss" and len(fake.requests) == 2

    fake.push_fault(Fault("cut", after_chunks=3))
    with pytest.raises(openai.APIError):
        stream(gateway, messages)
    chunks, after_cut = stream(gateway, messages)
    assert after_cut.headers["x-switchyard-cache"] == "miss" and len(fake.requests) == 4
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    _, hit = stream(gateway, messages)
    assert hit.headers["x-switchyard-cache"] == "hit" and len(fake.requests) == 4


def test_tenants_never_share_an_entry(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = question()
    _, first = chat(gateway, messages, key="client-a")
    _, other = chat(gateway, messages, key="client-b")
    _, again = chat(gateway, messages, key="client-a")
    assert (first.headers["x-switchyard-cache"], other.headers["x-switchyard-cache"]) == ("miss", "miss")
    assert again.headers["x-switchyard-cache"] == "hit" and len(fake.requests) == 2


def test_cache_control_and_switchyard_headers(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    messages = question()

    def status(headers: dict[str, str], **kw: Any) -> str:
        _, raw = chat(gateway, messages, extra_headers=headers, **kw)
        return str(raw.headers["x-switchyard-cache"])

    assert status({"Cache-Control": "no-store"}) == "bypass"
    assert status({}) == "miss"  # no-store stored nothing
    assert status({"Cache-Control": "no-cache"}) == "bypass"  # skips the lookup ...
    assert len(fake.requests) == 3
    assert status({}) == "hit"  # ... and stores the fresh answer
    assert status({"x-switchyard-cache-namespace": "experiment-1"}) == "miss"
    assert status({"x-switchyard-cache-namespace": "experiment-1"}) == "hit"
    assert status({"x-switchyard-cache-namespace": "experiment-1"}, key="client-b") == "miss"
    assert status({}, temperature=0.8) == "bypass"  # not deterministic: never stored
    assert status({}, temperature=0.8) == "bypass"

    short = question()
    _, raw = chat(gateway, short, extra_headers={"x-switchyard-cache-ttl": "1"})
    assert raw.headers["x-switchyard-cache"] == "miss"
    time.sleep(1.1)
    _, raw = chat(gateway, short)
    assert raw.headers["x-switchyard-cache"] == "miss"


def test_a_bad_cache_header_is_a_400_in_the_openai_envelope(gateway: GatewayProcess) -> None:
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions",
        json={"model": "gpt", "messages": question(), "temperature": 0},
        headers={"x-switchyard-cache-ttl": "forever"},
    )
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "x-switchyard-cache-ttl" and error["type"] == "invalid_request_error"


def test_anthropic_inbound_is_cached_too(
    fake: FakeOpenAI, fake_anthropic: FakeAnthropic, gateway: GatewayProcess
) -> None:
    client = anthropic.Anthropic(base_url=gateway.base_url, api_key="client-a", max_retries=0)
    text = f"Tell me about gateways. #{next(_counter)}"
    for model, upstream in (("gpt", fake), ("claude", fake_anthropic)):  # translated, and native pass-through
        messages = [{"role": "user", "content": text}]
        # This SDK no longer takes temperature as an argument; the API still does.
        kw: Any = {"model": model, "max_tokens": 64, "messages": messages, "extra_body": {"temperature": 0}}
        first = client.messages.with_raw_response.create(**kw)
        second = client.messages.with_raw_response.create(**kw)
        assert first.headers["x-switchyard-cache"] == "miss" and second.headers["x-switchyard-cache"] == "hit"
        assert second.parse().model_dump() == first.parse().model_dump()
        with client.messages.with_streaming_response.create(**kw, stream=True) as live:
            original = [event.model_dump() for event in live.parse()]
        with client.messages.with_streaming_response.create(**kw, stream=True) as cached:
            replay = [event.model_dump() for event in cached.parse()]
        assert cached.headers["x-switchyard-cache"] == "hit"
        assert replay == original and original[-1]["type"] == "message_stop"
        assert len(upstream.requests) == 2, model


@pytest.mark.parametrize("scope", ["key", "team"])
def test_virtual_keys_share_entries_only_within_their_scope(start_gateway: GatewayFactory, scope: str) -> None:
    master = "sk-master-0123456789"
    gateway = start_gateway(
        {
            "server": {"master_key": master},
            "cache": {"enabled": True, "scope": scope},
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]}},
        }
    )
    admin = httpx.Client(base_url=gateway.base_url, headers={"authorization": f"Bearer {master}"})
    team = admin.post("/admin/teams", json={"name": "t1"}).json()["id"]
    created = [admin.post("/admin/keys", json={"alias": a, "team_id": team}).json() for a in ("a1", "a2")]
    created.append(admin.post("/admin/keys", json={"alias": "b"}).json())
    (a1, a1_id), (a2, _), (b, _) = [(k["key"], k["id"]) for k in created]
    messages = question()

    def status(key: str) -> str:
        _, raw = chat(gateway, messages, key=key, model="demo")
        return str(raw.headers["x-switchyard-cache"])

    assert status(a1) == "miss"
    assert status(a1) == "hit"
    assert status(a2) == ("hit" if scope == "team" else "miss")
    assert status(b) == "miss"
    # A rotated key keeps its id, and with it its entries; the old secret no longer opens them.
    rotated = admin.post(f"/admin/keys/{a1_id}/rotate").json()["key"]
    assert status(rotated) == "hit"
    with pytest.raises(openai.AuthenticationError):
        status(a1)


def test_an_admin_purge_empties_the_in_process_cache(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    master = "sk-master-cache-purge"
    gpt = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": OPENAI_KEY}
    gateway = start_gateway(
        {"server": {"master_key": master}, "cache": {"enabled": True}, "model_groups": {"gpt": {"deployments": [gpt]}}}
    )
    messages = question()
    assert chat(gateway, messages, key=master)[1].headers["x-switchyard-cache"] == "miss"
    deadline = time.monotonic() + 5
    while chat(gateway, messages, key=master)[1].headers["x-switchyard-cache"] != "hit":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    user = httpx.post(f"{gateway.base_url}/admin/keys", headers={"authorization": f"Bearer {master}"}, json={})
    viewer = httpx.post(
        f"{gateway.base_url}/admin/keys", headers={"authorization": f"Bearer {master}"}, json={"role": "viewer"}
    )
    for key in (user.json()["key"], viewer.json()["key"]):
        refused = httpx.delete(f"{gateway.base_url}/admin/cache", headers={"authorization": f"Bearer {key}"})
        assert refused.status_code == 403 and refused.json()["error"]["type"], refused.text
    purged = httpx.delete(f"{gateway.base_url}/admin/cache", headers={"authorization": f"Bearer {master}"})
    assert purged.json() == {"enabled": True, "deleted": 1}
    served = len(fake.requests)
    assert chat(gateway, messages, key=master)[1].headers["x-switchyard-cache"] == "miss"
    assert len(fake.requests) == served + 1
