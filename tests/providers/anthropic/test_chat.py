"""The gateway in front of a fake Anthropic Messages API, driven by the official OpenAI SDK: plain chat and the
wire request, streams, JSON mode, reasoning and cached usage, finish reasons."""

from __future__ import annotations

import json

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.gateway_process import GatewayProcess
from tests.providers.anthropic.support import KEY, MESSAGES, MODEL, TOOLS, collect, post, sdk, sent


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
