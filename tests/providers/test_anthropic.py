"""The gateway in front of a fake Anthropic Messages API, driven by the official OpenAI SDK."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import openai
import pytest

from switchyard import errors
from switchyard.providers.anthropic._request import tool_id
from switchyard.providers.anthropic._response import retry_after
from switchyard.providers.anthropic._stream import AnthropicStream
from tests.fakes.anthropic_upstream import FakeAnthropic, Fault, anthropic_error
from tests.gateway_process import GatewayProcess

KEY = "sk-ant-secret-key-0123456789"
WRONG = "sk-ant-wrong-key-zyxwvu987654"
MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
TOOLS = [
    {"type": "function", "function": {"name": "search", "description": "Search the web", "parameters": SCHEMA}},
    {"type": "function", "function": {"name": "lookup", "parameters": SCHEMA}},
]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PIXEL = "data:image/png;base64," + base64.b64encode(PNG).decode()
AUDIO = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeAnthropic) -> None:
    fake.reset()


def deployment(fake: FakeAnthropic, **extra: Any) -> dict[str, Any]:
    return {"provider": "anthropic", "model": MODEL, "api_base": fake.base_url, "api_key": KEY, **extra}


@pytest.fixture(scope="module")
def gateway(fake: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "claude": {"deployments": [deployment(fake)]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=3)]},
            "wrong": {"deployments": [deployment(fake, api_key=WRONG)]},
            "adaptive": {"deployments": [deployment(fake, model="claude-opus-4-7")]},
            "pinned": {
                "deployments": [
                    deployment(
                        fake, api_base=fake.base_url + "/v1", api_version="2023-01-01", headers={"anthropic-beta": "b1"}
                    )
                ]
            },
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(PNG)))
            self.end_headers()
            self.wfile.write(PNG)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/cat.png"
    server.shutdown()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def post(gateway: GatewayProcess, **body: Any) -> httpx.Response:
    return httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "claude", **body}, timeout=10)


def sent(fake: FakeAnthropic) -> dict[str, Any]:
    assert fake.last_request is not None
    body: dict[str, Any] = fake.last_request.json
    return body


def collect(stream: Any) -> tuple[str, str, dict[int, dict[str, str]], str | None, Any]:
    """Content, reasoning, tool calls by index, finish reason and usage of a streamed answer."""
    content, reasoning, calls, finish, usage = "", "", {}, None, None
    for chunk in stream:
        usage = chunk.usage or usage
        for choice in chunk.choices:
            finish = choice.finish_reason or finish
            content += choice.delta.content or ""
            reasoning += getattr(choice.delta, "reasoning_content", None) or ""
            for delta in choice.delta.tool_calls or []:
                entry = calls.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                entry["id"] += delta.id or ""
                entry["name"] += (delta.function and delta.function.name) or ""
                entry["arguments"] += (delta.function and delta.function.arguments) or ""
    return content, reasoning, calls, finish, usage


def test_plain_chat_and_the_wire_request(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(
        model="claude",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "developer", "content": [{"type": "text", "text": "Be kind."}]},
            {"role": "user", "content": "Hi", "name": "ann"},
            {"role": "user", "content": "there"},
        ],
        max_completion_tokens=50,
        temperature=0.3,
        top_p=0.9,
        stop=["zzz"],
        seed=7,
        user="user-1",
    )
    assert reply.choices[0].message.content == "Echo: Hi there" and reply.choices[0].finish_reason == "stop"
    assert reply.model == MODEL and reply.id.startswith("chatcmpl-msg_")
    assert reply.usage is not None and reply.usage.completion_tokens == 3
    assert reply.usage.total_tokens == reply.usage.prompt_tokens + 3
    request = fake.last_request
    assert request is not None and request.path == "/v1/messages" and request.method == "POST"
    assert request.headers["x-api-key"] == KEY and request.headers["anthropic-version"] == "2023-06-01"
    assert request.headers["content-type"] == "application/json" and "authorization" not in request.headers
    assert sent(fake) == {
        "model": MODEL,
        "max_tokens": 50,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "Hi"}, {"type": "text", "text": "there"}]}],
        "system": [{"type": "text", "text": "Be brief."}, {"type": "text", "text": "Be kind."}],
        "temperature": 0.3,
        "top_p": 0.9,
        "stop_sequences": ["zzz"],
        "metadata": {"user_id": "user-1"},
    }


def test_deployment_settings_max_tokens_and_length(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES)  # type: ignore[arg-type]
    assert sent(fake)["max_tokens"] == 4096 and "system" not in sent(fake)
    reply = sdk(gateway).chat.completions.create(model="capped", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "length" and reply.choices[0].message.content == "Echo: What is"
    assert sent(fake)["max_tokens"] == 3
    sdk(gateway).chat.completions.create(model="pinned", messages=MESSAGES)  # type: ignore[arg-type]
    request = fake.last_request
    assert request is not None and request.path == "/v1/messages"
    assert request.headers["anthropic-version"] == "2023-01-01" and request.headers["anthropic-beta"] == "b1"


def test_stream_text_and_usage(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    chunks = list(sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert chunks[0].choices[0].delta.role == "assistant" and all(c.usage is None for c in chunks)
    content, _, calls, finish, _ = collect(chunks)
    assert content == "Echo: What is a gateway?" and finish == "stop" and not calls
    assert sent(fake)["stream"] is True and fake.last_request is not None
    assert fake.last_request.headers["accept"] == "text/event-stream"
    stream = sdk(gateway).chat.completions.create(
        model="claude",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    content, _, _, _, usage = collect(stream)
    assert content == "Echo: What is a gateway?" and usage is not None and usage.completion_tokens == 5
    assert usage.prompt_tokens > 0 and usage.total_tokens == usage.prompt_tokens + 5


def test_tools_plain_streamed_parallel_and_choices(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "use search and lookup"}]
    reply = sdk(gateway).chat.completions.create(model="claude", messages=ask, tools=TOOLS, tool_choice="required")  # type: ignore[arg-type]
    calls = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls" and reply.choices[0].message.content is None
    assert [c.function.name for c in calls] == ["search", "lookup"] and all(c.id.startswith("toolu_") for c in calls)  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"q": "Echo: use search and lookup"}  # type: ignore[union-attr]
    body = sent(fake)
    assert body["tool_choice"] == {"type": "any"}
    assert body["tools"] == [
        {"name": "search", "input_schema": SCHEMA, "description": "Search the web"},
        {"name": "lookup", "input_schema": SCHEMA},
    ]
    stream = sdk(gateway).chat.completions.create(model="claude", messages=ask, tools=TOOLS, stream=True)  # type: ignore[arg-type]
    content, _, streamed, finish, _ = collect(stream)
    assert finish == "tool_calls" and content == "" and [streamed[i]["name"] for i in (0, 1)] == ["search", "lookup"]
    expected = {"q": "Echo: use search and lookup"}
    assert all(e["id"].startswith("toolu_") and json.loads(e["arguments"]) == expected for e in streamed.values())
    assert "tool_choice" not in sent(fake)
    one = sdk(gateway).chat.completions.create(
        model="claude",
        messages=ask,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        parallel_tool_calls=False,
    )
    assert len(one.choices[0].message.tool_calls or []) == 1
    assert sent(fake)["tool_choice"] == {"type": "auto", "disable_parallel_tool_use": True}
    named = sdk(gateway).chat.completions.create(
        model="claude",
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        tool_choice={"type": "function", "function": {"name": "lookup"}},
    )
    assert [c.function.name for c in named.choices[0].message.tool_calls or []] == ["lookup"]  # type: ignore[union-attr]
    assert sent(fake)["tool_choice"] == {"type": "tool", "name": "lookup"}
    none = sdk(gateway).chat.completions.create(model="claude", messages=ask, tools=TOOLS, tool_choice="none")  # type: ignore[arg-type]
    assert none.choices[0].finish_reason == "stop" and sent(fake)["tool_choice"] == {"type": "none"}


def test_tool_results_round_trip(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    history = [
        {"role": "user", "content": "use search and lookup"},
        {"role": "assistant", "content": "Looking.", "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": '{"q": "a"}'}},
            {"id": "call.2", "type": "function", "function": {"name": "lookup", "arguments": ""}},
        ]},
        {"role": "tool", "tool_call_id": "call_1", "content": "41"},
        {"role": "tool", "tool_call_id": "call.2", "content": [{"type": "text", "text": "42"}]},
        {"role": "user", "content": "Sum them."},
    ]  # fmt: skip
    reply = sdk(gateway).chat.completions.create(model="claude", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    other = tool_id("call.2")
    assert other != "call.2" and other == tool_id("call.2")
    assert reply.choices[0].message.content == f"Results: call_1=41; {other}=42"
    assert reply.choices[0].finish_reason == "stop"
    assert sent(fake)["messages"][1:] == [
        {"role": "assistant", "content": [
            {"type": "text", "text": "Looking."},
            {"type": "tool_use", "id": "call_1", "name": "search", "input": {"q": "a"}},
            {"type": "tool_use", "id": other, "name": "lookup", "input": {}},
        ]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "call_1", "content": "41"},
            {"type": "tool_result", "tool_use_id": other, "content": [{"type": "text", "text": "42"}]},
            {"type": "text", "text": "Sum them."},
        ]},
    ]  # fmt: skip
    # With reasoning on, a turn that only returns tool results goes without thinking (the calling turn's
    # thinking block cannot be sent back); a new user question gets it again.
    looping = sdk(gateway).chat.completions.create(
        model="claude",
        messages=history[:4],  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        reasoning_effort="low",
    )
    assert looping.choices[0].message.content == f"Results: call_1=41; {other}=42" and "thinking" not in sent(fake)
    sdk(gateway).chat.completions.create(model="claude", messages=history, tools=TOOLS, reasoning_effort="low")  # type: ignore[arg-type]
    assert sent(fake)["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    history[1]["tool_calls"][0]["function"]["arguments"] = "{not json"  # type: ignore[index]
    before = len(fake.requests)
    response = post(gateway, messages=history, tools=TOOLS)
    assert response.status_code == 400 and response.json()["error"]["param"] == "messages"
    assert len(fake.requests) == before


def test_vision_data_and_http_urls(fake: FakeAnthropic, gateway: GatewayProcess, image_server: str) -> None:
    content = [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": PIXEL}},
        {"type": "image_url", "image_url": {"url": image_server, "detail": "low"}},
    ]
    reply = sdk(gateway).chat.completions.create(model="claude", messages=[{"role": "user", "content": content}])  # type: ignore[list-item, misc]
    size = len(PNG)
    assert reply.choices[0].message.content == f"Echo: Describe [image/png {size} bytes] [url image/png {size} bytes]"
    blocks = sent(fake)["messages"][0]["content"]
    assert blocks[1] == {
        "type": "image",
        "source": {"type": "base64", "media_type": "image/png", "data": base64.b64encode(PNG).decode()},
    }
    assert blocks[2] == {"type": "image", "source": {"type": "url", "url": image_server}}
    pdf = "data:application/pdf;base64," + base64.b64encode(b"%PDF-1.4 tiny").decode()
    document = [{"type": "file", "file": {"file_data": pdf, "filename": "a.pdf"}}, {"type": "text", "text": "Read"}]
    reply = sdk(gateway).chat.completions.create(model="claude", messages=[{"role": "user", "content": document}])  # type: ignore[list-item, misc]
    assert reply.choices[0].message.content == "Echo: Read [application/pdf 13 bytes]"


def test_json_mode_plain_and_streamed(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    fmt = {"type": "json_schema", "json_schema": {"name": "c", "schema": schema, "description": "A colour."}}
    reply = sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES, response_format=fmt)  # type: ignore[arg-type]
    assert json.loads(reply.choices[0].message.content or "") == {"colour": "Echo: What is a gateway?"}
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.tool_calls is None
    body = sent(fake)
    assert body["tools"][-1]["name"] == "json_response" and body["tools"][-1]["input_schema"] == schema
    assert body["tool_choice"] == {"type": "tool", "name": "json_response", "disable_parallel_tool_use": True}
    stream = sdk(gateway).chat.completions.create(
        model="claude",
        messages=MESSAGES,  # type: ignore[arg-type]
        response_format={"type": "json_object"},
        stream=True,
    )
    content, _, calls, finish, _ = collect(stream)
    assert json.loads(content) == {"answer": "Echo: What is a gateway?"} and finish == "stop" and not calls
    # With the client's tools the model must call one: a client tool, or the JSON tool to answer.
    ask = [{"role": "user", "content": "use search"}]
    both = sdk(gateway).chat.completions.create(model="claude", messages=ask, tools=TOOLS, response_format=fmt)  # type: ignore[arg-type]
    assert both.choices[0].finish_reason == "tool_calls" and sent(fake)["tool_choice"] == {"type": "any"}


def test_reasoning_and_cached_usage(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake.set_cache(read=10, creation=4)
    response = post(gateway, messages=MESSAGES, reasoning_effort="low")
    answer = response.json()
    message, usage = answer["choices"][0]["message"], answer["usage"]
    assert message["reasoning_content"] == "Thinking about: What is a gateway?"
    assert message["content"] == "Echo: What is a gateway?"
    assert sent(fake)["thinking"] == {"type": "enabled", "budget_tokens": 2048} and sent(fake)["max_tokens"] == 6144
    assert usage["prompt_tokens_details"] == {"cached_tokens": 10, "cache_creation_tokens": 4}
    # Reasoning counts inside the completion, as in OpenAI's usage: 6 thinking words and 5 answer words.
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 6} and usage["completion_tokens"] == 11
    assert usage["prompt_tokens"] > 14 and usage["total_tokens"] == usage["prompt_tokens"] + 11
    stream = sdk(gateway).chat.completions.create(
        model="claude",
        messages=MESSAGES,  # type: ignore[arg-type]
        reasoning_effort="high",
        max_completion_tokens=4000,
        stream=True,
        stream_options={"include_usage": True},
    )
    content, reasoning, _, finish, streamed_usage = collect(stream)
    assert reasoning == "Thinking about: What is a gateway?" and content == "Echo: What is a gateway?"
    assert finish == "stop" and sent(fake)["thinking"]["budget_tokens"] == 2000 and sent(fake)["max_tokens"] == 4000
    details = streamed_usage.prompt_tokens_details
    assert details.cached_tokens == 10 and streamed_usage.completion_tokens_details.reasoning_tokens == 6
    # Claude 4.6 and later think adaptively, at an effort level; 4.7 refuses budgets.
    adaptive = post(gateway, model="adaptive", messages=MESSAGES, reasoning_effort="medium").json()
    assert adaptive["choices"][0]["message"]["reasoning_content"] == "Thinking about: What is a gateway?"
    body = sent(fake)
    assert body["thinking"] == {"type": "adaptive"} and body["output_config"] == {"effort": "medium"}
    assert body["max_tokens"] == 4096 + 8192


def test_finish_reasons(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    stopped = sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES, stop="a gateway")  # type: ignore[arg-type]
    assert stopped.choices[0].message.content == "Echo: What is " and stopped.choices[0].finish_reason == "stop"
    refused = sdk(gateway).chat.completions.create(model="claude", messages=[{"role": "user", "content": "REFUSE"}])
    assert refused.choices[0].finish_reason == "content_filter"
    stream = sdk(gateway).chat.completions.create(
        model="claude",
        messages=[{"role": "user", "content": "REFUSE"}],
        stream=True,
    )
    assert collect(stream)[3] == "content_filter"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"temperature": 1.5}, "temperature"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_effort": "low", "response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": [{"role": "user", "content": [AUDIO]}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y"}}]}]},
         "messages"),
    ],
)  # fmt: skip
def test_what_anthropic_cannot_honour_is_a_clear_400(
    fake: FakeAnthropic, gateway: GatewayProcess, body: dict[str, Any], param: str
) -> None:
    response = post(gateway, **{"messages": MESSAGES, **body})
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    assert fake.requests == []


def test_embeddings_are_a_clear_400(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).embeddings.create(model="claude", input="hi")
    assert caught.value.status_code == 400 and fake.requests == []


@pytest.mark.parametrize(
    ("group", "fault", "status", "code", "param"),
    [
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "stop_sequences: each stop sequence must contain non-whitespace")),
         400, "upstream_bad_request", "stop"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")),
         400, "context_length_exceeded", "messages"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "Output blocked by content filtering policy")),
         400, "content_policy_violation", "messages"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "Your credit balance is too low to access the Anthropic API.")),
         502, "upstream_auth_error", None),
        ("claude", Fault("status", status=403), 502, "upstream_auth_error", None),
        ("claude", Fault("status", status=404, body=anthropic_error("not_found_error", "model: claude-x")),
         502, "upstream_not_found", None),
        ("claude", Fault("status", status=413), 413, "request_too_large", "messages"),
        ("limited", Fault("status", status=429, retry_after=7), 429, "upstream_rate_limited", None),
        ("claude", Fault("status", status=500), 502, "upstream_error", None),
        ("claude", Fault("status", status=529), 503, "upstream_unavailable", None),
        ("wrong", None, 502, "upstream_auth_error", None),
    ],
)  # fmt: skip
def test_upstream_errors_map_to_typed_errors(
    fake: FakeAnthropic,
    gateway: GatewayProcess,
    group: str,
    fault: Fault | None,
    status: int,
    code: str,
    param: str | None,
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    response = post(gateway, model=group, messages=MESSAGES)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error.get("param") == param
    assert KEY not in response.text and WRONG not in response.text
    assert KEY not in gateway.output() and WRONG not in gateway.output()
    if code == "upstream_rate_limited":
        assert response.headers.get("retry-after") == "7"
    if fault is not None and fault.body is not None:
        assert fault.body["error"]["message"] in error["message"]


def test_context_window_from_the_upstream_itself(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake.context_window = 50
    try:
        response = post(gateway, messages=[{"role": "user", "content": "word " * 200}])
    finally:
        fake.context_window = 200_000
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    assert "prompt is too long" in response.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk", "stream_error"])
def test_broken_streams_raise(fake: FakeAnthropic, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, status=529, after_chunks=5))  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        collect(sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_error_event_before_any_content_is_an_http_error(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("stream_error", status=529, after_chunks=1))
    response = post(gateway, messages=MESSAGES, stream=True)
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"


# --- the stream translator and the retry hint, on recorded wire data --------------------------------------


class _Recorded:
    """Stands in for an open upstream stream: the given bytes, in the given pieces."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.headers = {"request-id": "req_1", "content-type": "text/event-stream"}
        self.pieces = pieces
        self.closed = False

    async def chunks(self) -> Any:
        for piece in self.pieces:
            yield piece

    async def aclose(self) -> None:
        self.closed = True


