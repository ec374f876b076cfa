"""The fake OpenAI upstream speaks the wire format the official SDK parses, errors included."""

from __future__ import annotations

import base64
import json
import math
import struct
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessageFunctionToolCall

from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes_selftest import raw

MODEL = "gpt-4o-mini"
EMBED = "text-embedding-3-small"
ROOT = Path(__file__).resolve().parents[2]

WEATHER: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
            "required": ["location"],
        },
    },
}
TIME: Any = {
    "type": "function",
    "function": {"name": "get_time", "parameters": {"type": "object", "properties": {"tz": {"type": "string"}}}},
}


def user(text: str) -> list[Any]:
    return [{"role": "user", "content": text}]


def function_calls(completion: ChatCompletion) -> list[ChatCompletionMessageFunctionToolCall]:
    calls = completion.choices[0].message.tool_calls or []
    assert all(isinstance(c, ChatCompletionMessageFunctionToolCall) for c in calls)
    return [c for c in calls if isinstance(c, ChatCompletionMessageFunctionToolCall)]


# ------------------------------------------------------------------------------------------- chat


def test_plain_completion_has_the_documented_shape_and_headers(client: openai.OpenAI) -> None:
    response = client.chat.completions.with_raw_response.create(model=MODEL, messages=user("hello there"))
    completion = response.parse()
    assert completion.id.startswith("chatcmpl-") and completion.object == "chat.completion"
    assert completion.model == MODEL and (completion.system_fingerprint or "").startswith("fp_")
    choice = completion.choices[0]
    assert (choice.index, choice.finish_reason, choice.logprobs) == (0, "stop", None)
    assert choice.message.role == "assistant" and choice.message.content == "Echo: hello there"
    assert choice.message.refusal is None and choice.message.tool_calls is None
    usage = completion.usage
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (2, 3, 5)
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 0
    headers = response.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-request-id"].startswith("req_") and headers["openai-version"] == "2020-10-01"
    assert int(headers["openai-processing-ms"]) >= 0
    assert headers["x-ratelimit-limit-requests"] == "10000" and headers["x-ratelimit-remaining-requests"] == "9999"
    for name in (
        "x-ratelimit-reset-requests",
        "x-ratelimit-limit-tokens",
        "x-ratelimit-remaining-tokens",
        "x-ratelimit-reset-tokens",
    ):
        assert headers[name]


def test_n_choices_and_token_limits(client: openai.OpenAI) -> None:
    several = client.chat.completions.create(model=MODEL, messages=user("hi"), n=3)
    assert [c.index for c in several.choices] == [0, 1, 2]
    assert {c.message.content for c in several.choices} == {"Echo: hi"}
    assert several.usage and several.usage.completion_tokens == 6
    limits: list[dict[str, Any]] = [{"max_tokens": 2}, {"max_completion_tokens": 2}]
    for limit in limits:
        cut = client.chat.completions.create(model=MODEL, messages=user("one two three"), **limit)
        assert cut.choices[0].message.content == "Echo: one" and cut.choices[0].finish_reason == "length"
        assert cut.usage and cut.usage.completion_tokens == 2


