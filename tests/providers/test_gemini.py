"""The gateway in front of a fake Gemini API, driven by the official OpenAI SDK; plus the wire it sent."""

from __future__ import annotations

import base64
import http.server
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext
from switchyard.providers.gemini import GeminiProvider
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from tests.fakes.gemini_upstream import CANNED, SKIP_SIGNATURE, FakeGemini, Fault
from tests.gateway_process import GatewayProcess

KEY = "AIza-upstream-secret-0123456789"
WRONG_KEY = "AIza-wrong-key-zyxwvu987654"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
CALL_ID = re.compile(r"call_[0-9a-f]{24}")
TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "search",
            "description": "Search the web.",
            "strict": True,
            "parameters": {
                "$schema": "http://json-schema.org/draft-07/schema#",
                "type": "object",
                "properties": {
                    "q": {"type": "string", "format": "uri", "minLength": 1},
                    "site": {"type": ["string", "null"]},
                    "kind": {"$ref": "#/$defs/kind"},
                    "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": 3},
                },
                "required": ["q"],
                "additionalProperties": False,
                "$defs": {"kind": {"enum": ["news", "pages", 3]}},
            },
        },
    },
    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object", "properties": {}}}},
]
SEARCH_SCHEMA = {
    "type": "OBJECT",
    "properties": {
        "q": {"type": "STRING", "minLength": 1},
        "site": {"type": "STRING", "nullable": True},
        "kind": {"enum": ["news", "pages", "3"], "type": "STRING"},
        "limit": {"type": "INTEGER", "nullable": True},
    },
    "required": ["q"],
}


class _Images(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the standard library's name)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(PNG)))
        self.end_headers()
        self.wfile.write(PNG)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def image_url() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Images)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pixel.png"
    server.shutdown()


@pytest.fixture(autouse=True)
def clean(fake: FakeGemini) -> None:
    fake.reset()


def deployment(fake: FakeGemini, model: str = "gemini-2.5-flash", **extra: Any) -> dict[str, Any]:
    return {"provider": "gemini", "model": model, "api_base": fake.base_url, "api_key": KEY, **extra}


@pytest.fixture(scope="module")
def gateway(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "gem": {"deployments": [deployment(fake)]},
            "gem3": {"deployments": [deployment(fake, "models/gemini-3-pro-preview")]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=2)]},
            "wrong": {"deployments": [deployment(fake, api_key=WRONG_KEY)]},
            "missing": {"deployments": [deployment(fake, "palm-2")]},
            "embed": {"deployments": [deployment(fake, "gemini-embedding-001")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def post(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "gem", **body}, timeout=10)


def stream_events(gateway: GatewayProcess, done: bool = True, **body: Any) -> list[dict[str, Any]]:
    """The stream's events; ``done`` says whether it must end with [DONE] (a broken one must not)."""
    payload = {"model": "gem", "messages": MESSAGES, "stream": True, **body}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=payload, timeout=10) as response:
        assert response.status_code == 200, response.read()
        lines = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert (lines[-1] == "[DONE]") is done
    return [json.loads(line) for line in (lines[:-1] if done else lines)]


CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi!"},
    {"role": "developer", "content": [{"type": "text", "text": "Stay on topic."}]},
    {"role": "user", "content": [{"type": "text", "text": "What is"}, {"type": "text", "text": "a gateway?"}]},
]


