"""The official openai SDK against a real gateway started with no config: the `make serve` experience."""

from __future__ import annotations

import asyncio
import base64
import struct

import httpx
import openai
import pytest

from tests.gateway_process import GatewayProcess

MESSAGES = [{"role": "user", "content": "Tell me about gateways."}]


def client(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="anything", max_retries=0)


def aclient(gateway: GatewayProcess) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{gateway.base_url}/v1", api_key="anything", max_retries=0)


def test_plain_chat_is_deterministic_with_usage(demo_gateway: GatewayProcess) -> None:
    first = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES)
    second = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES)
    assert first.object == "chat.completion"
    assert first.choices[0].message.role == "assistant"
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.choices[0].finish_reason == "stop"
    assert first.usage is not None and first.usage.completion_tokens == 24
    assert first.usage.total_tokens == first.usage.prompt_tokens + first.usage.completion_tokens
    other = client(demo_gateway).chat.completions.create(
        model="demo", messages=[{"role": "user", "content": "Something else entirely."}]
    )
    assert other.choices[0].message.content != first.choices[0].message.content


def test_stream_reassembles_to_the_plain_answer(demo_gateway: GatewayProcess) -> None:
    plain = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES)
    stream = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES, stream=True)
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    assert chunks[-1].choices[0].finish_reason == "stop"
    # Usage was not asked for, so no usage-only chunk reaches the client.
    assert all(c.choices for c in chunks)


def test_stream_include_usage_sends_final_usage_chunk(demo_gateway: GatewayProcess) -> None:
    stream = client(demo_gateway).chat.completions.create(
        model="demo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 24


def test_max_tokens_truncates_with_length_finish(demo_gateway: GatewayProcess) -> None:
    reply = client(demo_gateway).chat.completions.create(model="demo", messages=MESSAGES, max_tokens=3)
    assert reply.choices[0].finish_reason == "length"
    assert reply.choices[0].message.content == "This is the"


def test_tool_choice_required_returns_a_tool_call(demo_gateway: GatewayProcess) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    reply = client(demo_gateway).chat.completions.create(
        model="demo", messages=MESSAGES, tools=tools, tool_choice="required"
    )
    call = reply.choices[0].message.tool_calls[0]  # type: ignore[index]
    assert call.function.name == "lookup" and reply.choices[0].finish_reason == "tool_calls"


def test_async_client_plain_and_stream(demo_gateway: GatewayProcess) -> None:
    async def run() -> tuple[str, str]:
        async with aclient(demo_gateway) as api:
            plain = await api.chat.completions.create(model="demo", messages=MESSAGES)
            stream = await api.chat.completions.create(model="demo", messages=MESSAGES, stream=True)
            text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
            return plain.choices[0].message.content or "", text

    plain, streamed = asyncio.run(run())
    assert plain and plain == streamed


def test_embeddings_float_and_base64(demo_gateway: GatewayProcess) -> None:
    api = client(demo_gateway)
    floats = api.embeddings.create(model="demo", input=["alpha", "beta"], dimensions=16, encoding_format="float")
    assert [d.index for d in floats.data] == [0, 1]
    assert len(floats.data[0].embedding) == 16
    assert abs(sum(v * v for v in floats.data[0].embedding) - 1.0) < 1e-6
    raw = httpx.post(
        f"{demo_gateway.base_url}/v1/embeddings",
        json={"model": "demo", "input": "alpha", "dimensions": 16, "encoding_format": "base64"},
    ).json()
    decoded = struct.unpack("<16f", base64.b64decode(raw["data"][0]["embedding"]))
    assert decoded == pytest.approx(floats.data[0].embedding, abs=1e-6)


def test_models_list_and_retrieve(demo_gateway: GatewayProcess) -> None:
    api = client(demo_gateway)
    assert [m.id for m in api.models.list()] == ["demo"]
    assert api.models.retrieve("demo").id == "demo"
    with pytest.raises(openai.NotFoundError):
        api.models.retrieve("missing")


def test_request_id_is_echoed_or_created(demo_gateway: GatewayProcess) -> None:
    body = {"model": "demo", "messages": MESSAGES}
    given = httpx.post(f"{demo_gateway.base_url}/v1/chat/completions", json=body, headers={"x-request-id": "abc-1"})
    assert given.headers["x-request-id"] == "abc-1"
    made = httpx.post(f"{demo_gateway.base_url}/v1/chat/completions", json=body)
    assert len(made.headers["x-request-id"]) == 32
    assert made.headers["x-switchyard-deployment"] == "demo/0"


def test_health_endpoints(demo_gateway: GatewayProcess) -> None:
    assert httpx.get(f"{demo_gateway.base_url}/health/liveness").json() == {"status": "ok"}
    ready = httpx.get(f"{demo_gateway.base_url}/health/readiness")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_plain_tool_calls_carry_their_type(demo_gateway: GatewayProcess) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
    body = {"model": "demo", "messages": MESSAGES, "tools": tools, "tool_choice": "required"}
    raw = httpx.post(f"{demo_gateway.base_url}/v1/chat/completions", json=body).json()
    assert raw["choices"][0]["message"]["tool_calls"][0]["type"] == "function"
