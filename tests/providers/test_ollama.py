"""The gateway in front of a fake Ollama server (native API), driven by the official OpenAI SDK."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.image_server import serving_png
from tests.fakes.ollama_upstream import FakeOllama, Fault
from tests.gateway_process import GatewayProcess

PROXY_KEY = "proxy-secret-token-0123456789"
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
def fake() -> Iterator[FakeOllama]:
    with FakeOllama() as upstream:
        yield upstream


@pytest.fixture(scope="module")
def guarded() -> Iterator[FakeOllama]:
    with FakeOllama(api_key=PROXY_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeOllama) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    with serving_png(PNG) as url:
        yield url


def deployment(fake: FakeOllama, **extra: Any) -> dict[str, Any]:
    return {"provider": "ollama", "model": "llama3.2", "api_base": fake.base_url, **extra}


@pytest.fixture(scope="module")
def gateway(
    fake: FakeOllama, guarded: FakeOllama, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "llama": {"deployments": [deployment(fake)]},
            "llava": {"deployments": [deployment(fake, model="llava")]},
            "limited": {"deployments": [deployment(fake)]},
            "unpulled": {"deployments": [deployment(fake, model="qwen3:32b")]},
            "proxied": {"deployments": [deployment(guarded, api_key=PROXY_KEY)]},
            "embed": {"deployments": [deployment(fake, model="nomic-embed-text")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def test_plain_chat_sends_options_and_maps_usage(fake: FakeOllama, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="llama",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],  # type: ignore[list-item]
        temperature=0.1,
        top_p=0.9,
        seed=11,
        stop=["END"],
        max_completion_tokens=64,
    )
    assert reply.choices[0].message.content == "Echo: What is a gateway?" and reply.choices[0].finish_reason == "stop"
    assert reply.model == "llama3.2" and reply.usage is not None
    assert reply.usage.prompt_tokens == 6 and reply.usage.completion_tokens == 5 and reply.usage.total_tokens == 11
    sent = fake.last_request
    assert sent is not None and sent.path == "/api/chat" and "authorization" not in sent.headers
    assert sent.json == {
        "model": "llama3.2",
        "messages": [{"role": "system", "content": "Be brief."}, *MESSAGES],
        "stream": False,
        "options": {"temperature": 0.1, "top_p": 0.9, "seed": 11, "stop": ["END"], "num_predict": 64},
    }


def test_stream_decodes_ndjson_into_chunks(fake: FakeOllama, gateway: GatewayProcess) -> None:
    plain = list(sdk(gateway).chat.completions.create(model="llama", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert plain and all(c.choices for c in plain) and plain[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in plain) == "Echo: What is a gateway?"
    assert plain[-1].choices[0].finish_reason == "stop"
    counted = list(
        sdk(gateway).chat.completions.create(
            model="llama",
            messages=MESSAGES,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert counted[-1].choices == [] and counted[-1].usage is not None and counted[-1].usage.completion_tokens == 5
    assert fake.last_request is not None and fake.last_request.json["stream"] is True


def test_tools_get_ids_and_results_get_names(fake: FakeOllama, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "call search and lookup q=gateways"}]
    reply = sdk(gateway).chat.completions.create(model="llama", messages=ask, tools=TOOLS)  # type: ignore[arg-type]
    calls = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["search", "lookup"]  # type: ignore[union-attr]
    assert len({c.id for c in calls}) == 2 and all(c.id.startswith("call_") for c in calls)
    assert json.loads(calls[0].function.arguments) == {"q": "gateways"}  # type: ignore[union-attr]
    streamed: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in sdk(gateway).chat.completions.create(model="llama", messages=ask, tools=TOOLS, stream=True):  # type: ignore[arg-type]
        finish = chunk.choices[0].finish_reason or finish
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = streamed.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
            entry["id"] += delta.id or ""
            entry["name"] += (delta.function and delta.function.name) or ""
            entry["arguments"] += (delta.function and delta.function.arguments) or ""
    assert finish == "tool_calls" and [streamed[i]["name"] for i in sorted(streamed)] == ["search", "lookup"]
    assert all(
        e["id"].startswith("call_") and json.loads(e["arguments"]) == {"q": "gateways"} for e in streamed.values()
    )
    history = [
        *ask,
        reply.choices[0].message.model_dump(exclude_none=True),
        *[{"role": "tool", "tool_call_id": c.id, "content": f"result {n}"} for n, c in enumerate(calls)],
    ]
    final = sdk(gateway).chat.completions.create(model="llama", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"
    sent = fake.last_request
    assert sent is not None
    assert sent.json["messages"][1]["tool_calls"][0] == {"function": {"name": "search", "arguments": {"q": "gateways"}}}
    assert sent.json["messages"][2] == {"role": "tool", "content": "result 0", "tool_name": "search"}
    assert sent.json["messages"][3] == {"role": "tool", "content": "result 1", "tool_name": "lookup"}


def test_vision_sends_base64_images(fake: FakeOllama, gateway: GatewayProcess, image_url: str) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": PIXEL}},
        {"type": "image_url", "image_url": {"url": image_url}},
    ]
    reply = sdk(gateway).chat.completions.create(model="llava", messages=[{"role": "user", "content": content}])  # type: ignore[list-item, misc]
    assert reply.choices[0].message.content == "Echo: Describe"
    sent = fake.last_request
    encoded = base64.b64encode(PNG).decode()
    assert sent is not None
    assert sent.json["messages"][0] == {"role": "user", "content": "Describe", "images": [encoded, encoded]}


def test_json_mode_and_schema_become_format(fake: FakeOllama, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "Answer in json"}]
    reply = sdk(gateway).chat.completions.create(model="llama", messages=ask, response_format={"type": "json_object"})  # type: ignore[arg-type]
    assert json.loads(reply.choices[0].message.content or "") == {"reply": "Echo: Answer in json"}
    assert fake.last_request is not None and fake.last_request.json["format"] == "json"
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}}
    sdk(gateway).chat.completions.create(
        model="llama",
        messages=ask,  # type: ignore[arg-type]
        response_format={"type": "json_schema", "json_schema": {"name": "c", "schema": schema}},
    )
    assert fake.last_request is not None and fake.last_request.json["format"] == schema


def test_length_finish_reason(gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="llama", messages=MESSAGES, max_tokens=2)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"tools": TOOLS, "tool_choice": "required"}, "tool_choice"),
        ({"logprobs": True}, "logprobs"),
    ],
)
def test_what_ollama_cannot_honour_is_a_400(
    fake: FakeOllama, gateway: GatewayProcess, extra: dict[str, Any], param: str
) -> None:
    body = {"model": "llama", "messages": MESSAGES, **extra}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert fake.requests == []


def test_proxy_bearer_token_is_sent_and_never_leaks(guarded: FakeOllama, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="proxied", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Echo: What is a gateway?"
    assert guarded.last_request is not None and guarded.last_request.headers["authorization"] == f"Bearer {PROXY_KEY}"


def test_embeddings(fake: FakeOllama, gateway: GatewayProcess) -> None:
    vectors = sdk(gateway).embeddings.create(model="embed", input=["one", "two"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8 and vectors.usage.prompt_tokens == 2
    sent = fake.last_request
    assert (
        sent is not None
        and sent.path == "/api/embed"
        and sent.json == {"model": "nomic-embed-text", "input": ["one", "two"]}
    )


@pytest.mark.parametrize(
    ("group", "fault", "status", "code"),
    [
        ("unpulled", None, 502, "upstream_not_found"),
        ("limited", Fault("status", status=429, body={"error": "too many requests"}, retry_after=2),
         429, "upstream_rate_limited"),
        ("llama", Fault("status", status=400, body={"error": "llama3.2 does not support tools"}),
         400, "upstream_bad_request"),
        ("llama", Fault("status", status=500, body={"error": "llama runner process has terminated"}),
         502, "upstream_error"),
        ("llama", Fault("status", status=503, body={"error": "server busy, please try again.  maximum pending "
                                                               "requests exceeded"}),
         503, "upstream_unavailable"),
    ],
)  # fmt: skip
def test_upstream_errors_map_to_typed_errors(
    fake: FakeOllama, gateway: GatewayProcess, group: str, fault: Fault | None, status: int, code: str
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": group, "messages": MESSAGES})
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    if group == "unpulled":
        assert "try pulling it first" in response.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk", "stream_error"])
def test_broken_streams_end_with_an_error(fake: FakeOllama, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, after_chunks=2))  # type: ignore[arg-type]
    body = {"model": "llama", "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body) as response:
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events and "error" in json.loads(events[-1])
    assert len(events) >= 2  # the lines before the break reached the client