def test_plain_chat_sends_the_documented_request(fake: FakeGemini, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="gem",
        messages=CONVERSATION,  # type: ignore[arg-type]
        temperature=0.2,
        top_p=0.9,
        max_tokens=50,
        stop="zzz",
        seed=7,
        user="u-1",
        parallel_tool_calls=False,
    )
    choice = reply.choices[0]
    assert choice.message.content == "Echo: What is a gateway?" and choice.finish_reason == "stop"
    assert reply.model == "gemini-2.5-flash" and reply.id.startswith("chatcmpl-")
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (12, 5, 17)
    sent = fake.last
    assert sent.path == "/v1beta/models/gemini-2.5-flash:generateContent" and sent.query == {}
    assert sent.headers["x-goog-api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json == {
        "contents": [
            {"role": "user", "parts": [{"text": "Hello there"}]},
            {"role": "model", "parts": [{"text": "Hi!"}]},
            {"role": "user", "parts": [{"text": "What is"}, {"text": "a gateway?"}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Stay on topic."}]},
        "generationConfig": {
            "temperature": 0.2,
            "topP": 0.9,
            "seed": 7,
            "maxOutputTokens": 50,
            "stopSequences": ["zzz"],
        },
    }


def test_stream_matches_the_plain_answer(fake: FakeGemini, gateway: GatewayProcess) -> None:
    plain = sdk(gateway).chat.completions.create(model="gem", messages=CONVERSATION)  # type: ignore[arg-type]
    chunks = list(
        sdk(gateway).chat.completions.create(
            model="gem",
            messages=CONVERSATION,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert fake.last.path == "/v1beta/models/gemini-2.5-flash:streamGenerateContent"
    assert fake.last.query == {"alt": "sse"} and fake.last.headers["x-goog-api-key"] == KEY
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"] and len({c.id for c in chunks}) == 1
    assert chunks[-1].choices == [] and chunks[-1].usage == plain.usage
    hidden = list(sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert all(c.choices for c in hidden) and all(c.usage is None for c in hidden)


def test_parallel_tool_calls_with_a_cleaned_schema(fake: FakeGemini, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="gem", messages=[{"role": "user", "content": "please search and lookup"}], tools=TOOLS
    )
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [c.function.name for c in calls] == ["search", "lookup"]  # type: ignore[union-attr]
    assert all(CALL_ID.fullmatch(c.id) for c in calls) and calls[0].id != calls[1].id
    assert json.loads(calls[0].function.arguments) == {"q": "example", "site": "example", "kind": "news", "limit": 1}  # type: ignore[union-attr]
    assert fake.last.json["tools"] == [
        {
            "functionDeclarations": [
                {"name": "search", "description": "Search the web.", "parameters": SEARCH_SCHEMA},
                {"name": "lookup"},
            ]
        }
    ]
    assert "toolConfig" not in fake.last.json


@pytest.mark.parametrize(
    ("choice", "config", "names"),
    [
        ("none", {"mode": "NONE"}, []),
        ("required", {"mode": "ANY"}, ["search"]),
        (
            {"type": "function", "function": {"name": "lookup"}},
            {"mode": "ANY", "allowedFunctionNames": ["lookup"]},
            ["lookup"],
        ),
    ],
)
def test_tool_choice(fake: FakeGemini, gateway: GatewayProcess, choice: Any, config: Any, names: list[str]) -> None:
    reply = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, tools=TOOLS, tool_choice=choice)  # type: ignore[arg-type]
    assert [c.function.name for c in reply.choices[0].message.tool_calls or []] == names  # type: ignore[union-attr]
    assert fake.last.json["toolConfig"] == {"functionCallingConfig": config}


def test_streamed_parallel_tool_calls_reassemble(gateway: GatewayProcess) -> None:
    stream = sdk(gateway).chat.completions.create(
        model="gem", stream=True, tools=TOOLS, messages=[{"role": "user", "content": "search then lookup"}]
    )
    calls: dict[int, dict[str, str]] = {}
    finish = None
    for chunk in stream:
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                assert delta.function is not None
                if delta.id:
                    assert delta.type == "function" and delta.function.arguments == "" and not entry["id"]
                    entry["id"], entry["name"] = delta.id, delta.function.name or ""
                entry["arguments"] += delta.function.arguments or ""
    assert finish == "tool_calls" and [calls[i]["name"] for i in sorted(calls)] == ["search", "lookup"]
    assert all(CALL_ID.fullmatch(c["id"]) for c in calls.values())
    assert json.loads(calls[1]["arguments"]) == {}


def test_tool_results_round_trip_by_function_name(fake: FakeGemini, gateway: GatewayProcess) -> None:
    messages: list[Any] = [
        {"role": "user", "content": "search and lookup"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_a", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}},
                {"id": "call_b", "type": "function", "function": {"name": "lookup", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_a", "content": '{"hits": 3}'},
        {"role": "tool", "tool_call_id": "call_b", "content": [{"type": "text", "text": "plain words"}]},
    ]
    reply = sdk(gateway).chat.completions.create(model="gem", messages=messages, tools=TOOLS)
    answers = [
        {"functionResponse": {"name": "search", "response": {"hits": 3}}},
        {"functionResponse": {"name": "lookup", "response": {"result": "plain words"}}},
    ]
    assert reply.choices[0].message.content == "Results: " + json.dumps([a["functionResponse"] for a in answers])
    calls = [
        {"functionCall": {"name": "search", "args": {"q": "x"}}},
        {"functionCall": {"name": "lookup", "args": {}}},
    ]
    assert fake.last.json["contents"][1:] == [{"role": "model", "parts": calls}, {"role": "user", "parts": answers}]
    messages[-1]["tool_call_id"] = "call_unknown"
    refused = post(gateway, messages=messages)
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "messages"


def test_gemini3_thought_signatures_ride_in_the_tool_call_id(fake: FakeGemini, gateway: GatewayProcess) -> None:
    first = sdk(gateway).chat.completions.create(
        model="gem3", messages=[{"role": "user", "content": "search it"}], tools=TOOLS, reasoning_effort="high"
    )
    assert fake.last.path == "/v1beta/models/gemini-3-pro-preview:generateContent"
    assert fake.last.json["generationConfig"]["thinkingConfig"] == {"includeThoughts": True, "thinkingLevel": "high"}
    call = (first.choices[0].message.tool_calls or [])[0]
    assert re.fullmatch(r"call_[0-9a-f]{24}_ts_[A-Za-z0-9_-]+", call.id)
    sent_signature = next(iter(fake.signatures))
    history: list[Any] = [
        {"role": "user", "content": "search it"},
        {"role": "assistant", "tool_calls": [call.model_dump(exclude_none=True)]},
        {"role": "tool", "tool_call_id": call.id, "content": "done"},
    ]
    second = sdk(gateway).chat.completions.create(model="gem3", messages=history, tools=TOOLS)
    assert second.choices[0].message.content and second.choices[0].message.content.startswith("Results:")
    assert fake.last.json["contents"][1]["parts"][0]["thoughtSignature"] == sent_signature
    # History from another model has no signature: Google's documented placeholder stands in for it.
    history[1]["tool_calls"][0]["id"] = history[2]["tool_call_id"] = "toolu_01"
    sdk(gateway).chat.completions.create(model="gem3", messages=history, tools=TOOLS)
    assert fake.last.json["contents"][1]["parts"][0]["thoughtSignature"] == SKIP_SIGNATURE


def test_vision_from_data_and_http_urls(fake: FakeGemini, gateway: GatewayProcess, image_url: str) -> None:
    data_url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": data_url}},
        {"type": "image_url", "image_url": {"url": image_url, "detail": "low"}},
    ]
    reply = sdk(gateway).chat.completions.create(model="gem", messages=[{"role": "user", "content": content}])  # type: ignore[misc, list-item]
    assert reply.choices[0].message.content == "I see 2 image(s): image/png, image/png."
    inline = {"inlineData": {"mimeType": "image/png", "data": base64.b64encode(PNG).decode()}}
    assert fake.last.json["contents"] == [{"role": "user", "parts": [{"text": "Describe"}, inline, inline]}]


def test_json_modes(fake: FakeGemini, gateway: GatewayProcess) -> None:
    plain = sdk(gateway).chat.completions.create(
        model="gem",
        messages=MESSAGES,
        response_format={"type": "json_object"},  # type: ignore[arg-type]
    )
    assert json.loads(plain.choices[0].message.content or "") == {"answer": "Echo: What is a gateway?"}
    assert fake.last.json["generationConfig"] == {"responseMimeType": "application/json"}
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}, "temp": {"type": "number"}},
        "required": ["city", "temp"],
        "additionalProperties": False,
    }
    fmt = {"type": "json_schema", "json_schema": {"name": "weather", "strict": True, "schema": schema}}
    shaped = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, response_format=fmt)  # type: ignore[arg-type]
    assert json.loads(shaped.choices[0].message.content or "") == {"city": "example", "temp": 1.5}
    assert fake.last.json["generationConfig"] == {
        "responseMimeType": "application/json",
        "responseSchema": {
            "type": "OBJECT",
            "properties": {"city": {"type": "STRING"}, "temp": {"type": "NUMBER"}},
            "required": ["city", "temp"],
        },
    }


def test_cached_and_reasoning_usage_plain_and_streamed(fake: FakeGemini, gateway: GatewayProcess) -> None:
    fake.cached_tokens = 3
    reply = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, reasoning_effort="low")
    assert fake.last.json["generationConfig"] == {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}
    message = reply.choices[0].message
    assert message.content == "Echo: What is a gateway?"
    assert message.model_extra and message.model_extra["reasoning_content"] == "Thinking it over step by step."
    usage = reply.usage
    assert usage is not None and usage.prompt_tokens_details and usage.completion_tokens_details
    assert usage.prompt_tokens_details.cached_tokens == 3 and usage.completion_tokens_details.reasoning_tokens == 6
    # Thinking is billed as output, so it is inside completion_tokens as OpenAI counts reasoning.
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (4, 11, 15)
    events = stream_events(gateway, reasoning_effort="low", stream_options={"include_usage": True})
    thoughts = "".join(e["choices"][0]["delta"].get("reasoning_content", "") for e in events if e["choices"])
    assert thoughts == "Thinking it over step by step." and events[-1]["usage"] == usage.model_dump(exclude_none=True)


def test_n_candidates_plain_and_streamed(fake: FakeGemini, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="gem", messages=MESSAGES, n=2)
    assert [c.index for c in reply.choices] == [0, 1]
    assert reply.choices[1].message.content == "Echo: What is a gateway? (variant 1)"
    assert fake.last.json["generationConfig"] == {"candidateCount": 2}
    events = stream_events(gateway, n=2)
    texts = {0: "", 1: ""}
    for event in events:
        for choice in event["choices"]:
            texts[choice["index"]] += choice["delta"].get("content", "")
    assert texts == {0: reply.choices[0].message.content, 1: reply.choices[1].message.content}


def test_finish_reasons_and_safety(fake: FakeGemini, gateway: GatewayProcess) -> None:
    capped = sdk(gateway).chat.completions.create(model="capped", messages=MESSAGES)
    assert capped.choices[0].finish_reason == "length" and capped.choices[0].message.content == "Echo: What"
    assert fake.last.json["generationConfig"] == {"maxOutputTokens": 2}
    unsafe = sdk(gateway).chat.completions.create(model="gem", messages=[{"role": "user", "content": "UNSAFE"}])
    assert unsafe.choices[0].finish_reason == "content_filter" and unsafe.choices[0].message.content is None
    events = stream_events(gateway, messages=[{"role": "user", "content": "UNSAFE"}])
    assert [e["choices"][0]["finish_reason"] for e in events] == [None, "content_filter"]
    blocked = [{"role": "user", "content": "BLOCKME"}]
    for stream in (False, True):
        response = post(gateway, messages=blocked, stream=stream)
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "content_policy_violation"


def test_requests_gemini_cannot_honour_are_400s(fake: FakeGemini, gateway: GatewayProcess) -> None:
    cases = [
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"logprobs": True}, "logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#"}}}]}, "tools"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ]
    for extra, param in cases:
        response = post(gateway, **{"messages": MESSAGES, **extra})
        assert response.status_code == 400, response.text
        assert response.json()["error"] | {"message": ""} == {
            "message": "", "type": "invalid_request_error", "param": param, "code": "invalid_request"
        }  # fmt: skip
    assert fake.requests == []
    upstream = post(gateway, messages=MESSAGES, temperature=3)  # the fake refuses it as Gemini does
    assert upstream.status_code == 400 and upstream.json()["error"]["code"] == "upstream_bad_request"
    assert "temperature" in upstream.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (CANNED["internal"], 502, "upstream_error"),
        (CANNED["overloaded"], 503, "upstream_unavailable"),
        (CANNED["deadline"], 504, "upstream_timeout"),
        (CANNED["context"], 400, "context_length_exceeded"),
        (CANNED["precondition"], 502, "upstream_auth_error"),
        (Fault("drop_connection"), 503, "upstream_unavailable"),
    ],
)
def test_upstream_errors_map_by_meaning(
    fake: FakeGemini, gateway: GatewayProcess, fault: Fault, status: int, code: str
) -> None:
    for stream in (False, True):
        fake.push_fault(fault)
        response = post(gateway, messages=MESSAGES, stream=stream)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code and KEY not in response.text


