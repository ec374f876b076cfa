"""The gateway in front of a fake Cohere v2 API, driven by the official OpenAI SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.cohere_upstream import FakeCohere, Fault, cohere_error
from tests.fakes.image_server import serving_png
from tests.gateway_process import GatewayProcess

KEY = "cohere-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": n, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
    }
    for n in ("search", "lookup")
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PIXEL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeCohere]:
    with FakeCohere(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeCohere) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    with serving_png(PNG) as url:
        yield url


def deployment(fake: FakeCohere, **extra: Any) -> dict[str, Any]:
    return {"provider": "cohere", "model": "command-a-03-2025", "api_base": fake.base_url, "api_key": KEY, **extra}


@pytest.fixture(scope="module")
def gateway(fake: FakeCohere, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "command": {"deployments": [deployment(fake)]},
            "limited": {"deployments": [deployment(fake)]},
            "gone": {"deployments": [deployment(fake, model="command-r-retired")]},
            "wrong": {"deployments": [deployment(fake, api_key="cohere-wrong-key-zyxwvu987654")]},
            "embed": {"deployments": [deployment(fake, model="embed-v4.0")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def test_plain_chat_translates_request_and_answer(fake: FakeCohere, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="command",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],  # type: ignore[list-item]
        temperature=0.2,
        top_p=1.0,
        stop="END",
        seed=3,
        max_tokens=40,
        frequency_penalty=-0.5,
    )
    assert reply.choices[0].message.content == "Echo: What is a gateway?" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "command-a-03-2025"
    assert reply.usage is not None and reply.usage.prompt_tokens == 6 and reply.usage.completion_tokens == 5
    sent = fake.last_request
    assert sent is not None and sent.path == "/v2/chat" and sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "command-a-03-2025",
        "messages": [{"role": "system", "content": "Be brief."}, *MESSAGES],
        "stream": False,
        "temperature": 0.2,
        "p": 0.99,  # clamped into Cohere's range
        "seed": 3,
        "frequency_penalty": 0.0,
        "stop_sequences": ["END"],
        "max_tokens": 40,
    }


def test_stream_maps_events_to_chunks_and_usage(fake: FakeCohere, gateway: GatewayProcess) -> None:
    chunks = list(
        sdk(gateway).chat.completions.create(
            model="command",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: What is a gateway?"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 5
    assert fake.last_request is not None and fake.last_request.json["stream"] is True


def test_tools_plain_streamed_and_results(fake: FakeCohere, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "call search and lookup q=gateways"}]
    reply = sdk(gateway).chat.completions.create(model="command", messages=ask, tools=TOOLS, tool_choice="required")  # type: ignore[arg-type]
    message = reply.choices[0].message
    calls = message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["search", "lookup"]  # type: ignore[union-attr]
    assert message.content == "I will use the tools."  # the tool plan
    assert fake.last_request is not None and fake.last_request.json["tool_choice"] == "REQUIRED"
    streamed: dict[int, dict[str, str]] = {}
    plan = ""
    for chunk in sdk(gateway).chat.completions.create(model="command", messages=ask, tools=TOOLS, stream=True):  # type: ignore[arg-type]
        plan += chunk.choices[0].delta.content or "" if chunk.choices else ""
        for delta in (chunk.choices[0].delta.tool_calls if chunk.choices else None) or []:
            entry = streamed.setdefault(delta.index, {"name": "", "arguments": ""})
            entry["name"] += (delta.function and delta.function.name) or ""
            entry["arguments"] += (delta.function and delta.function.arguments) or ""
    assert plan == "I will use the tools." and [streamed[i]["name"] for i in sorted(streamed)] == ["search", "lookup"]
    assert all(json.loads(e["arguments"]) == {"q": "gateways"} for e in streamed.values())
    history = [
        *ask,
        message.model_dump(exclude_none=True),
        *[{"role": "tool", "tool_call_id": c.id, "content": "42"} for c in calls],
    ]
    final = sdk(gateway).chat.completions.create(model="command", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"
    sent = fake.last_request
    assert sent is not None
    assistant = sent.json["messages"][1]
    assert assistant["tool_plan"] == "I will use the tools." and "content" not in assistant
    assert assistant["tool_calls"][0]["type"] == "function" and assistant["tool_calls"][0]["id"] == calls[0].id
    assert sent.json["messages"][2] == {"role": "tool", "tool_call_id": calls[0].id, "content": "42"}


def test_named_tool_choice_sends_that_tool_alone(fake: FakeCohere, gateway: GatewayProcess) -> None:
    choice = {"type": "function", "function": {"name": "lookup"}}
    reply = sdk(gateway).chat.completions.create(model="command", messages=MESSAGES, tools=TOOLS, tool_choice=choice)  # type: ignore[arg-type]
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == ["lookup"]  # type: ignore[union-attr]
    sent = fake.last_request
    assert sent is not None and [t["function"]["name"] for t in sent.json["tools"]] == ["lookup"]


def test_vision_inlines_http_images_and_json_schema(fake: FakeCohere, gateway: GatewayProcess, image_url: str) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": image_url}},
        {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}},
    ]
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}}
    reply = sdk(gateway).chat.completions.create(
        model="command",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert json.loads(reply.choices[0].message.content or "") == {"colour": "Echo: Describe"}
    sent = fake.last_request
    assert sent is not None
    parts = sent.json["messages"][0]["content"]
    assert parts[1] == {"type": "image_url", "image_url": {"url": PIXEL}}
    assert parts[2] == {"type": "image_url", "image_url": {"url": PIXEL, "detail": "low"}}
    assert sent.json["response_format"] == {"type": "json_object", "json_schema": schema}


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"parallel_tool_calls": False, "tools": TOOLS}, "parallel_tool_calls"),
    ],
)
def test_what_cohere_cannot_honour_is_a_400(fake: FakeCohere, gateway: GatewayProcess, body: Any, param: str) -> None:
    response = httpx.post(
        f"{gateway.base_url}/v1/chat/completions", json={"model": "command", "messages": MESSAGES, **body}
    )
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert fake.requests == []


def test_embeddings(fake: FakeCohere, gateway: GatewayProcess) -> None:
    vectors = sdk(gateway).embeddings.create(model="embed", input=["one", "two"])  # the SDK asks for base64
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8 and vectors.usage.prompt_tokens == 2
    sent = fake.last_request
    assert sent is not None and sent.path == "/v2/embed"
    assert sent.json == {"model": "embed-v4.0", "texts": ["one", "two"], "input_type": "search_document",
                         "embedding_types": ["float"]}  # fmt: skip
    floats = httpx.post(f"{gateway.base_url}/v1/embeddings", json={"model": "embed", "input": "one", "dimensions": 4})
    assert len(floats.json()["data"][0]["embedding"]) == 4


@pytest.mark.parametrize(
    ("group", "fault", "status", "code"),
    [
        ("limited", Fault("status", status=429, body=cohere_error("You are using a Trial key, which is limited to "
                                                                  "10 API calls / minute."), retry_after=2),
         429, "upstream_rate_limited"),
        ("command", Fault("status", status=400, body=cohere_error("too many tokens: total number of tokens in the "
                                                                  "prompt cannot exceed 4081 - received 4292")),
         400, "context_length_exceeded"),
        ("command", Fault("status", status=400, body=cohere_error("invalid request: p must be between 0.01 and 0.99")),
         400, "upstream_bad_request"),
        ("command", Fault("status", status=402, body=cohere_error("Please add or update your payment method")),
         502, "upstream_auth_error"),
        ("command", Fault("status", status=500, body=cohere_error("internal server error")), 502, "upstream_error"),
        ("command", Fault("status", status=503, body=cohere_error("service unavailable")), 503, "upstream_unavailable"),
        ("gone", None, 502, "upstream_not_found"),
        ("wrong", None, 502, "upstream_auth_error"),
    ],
)  # fmt: skip
def test_upstream_errors_map_to_typed_errors(
    fake: FakeCohere, gateway: GatewayProcess, group: str, fault: Fault | None, status: int, code: str
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": group, "messages": MESSAGES})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert KEY not in response.text and "zyxwvu987654" not in response.text and "zyxwvu987654" not in gateway.output()


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk"])
def test_broken_streams_raise(fake: FakeCohere, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, after_chunks=3))  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        list(sdk(gateway).chat.completions.create(model="command", messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_length_and_error_finish_reasons(fake: FakeCohere, gateway: GatewayProcess) -> None:
    body = {"model": "command", "messages": MESSAGES, "stream": True, "max_tokens": 1}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and json.loads(events[-2])["choices"][0]["finish_reason"] == "length"
    failing = {"model": "command", "messages": [{"role": "user", "content": "FAIL_MIDWAY"}]}
    plain = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=failing)
    assert plain.status_code == 502 and plain.json()["error"]["code"] == "upstream_error"
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json={**failing, "stream": True}) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events and "internal error while generating" in json.loads(events[-1])["error"]["message"]