def test_configured_reply(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.set_reply(lambda body: f"{len(body['messages'])} messages")
    completion = client.chat.completions.create(model=MODEL, messages=user("x") * 2)
    assert completion.choices[0].message.content == "2 messages"


def test_stream_with_usage_matches_the_plain_reply(client: openai.OpenAI) -> None:
    messages = user("the quick brown fox")
    plain = client.chat.completions.create(model=MODEL, messages=messages)
    chunks = list(
        client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
    )
    first, finish, last = chunks[0], chunks[-2], chunks[-1]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert content == plain.choices[0].message.content
    assert len(chunks) >= 6  # role, five words, finish, usage: the reply really is split up
    assert finish.choices[0].finish_reason == "stop" and finish.choices[0].delta.content is None
    assert last.choices == [] and last.usage == plain.usage
    assert all(c.usage is None for c in chunks[:-1])
    assert len({c.id for c in chunks}) == 1 and all(c.object == "chat.completion.chunk" for c in chunks)


def test_stream_framing_on_the_wire(fake: FakeOpenAI) -> None:
    body = {"model": MODEL, "messages": user("a b"), "stream": True, "stream_options": {"include_usage": True}}
    reply = raw.request(f"{fake.base_url}/chat/completions", body=body)
    assert reply.status == 200 and reply.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert reply.headers["x-request-id"].startswith("req_") and reply.headers["openai-version"] == "2020-10-01"
    assert "openai-processing-ms" in reply.headers
    events = reply.events()
    assert events[-1] == "[DONE]" and reply.body.endswith(b"data: [DONE]\n\n")
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" in c for c in chunks) and [c["usage"] is None for c in chunks].count(False) == 1
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["total_tokens"] == 2 + 3

    without_usage = raw.request(f"{fake.base_url}/chat/completions", body={**body, "stream_options": None})
    assert all("usage" not in json.loads(e) for e in without_usage.events()[:-1])


def test_parallel_tool_calls_plain(client: openai.OpenAI) -> None:
    completion = client.chat.completions.create(
        model=MODEL, messages=user("call get_weather and get_time location=Paris"), tools=[WEATHER, TIME]
    )
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    calls = function_calls(completion)
    assert [c.function.name for c in calls] == ["get_weather", "get_time"]
    assert all(c.id.startswith("call_") and c.type == "function" for c in calls)
    assert len({c.id for c in calls}) == 2
    assert json.loads(calls[0].function.arguments) == {"location": "Paris", "unit": "c"}
    assert json.loads(calls[1].function.arguments) == {"tz": "test"}


@pytest.mark.parametrize(
    ("tool_choice", "text", "parallel", "expected"),
    [
        ({"type": "function", "function": {"name": "get_time"}}, "hi", None, ["get_time"]),
        ("required", "hi", None, ["get_weather"]),
        ("none", "call get_weather", None, []),
        ("auto", "call get_weather and get_time", False, ["get_weather"]),
        ("auto", "just chat", None, []),
    ],
)
def test_tool_choice(
    client: openai.OpenAI, tool_choice: Any, text: str, parallel: bool | None, expected: list[str]
) -> None:
    extra: dict[str, Any] = {} if parallel is None else {"parallel_tool_calls": parallel}
    completion = client.chat.completions.create(
        model=MODEL, messages=user(text), tools=[WEATHER, TIME], tool_choice=tool_choice, **extra
    )
    assert [c.function.name for c in function_calls(completion)] == expected
    assert completion.choices[0].finish_reason == ("tool_calls" if expected else "stop")


def test_a_tool_result_gets_a_text_answer(client: openai.OpenAI) -> None:
    messages: list[Any] = [
        *user("call get_weather"),
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny"},
    ]
    completion = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER])
    assert completion.choices[0].message.content == "Echo: call get_weather"


def test_streamed_tool_calls_reassemble(client: openai.OpenAI) -> None:
    messages = user("call get_weather and get_time location=Rome")
    plain = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME])
    stream = client.chat.completions.create(model=MODEL, messages=messages, tools=[WEATHER, TIME], stream=True)
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    for chunk in stream:
        choice = chunk.choices[0]
        finish = choice.finish_reason or finish
        for delta in choice.delta.tool_calls or []:
            if delta.index not in calls:  # the opening delta carries id, type, name and empty arguments
                assert delta.id and delta.type == "function" and delta.function and delta.function.name
                assert delta.function.arguments == ""
                calls[delta.index] = {"id": delta.id, "name": delta.function.name, "fragments": []}
            else:
                assert delta.id is None and delta.function and delta.function.name is None
                calls[delta.index]["fragments"].append(delta.function.arguments)
    assert finish == "tool_calls" and sorted(calls) == [0, 1]
    assert all(len(c["fragments"]) > 1 for c in calls.values())
    for index, expected in enumerate(function_calls(plain)):
        assert calls[index]["name"] == expected.function.name
        assert json.loads("".join(calls[index]["fragments"])) == json.loads(expected.function.arguments)