def test_rate_limit_carries_googles_retry_delay(fake: FakeGemini, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault.rate_limit("27s"))
    response = post(gateway, model="limited", messages=MESSAGES)
    assert response.status_code == 429 and response.headers["retry-after"] == "27"
    assert response.json()["error"]["code"] == "upstream_rate_limited"
    with pytest.raises(openai.RateLimitError):  # the deployment now cools down without calling Gemini
        sdk(gateway).chat.completions.create(model="limited", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(fake.requests) == 1


def test_bad_credentials_and_unknown_models_never_leak_the_key(fake: FakeGemini, gateway: GatewayProcess) -> None:
    wrong = post(gateway, model="wrong", messages=MESSAGES)
    assert wrong.status_code == 502 and wrong.json()["error"]["code"] == "upstream_auth_error"
    assert fake.last.headers["x-goog-api-key"] == WRONG_KEY and WRONG_KEY not in wrong.text
    missing = post(gateway, model="missing", messages=MESSAGES)
    assert missing.status_code == 502 and missing.json()["error"]["code"] == "upstream_error"
    assert "palm-2 is not found" in missing.json()["error"]["message"]
    output = gateway.output()
    assert KEY not in output and WRONG_KEY not in output and "zyxwvu" not in output


@pytest.mark.parametrize("kind", ["cut", "malformed", "stream_error", "no_finish"])
def test_broken_streams_end_with_an_error_event(fake: FakeGemini, gateway: GatewayProcess, kind: Any) -> None:
    fake.push_fault(Fault(kind, after_events=2))
    payload = {"model": "gem", "messages": [{"role": "user", "content": "one two three four five six seven"}]}
    events = stream_events(gateway, done=False, **payload)
    assert "error" in events[-1] and events[-1]["error"]["code"] == "upstream_error"
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events[:-1])
    assert not any(e.get("usage") for e in events)
    if kind != "no_finish":  # broken before any content: an ordinary failed attempt, a plain error status
        fake.push_fault(Fault(kind, after_events=0))
        response = post(gateway, messages=MESSAGES, stream=True)
        assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"