def _frames(*events: dict[str, Any]) -> bytes:
    return b"".join(f"event: {e['type']}\r\ndata: {json.dumps(e)}\r\n\r\n".encode() for e in events)


def _run(pieces: list[bytes], json_tool: str | None = None) -> tuple[list[dict[str, Any]], _Recorded]:
    upstream = _Recorded(pieces)

    async def drain() -> list[dict[str, Any]]:
        stream = AnthropicStream(upstream, MODEL, json_tool, (KEY,))  # type: ignore[arg-type]
        return [json.loads(p) async for batch in stream.batches() for p in batch]

    return asyncio.run(drain()), upstream


USAGE = {"input_tokens": 12, "cache_read_input_tokens": 3, "cache_creation_input_tokens": 0, "output_tokens": 1}
START = {"type": "message_start", "message": {"id": "msg_1", "model": "claude-x", "content": [], "usage": USAGE}}
TOOL = {"type": "content_block_start", "index": 0, "content_block": {"type": "tool_use", "id": "toolu_1",
                                                                      "name": "ping", "input": {}}}  # fmt: skip
END = [
    {"type": "content_block_stop", "index": 0},
    {"type": "message_delta", "delta": {"stop_reason": "max_tokens"}, "usage": {"output_tokens": 5}},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 9}},
    {"type": "message_stop"},
]