def test_json_modes(client: openai.OpenAI) -> None:
    json_object = client.chat.completions.create(
        model=MODEL, messages=user("answer in json"), response_format={"type": "json_object"}
    )
    assert json.loads(json_object.choices[0].message.content or "") == {"reply": "Echo: answer in json"}
    schema: Any = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
    structured = client.chat.completions.create(
        model=MODEL,
        messages=user("plan"),
        response_format={"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}},
    )
    assert json.loads(structured.choices[0].message.content or "") == {"city": "Echo: plan", "days": 1}
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=user("hi"), response_format={"type": "json_object"})
    assert caught.value.param == "messages"


# -------------------------------------------------------------------------------------- embeddings


def test_embeddings_float_base64_and_dimensions(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    floats = client.embeddings.create(model=EMBED, input=["alpha", "beta"], encoding_format="float")
    assert floats.object == "list" and floats.model == EMBED and [d.index for d in floats.data] == [0, 1]
    vectors = [d.embedding for d in floats.data]
    assert all(len(v) == 8 and math.isclose(math.fsum(x * x for x in v), 1.0, rel_tol=1e-5) for v in vectors)
    assert vectors[0] != vectors[1]
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 2

    # Without encoding_format the SDK asks for base64 and decodes it: same numbers, bit for bit.
    decoded = client.embeddings.create(model=EMBED, input=["alpha", "beta"])
    assert fake.requests[-1].json["encoding_format"] == "base64"
    assert [d.embedding for d in decoded.data] == vectors

    b64 = raw.request(
        f"{fake.base_url}/embeddings", body={"model": EMBED, "input": "alpha", "encoding_format": "base64"}
    ).json()
    packed = base64.b64decode(b64["data"][0]["embedding"])
    assert list(struct.unpack("<8f", packed)) == vectors[0]

    short = client.embeddings.create(model=EMBED, input="alpha", dimensions=4, encoding_format="float")
    prefix = vectors[0][:4]
    scale = math.sqrt(math.fsum(x * x for x in prefix))
    assert short.data[0].embedding == pytest.approx([x / scale for x in prefix], rel=1e-5)

    tokens = client.embeddings.create(model=EMBED, input=[[1, 2, 3], [4, 5]], encoding_format="float")
    assert len(tokens.data) == 2 and tokens.usage.prompt_tokens == 5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"model": EMBED, "input": ""}, None),
        ({"model": EMBED, "input": "x", "encoding_format": "hex"}, "encoding_format"),
        ({"model": "text-embedding-ada-002", "input": "x", "dimensions": 4}, None),
        ({"model": EMBED}, "input"),
    ],
)
def test_embedding_validation(fake: FakeOpenAI, body: dict[str, Any], param: str | None) -> None:
    reply = raw.request(f"{fake.base_url}/embeddings", body=body)
    assert reply.status == 400 and reply.json()["error"]["param"] == param


# ------------------------------------------------------------------------------------------ models


