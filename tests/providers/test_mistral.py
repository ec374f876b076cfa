"""The gateway in front of a fake Mistral API, driven by the official OpenAI SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from switchyard.providers.mistral import mistral_tool_id
from tests.fakes.mistral_upstream import FakeMistral, Fault, mistral_error
from tests.gateway_process import GatewayProcess

KEY = "mistral-secret-key-0123456789"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": n, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
    }
    for n in ("search", "lookup")
]
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeMistral]:
    with FakeMistral(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeMistral) -> None:
    fake.reset()


def deployment(fake: FakeMistral, **extra: Any) -> dict[str, Any]:
    return {"provider": "mistral", "model": "mistral-small-latest", "api_base": fake.base_url, "api_key": KEY, **extra}


@pytest.fixture(scope="module")
def gateway(fake: FakeMistral, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "mistral": {"deployments": [deployment(fake)]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=2)]},
            "wrong": {"deployments": [deployment(fake, api_key="mistral-wrong-key-zyxwvu987654")]},
            "embed": {"deployments": [deployment(fake, model="mistral-embed")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def test_plain_chat_renames_parameters_and_drops_what_mistral_refuses(
    fake: FakeMistral, gateway: GatewayProcess
) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="mistral",
        messages=[{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi", "name": "ann"}],  # type: ignore[list-item, misc]
        seed=7,
        max_completion_tokens=50,
        user="u-1",
        temperature=0.3,
    )
    assert reply.choices[0].message.content == "Echo: Hi" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "mistral-small-latest" and reply.usage is not None and reply.usage.total_tokens > 0
    sent = fake.last_request
    assert sent is not None and sent.path == "/v1/chat/completions"
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.json == {
        "model": "mistral-small-latest",
        "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        "stream": False,
        "temperature": 0.3,
        "random_seed": 7,
        "max_tokens": 50,
    }


def test_stream_splits_the_usage_off_the_last_chunk(fake: FakeMistral, gateway: GatewayProcess) -> None:
    chunks = list(sdk(gateway).chat.completions.create(model="mistral", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert chunks and all(c.choices for c in chunks) and all(c.usage is None for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: What is a gateway?"
    assert chunks[-1].choices[0].finish_reason == "stop"
    sent = fake.last_request
    assert sent is not None and sent.json["stream"] is True and "stream_options" not in sent.json
    counted = list(
        sdk(gateway).chat.completions.create(
            model="mistral",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert counted[-1].choices == [] and counted[-1].usage is not None and counted[-1].usage.completion_tokens == 5


def test_tools_plain_streamed_and_results_with_foreign_ids(fake: FakeMistral, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "call search and lookup q=gateways"}]
    reply = sdk(gateway).chat.completions.create(model="mistral", messages=ask, tools=TOOLS, tool_choice="required")  # type: ignore[arg-type]
    calls = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["search", "lookup"]  # type: ignore[union-attr]
    assert all(len(c.id) == 9 for c in calls)
    assert json.loads(calls[0].function.arguments) == {"q": "gateways"}  # type: ignore[union-attr]
    assert fake.last_request is not None and fake.last_request.json["tool_choice"] == "any"
    streamed: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in sdk(gateway).chat.completions.create(model="mistral", messages=ask, tools=TOOLS, stream=True):  # type: ignore[arg-type]
        finish = chunk.choices[0].finish_reason or finish
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = streamed.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function and delta.function.name) or ""
            entry["arguments"] += (delta.function and delta.function.arguments) or ""
    assert finish == "tool_calls" and [streamed[i]["name"] for i in sorted(streamed)] == ["search", "lookup"]
    assert all(len(e["id"]) == 9 and json.loads(e["arguments"]) == {"q": "gateways"} for e in streamed.values())
    # A conversation begun at another provider carries OpenAI-style ids; they reach Mistral as nine characters.
    history = [
        *ask,
        {"role": "assistant", "tool_calls": [{"id": "call_abc123XYZ_long", "type": "function",
                                              "function": {"name": "search", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_abc123XYZ_long", "content": "42"},
    ]  # fmt: skip
    final = sdk(gateway).chat.completions.create(model="mistral", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"
    sent = fake.last_request
    mapped = mistral_tool_id("call_abc123XYZ_long")
    assert sent is not None and sent.json["messages"][1]["tool_calls"][0]["id"] == mapped
    assert sent.json["messages"][2]["tool_call_id"] == mapped and len(mapped) == 9


def test_named_tool_choice_vision_json_schema_and_n(fake: FakeMistral, gateway: GatewayProcess) -> None:
    content = [{"type": "text", "text": "Describe"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    reply = sdk(gateway).chat.completions.create(
        model="mistral",
        messages=[{"role": "user", "content": content}],  # type: ignore[list-item, misc]
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
        n=2,
    )
    assert len(reply.choices) == 2 and json.loads(reply.choices[1].message.content or "") == {
        "colour": "Echo: Describe"
    }
    sent = fake.last_request
    assert sent is not None and sent.json["messages"][0]["content"][1] == {"type": "image_url", "image_url": PIXEL}
    assert sent.json["response_format"] == {"type": "json_schema", "json_schema": {"name": "c", "schema": schema}}
    assert sent.json["n"] == 2
    sdk(gateway).chat.completions.create(
        model="mistral",
        messages=MESSAGES,
        tools=TOOLS,
        tool_choice={"type": "function", "function": {"name": "lookup"}},  # type: ignore[arg-type]
    )
    assert fake.last_request is not None
    assert fake.last_request.json["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}


def test_default_max_tokens_and_length_finish(fake: FakeMistral, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="capped", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"
    assert fake.last_request is not None and fake.last_request.json["max_tokens"] == 2


def test_parameters_mistral_cannot_honour_are_a_clear_400(fake: FakeMistral, gateway: GatewayProcess) -> None:
    body = {"model": "mistral", "messages": MESSAGES, "logprobs": True}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == "logprobs"
    assert fake.requests == []


def test_embeddings(fake: FakeMistral, gateway: GatewayProcess) -> None:
    vectors = sdk(gateway).embeddings.create(model="embed", input=["one", "two"], dimensions=4)
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 4 and vectors.model == "mistral-embed"
    sent = fake.last_request
    # The SDK asks for base64 (and decodes it); Mistral supports that encoding, so it passes through.
    expected = {"model": "mistral-embed", "input": ["one", "two"], "output_dimension": 4, "encoding_format": "base64"}
    assert sent is not None and sent.json == expected


@pytest.mark.parametrize(
    ("group", "fault", "status", "code"),
    [
        ("limited", Fault("status", status=429, body={"message": "Requests rate limit exceeded"}, retry_after=2),
         429, "upstream_rate_limited"),
        ("mistral", Fault("status", status=422, body=mistral_error({"detail": [
            {"type": "extra_forbidden", "loc": ["body", "store"], "msg": "Extra inputs are not permitted"}]})),
         400, "upstream_bad_request"),
        ("mistral", Fault("status", status=400, body=mistral_error(
            "Prompt contains 40000 tokens and 0 draft tokens, too large for model with 32768 maximum context length",
            "invalid_request_prompt")), 400, "context_length_exceeded"),
        ("mistral", Fault("status", status=500, body=mistral_error("Internal error", "internal_error")),
         502, "upstream_error"),
        ("mistral", Fault("status", status=503, body=mistral_error("Service unavailable", "service_unavailable")),
         503, "upstream_unavailable"),
        ("wrong", None, 502, "upstream_auth_error"),
    ],
)  # fmt: skip
def test_upstream_errors_map_to_typed_errors(
    fake: FakeMistral, gateway: GatewayProcess, group: str, fault: Fault | None, status: int, code: str
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": group, "messages": MESSAGES})
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and KEY not in response.text and "zyxwvu987654" not in response.text
    if code == "upstream_bad_request":
        assert error["param"] == "store" and "Extra inputs" in error["message"]
    assert "zyxwvu987654" not in gateway.output()


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk"])
def test_broken_streams_raise(fake: FakeMistral, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, after_chunks=2))  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        list(sdk(gateway).chat.completions.create(model="mistral", messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_tool_ids_map_stably() -> None:
    assert mistral_tool_id("D681PevKs") == "D681PevKs"
    assert mistral_tool_id("call_1") == mistral_tool_id("call_1") != mistral_tool_id("call_2")
    assert mistral_tool_id("call_1").isalnum() and len(mistral_tool_id("call_1")) == 9


def test_openai_shaped_error_keeps_its_message() -> None:
    from switchyard.providers.mistral import mistral_error

    message = b'"Response format json_object requires the word json"'
    body = b'{"error": {"message": ' + message + b', "type": "invalid_request_error"}}'
    error = mistral_error(400, {}, body, "sk-secret")
    assert error.status == 400 and "requires the word json" in error.message