def test_stream_translator_on_recorded_events_cut_anywhere() -> None:
    wire = _frames(START, {"type": "ping"}, TOOL, {"type": "future_event"}, *END) + b"event: ping\r\n"
    for size in (1, 7, len(wire)):
        chunks, upstream = _run([wire[i : i + size] for i in range(0, len(wire), size)])
        assert upstream.closed and chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
        assert chunks[0]["id"] == "chatcmpl-msg_1" and chunks[0]["model"] == "claude-x"
        head, empty = chunks[1]["choices"][0]["delta"]["tool_calls"][0], chunks[2]["choices"][0]["delta"]
        assert head == {"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "ping", "arguments": ""}}
        # A tool called without input streams no fragment; the client still gets parseable arguments.
        assert empty["tool_calls"] == [{"index": 0, "function": {"arguments": "{}"}}]
        assert chunks[3]["choices"][0]["finish_reason"] == "tool_calls" and chunks[4]["choices"] == []
        assert chunks[4]["usage"] == {"prompt_tokens": 15, "completion_tokens": 9, "total_tokens": 24,
                                      "prompt_tokens_details": {"cached_tokens": 3}}  # fmt: skip
        assert len(chunks) == 5


def test_stream_translator_refuses_a_stream_without_message_stop() -> None:
    with pytest.raises(errors.UpstreamError, match="before message_stop"):
        _run([_frames(START, TOOL, *END[:-1])])
    with pytest.raises(errors.UpstreamUnavailableError, match="Overloaded"):
        _run([_frames(START, {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})])


def test_retry_hint_from_rate_limit_reset_headers() -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    later = (datetime.now(UTC) + timedelta(seconds=90)).isoformat().replace("+00:00", "Z")
    headers = {
        "anthropic-ratelimit-requests-remaining": "0",
        "anthropic-ratelimit-requests-reset": soon,
        "anthropic-ratelimit-tokens-remaining": "500",
        "anthropic-ratelimit-tokens-reset": later,
    }
    assert 28 < (retry_after(headers) or 0) <= 30
    assert retry_after({**headers, "retry-after": "4"}) == 4
    assert retry_after({"anthropic-ratelimit-tokens-reset": later}) is None


def test_the_fake_speaks_what_the_official_anthropic_sdk_reads(fake: FakeAnthropic) -> None:
    """The fake's answers, streams and errors, read by Anthropic's own client (a check on the fake itself)."""
    import anthropic

    client = anthropic.Anthropic(base_url=fake.base_url, api_key=KEY, max_retries=0)
    tools: list[Any] = [{"name": "search", "input_schema": SCHEMA}]
    message = client.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "use search"}], tools=tools
    )
    assert message.stop_reason == "tool_use" and message.content[0].type == "tool_use"
    with client.messages.stream(
        model=MODEL,
        max_tokens=3000,
        messages=[{"role": "user", "content": "Hello there"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"] and final.stop_reason == "end_turn"
    assert final.content[1].text == "Echo: Hello there"  # type: ignore[union-attr]
    fake.push_fault(Fault("status", status=529))
    with pytest.raises(anthropic.InternalServerError) as caught:
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}])
    assert caught.value.status_code == 529 and caught.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]
    with pytest.raises(anthropic.BadRequestError, match="roles must alternate"):
        client.messages.create(model=MODEL, max_tokens=10, messages=[{"role": "user", "content": "x"}] * 2)
    with pytest.raises(anthropic.BadRequestError, match="adaptive"):
        client.messages.create(
            model="claude-opus-4-7",
            max_tokens=3000,
            messages=[{"role": "user", "content": "x"}],
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