def test_embeddings_use_batch_embed_contents(fake: FakeGemini, gateway: GatewayProcess) -> None:
    result = sdk(gateway).embeddings.create(model="embed", input=["one", "two words", "three"], dimensions=4)
    assert [len(item.embedding) for item in result.data] == [4, 4, 4] and [d.index for d in result.data] == [0, 1, 2]
    assert result.model == "gemini-embedding-001" and result.usage.prompt_tokens == 6
    sent = fake.last
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json["requests"][1] == {
        "model": "models/gemini-embedding-001", "content": {"parts": [{"text": "two words"}]}, "outputDimensionality": 4
    }  # fmt: skip
    body = {"model": "embed", "input": "one", "dimensions": 4}
    floats = httpx.post(f"{gateway.base_url}/v1/embeddings", json=body).json()
    assert floats["data"][0]["embedding"] == pytest.approx(result.data[0].embedding, abs=1e-6)
    tokens = httpx.post(f"{gateway.base_url}/v1/embeddings", json={"model": "embed", "input": [1, 2, 3]})
    assert tokens.status_code == 400 and tokens.json()["error"]["param"] == "input"


def test_a_deployment_without_a_key_fails_at_start_up() -> None:
    context = ProviderContext(HttpTransport(), RouterSettings(), GuardedFetcher(max_bytes=1, timeout_s=1), 1)
    with pytest.raises(ConfigError) as failure:
        GeminiProvider(Deployment(provider="gemini", model="gemini-2.5-flash"), context)
    assert failure.value.path == "api_key"