def test_models_list_and_retrieve(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    listed = client.models.list()
    assert [m.id for m in listed.data] == fake.models
    assert all(m.object == "model" and m.owned_by and m.created for m in listed.data)
    assert client.models.retrieve(MODEL).id == MODEL
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("gpt-nope")
    assert caught.value.code == "model_not_found" and caught.value.param == "model"


# ------------------------------------------------------------------------------------------ errors


def test_wrong_key_is_authentication_error_with_masked_key(fake: FakeOpenAI) -> None:
    key = "sk-abcdefghijklmnopqrstuvwxyz"
    with openai.OpenAI(api_key=key, base_url=fake.base_url, max_retries=0) as sdk:
        with pytest.raises(openai.AuthenticationError) as caught:
            sdk.chat.completions.create(model=MODEL, messages=user("hi"))
    error = caught.value
    assert error.status_code == 401 and error.code == "invalid_api_key" and error.type == "invalid_request_error"
    assert "sk-abcde" in error.message and key not in error.message and "wxyz" in error.message
    missing = raw.request(f"{fake.base_url}/chat/completions", body={"model": MODEL}, headers={})
    assert missing.status == 401 and missing.json()["error"]["message"].startswith("You didn't provide an API key")


def test_unknown_model_is_not_found(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model="gpt-unknown", messages=user("hi"))
    assert caught.value.code == "model_not_found" and "`gpt-unknown` does not exist" in caught.value.message


@pytest.mark.parametrize(
    ("change", "param", "code"),
    [
        ({"messages": []}, "messages", "empty_array"),
        ({"messages": "hi"}, "messages", "invalid_type"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "messages[0].role", "invalid_value"),
        ({"messages": [{"content": "hi"}]}, "messages[0].role", "missing_required_parameter"),
        ({"messages": None}, "messages", "missing_required_parameter"),
        ({"n": 0}, "n", "integer_below_min_value"),
        ({"max_tokens": "ten"}, "max_tokens", "invalid_type"),
        ({"temperature": 3}, "temperature", "decimal_above_max_value"),
        ({"stream_options": {"include_usage": True}}, "stream_options", None),
        ({"model": None}, None, None),
    ],
)
def test_validation_errors_are_bad_requests(
    fake: FakeOpenAI, change: dict[str, Any], param: str | None, code: str | None
) -> None:
    body = {k: v for k, v in {"model": MODEL, "messages": user("hi"), **change}.items() if v is not None}
    reply = raw.request(f"{fake.base_url}/chat/completions", body=body)
    error = reply.json()["error"]
    assert reply.status == 400 and error["type"] == "invalid_request_error"
    assert (error["param"], error["code"]) == (param, code)


def test_bad_json_context_length_and_bad_url(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    bad = raw.request(f"{fake.base_url}/chat/completions", data=b"{nope", headers={**raw.AUTH})
    assert bad.status == 400 and bad.json()["error"]["message"].startswith("We could not parse the JSON body")
    fake.context_window = 5
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=MODEL, messages=user("one two three four five six"))
    assert caught.value.code == "context_length_exceeded" and caught.value.param == "messages"
    assert "maximum context length is 5 tokens" in caught.value.message
    url = raw.request(f"{fake.base_url}/nowhere", method="GET")
    assert url.status == 404 and url.json()["error"]["message"] == "Invalid URL (GET /v1/nowhere)"


# ------------------------------------------------------------------------------ recording, lifecycle


def test_requests_are_recorded(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    client.chat.completions.create(model=MODEL, messages=user("hi"), extra_headers={"X-Trace": "t1"})
    assert fake.wait_for_requests(1)
    seen = fake.requests[-1]
    assert (seen.method, seen.path, seen.status, seen.completed) == ("POST", "/v1/chat/completions", 200, True)
    assert seen.headers["authorization"] == "Bearer sk-test-123" and seen.headers["x-trace"] == "t1"
    assert seen.json["messages"] == user("hi") and seen.time > 0 and seen.disconnected is False
    fake.reset()
    assert fake.requests == [] and fake.disconnects == 0


def test_context_manager_releases_the_port() -> None:
    with FakeOpenAI() as fake:
        url = fake.base_url
        assert raw.request(f"{url}/models", method="GET").status == 200
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/models", timeout=2)


def test_runs_standalone() -> None:
    command = [sys.executable, "-m", "tests.fakes.openai_upstream", "--port", "0", "--api-key", "sk-x"]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        base_url = line.rsplit(" ", 1)[-1].strip()
        request = urllib.request.Request(f"{base_url}/models", headers={"Authorization": "Bearer sk-x"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.load(response)["object"] == "list"
    finally:
        process.terminate()
        process.wait(timeout=5)
        if process.stdout is not None:
            process.stdout.close()
