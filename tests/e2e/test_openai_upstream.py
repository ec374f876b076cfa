"""The gateway in front of a fake OpenAI upstream that speaks the documented wire format."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.fakes.openai_upstream import FakeOpenAI, Fault
from tests.gateway_process import GatewayProcess, free_port

KEY = "sk-upstream-secret-0123456789"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeOpenAI) -> None:
    fake.reset()


def deployment(fake: FakeOpenAI, **extra: Any) -> dict[str, Any]:
    return {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake.base_url, "api_key": KEY, **extra}


def config(fake: FakeOpenAI, retries: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "router": {"num_retries": retries, "retry_backoff_s": 0.01},
        "model_groups": {
            "gpt": {"deployments": [deployment(fake, **extra)]},
            "embed": {"deployments": [deployment(fake, model="text-embedding-3-small")]},
        },
    }


@pytest.fixture(scope="module")
def gateway(fake: FakeOpenAI, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = GatewayProcess(config(fake), tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def test_plain_chat_passes_through_with_the_upstream_model_and_key(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES, temperature=0.2, seed=7)  # type: ignore[arg-type]
    assert reply.choices[0].message.content and reply.usage and reply.usage.total_tokens > 0
    sent = fake.last_request
    assert sent is not None and sent.json["model"] == "gpt-4o-mini"
    # Everything else the client sent arrives untouched; the client's own key never leaves the gateway.
    assert sent.json["temperature"] == 0.2 and sent.json["seed"] == 7 and sent.json["messages"] == MESSAGES
    assert sent.headers["authorization"] == f"Bearer {KEY}"


def test_stream_without_include_usage_hides_the_usage_chunk(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    plain = sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]
    chunks = list(sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == plain.choices[0].message.content
    assert all(c.choices for c in chunks)
    sent = fake.last_request
    assert sent is not None and sent.json["stream_options"] == {"include_usage": True}


def test_stream_with_include_usage(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    chunks = list(
        sdk(gateway).chat.completions.create(
            model="gpt",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
        )
    )
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_streamed_parallel_tool_calls_reassemble(gateway: GatewayProcess) -> None:
    tools = [
        {
            "type": "function",
            "function": {"name": n, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
        }
        for n in ("search", "lookup")
    ]
    stream = sdk(gateway).chat.completions.create(
        model="gpt",
        stream=True,
        tools=tools,
        tool_choice="required",  # type: ignore[arg-type]
        messages=[{"role": "user", "content": "call search and lookup"}],
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"name": "", "arguments": ""})
                if delta.function and delta.function.name:
                    entry["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    entry["arguments"] += delta.function.arguments
    assert finish == "tool_calls" and calls
    for entry in calls.values():
        assert entry["name"] in ("search", "lookup")
        json.loads(entry["arguments"])


def test_async_sdk_and_embeddings(gateway: GatewayProcess) -> None:
    async def run() -> tuple[int, int]:
        async with openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key="k", max_retries=0) as api:
            results = await asyncio.gather(
                *[api.chat.completions.create(model="gpt", messages=MESSAGES) for _ in range(20)]  # type: ignore[arg-type]
            )
            vectors = await api.embeddings.create(model="embed", input=["one", "two", "three"])
            return len(results), len(vectors.data)

    assert asyncio.run(run()) == (20, 3)


@pytest.mark.parametrize(
    ("fault", "status", "code", "sdk_error"),
    [
        (Fault.rate_limit(retry_after=3), 429, "upstream_rate_limited", openai.RateLimitError),
        (Fault.server_error(), 502, "upstream_error", openai.InternalServerError),
        (Fault.overloaded(), 503, "upstream_unavailable", openai.InternalServerError),
        (Fault.context_length(), 400, "context_length_exceeded", openai.BadRequestError),
        (Fault.content_policy(), 400, "content_policy_violation", openai.BadRequestError),
        (Fault("wrong_content_type"), 502, "upstream_error", openai.InternalServerError),
        (Fault("drop_connection"), 503, "upstream_unavailable", openai.InternalServerError),
    ],
)
def test_upstream_failures_map_to_the_right_status(
    fake: FakeOpenAI, start_gateway: GatewayFactory, fault: Fault, status: int, code: str, sdk_error: type[Exception]
) -> None:
    # A fresh gateway: a 429 makes the deployment cool down, which would colour the next case.
    gateway = start_gateway({**config(fake), "router": {"num_retries": 0, "breaker": {"enabled": False}}})
    fake.push_fault(fault)
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and KEY not in response.text
    if status == 429:
        assert response.headers["retry-after"] == "3"
    else:
        fake.push_fault(fault)
    # For the 429 the deployment is cooling down: the gateway answers 429 itself, without calling upstream.
    calls = len(fake.requests)
    with pytest.raises(sdk_error):
        sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(fake.requests) == calls + (0 if status == 429 else 1)


def test_wrong_upstream_key_never_leaks(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(config(fake, api_key="sk-wrong-key-abcdef123456"))
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_error"
    assert "sk-wrong" not in response.text and "abcdef123456" not in response.text
    assert "abcdef123456" not in gateway.output()


def test_unreachable_and_slow_upstreams(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    dead = start_gateway(config(fake, api_base=f"http://127.0.0.1:{free_port()}/v1"))
    refused = httpx.post(f"{dead.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    assert refused.status_code == 503 and refused.json()["error"]["code"] == "upstream_unavailable"
    slow = start_gateway(config(fake, timeout_s=0.3))
    fake.push_fault(Fault("slow_first_byte", delay=2.0))
    timed_out = httpx.post(f"{slow.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    assert timed_out.status_code == 504 and timed_out.json()["error"]["code"] == "upstream_timeout"


def test_retry_then_fallback_to_a_second_deployment(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    with FakeOpenAI(api_key=KEY) as backup:
        cfg = {
            "router": {"num_retries": 2, "retry_backoff_s": 0.01, "strategy": "ordered"},
            "model_groups": {
                "gpt": {
                    "deployments": [
                        deployment(fake, id="primary", priority=1),
                        deployment(backup, id="backup"),
                    ]
                }
            },
        }
        gateway = start_gateway(cfg)
        fake.push_fault(Fault.server_error())
        response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
        assert response.status_code == 200
        assert response.headers["x-switchyard-deployment"] == "backup"
        assert response.headers["x-switchyard-trace"] == "primary:upstream_error,backup:ok"
        assert response.headers["x-switchyard-attempts"] == "2"
        assert len(backup.requests) == 1


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk", "stream_error"])
def test_broken_stream_ends_with_an_error_event_not_done(fake: FakeOpenAI, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, after_chunks=2))  # type: ignore[arg-type]
    body = {"model": "gpt", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events
    assert "error" in json.loads(events[-1])
    assert len(events) >= 2  # the chunks before the break did reach the client
    fake.push_fault(Fault(kind, after_chunks=2))  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        list(sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_client_disconnect_cancels_the_upstream_stream(fake: FakeOpenAI, gateway: GatewayProcess) -> None:
    fake.set_chunk_delay(0.2)
    body = {"model": "gpt", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                break  # got the first chunk; now hang up
    assert fake.wait_for_disconnects(1, timeout=5)
    recorded = fake.last_request
    assert recorded is not None and recorded.disconnected and not recorded.completed


def test_several_workers_serve(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    gateway = start_gateway({**config(fake), "server": {"workers": 2}})
    statuses = {
        httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES}).status_code
        for _ in range(10)
    }
    assert statuses == {200}


def test_cost_header_prices_the_reported_usage(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    prices = {"input_per_mtok": 2.0, "output_per_mtok": 8.0, "per_request": 0.0005}
    gateway = start_gateway(config(fake, prices=prices))
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
    usage = response.json()["usage"]
    expected = usage["prompt_tokens"] * 2e-6 + usage["completion_tokens"] * 8e-6 + 0.0005
    assert float(response.headers["x-switchyard-cost-usd"]) == pytest.approx(expected, abs=1e-8)
    # Without a price for a deployment, no cost is claimed.
    unpriced = httpx.post(f"{gateway.base_url}/v1/embeddings", json={"model": "embed", "input": "x"})
    assert unpriced.status_code == 200 and "x-switchyard-cost-usd" in unpriced.headers  # table has this model


def test_active_health_check_reopens_a_deployment(fake: FakeOpenAI, start_gateway: GatewayFactory) -> None:
    import time

    cfg = config(fake, retries=0)
    cfg["router"] |= {
        "breaker": {"consecutive_failures": 1, "cooldown_s": 300},
        "health_checks": {"enabled": True, "interval_s": 0.2},
    }
    gateway = start_gateway(cfg)
    fake.push_fault(Fault.server_error(path="/v1/chat/completions"))
    url = f"{gateway.base_url}/v1/chat/completions"
    assert httpx.post(url, json={"model": "gpt", "messages": MESSAGES}).status_code == 502
    # The breaker is open for 300 s, unless a probe already closed it (a loaded machine may be that slow).
    second = httpx.post(url, json={"model": "gpt", "messages": MESSAGES}).status_code
    assert second == 503 or (second == 200 and any(r.path == "/v1/models" for r in fake.requests)), second
    # The probe of /v1/models succeeds, so the breaker closes long before its 300 s cooldown.
    deadline, status = time.monotonic() + 10, 503
    while time.monotonic() < deadline and status == 503:
        time.sleep(0.1)
        status = httpx.post(url, json={"model": "gpt", "messages": MESSAGES}).status_code
    assert status == 200 and any(r.path == "/v1/models" for r in fake.requests)
