"""The Anthropic Messages API as an inbound format, driven by the official ``anthropic`` SDK.

One gateway process serves the demo provider, a fake OpenAI upstream and a fake Anthropic upstream. Every
answer, stream event and error body is re-validated with the SDK's pydantic types (the SDK builds its objects
leniently, so without this a missing or mistyped field would slip through).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from anthropic.types import (
    Message,
    MessageParam,
    MessageTokensCount,
    RawMessageStreamEvent,
    TextBlock,
    ThinkingBlock,
    ToolParam,
    ToolUseBlock,
)
from anthropic.types.shared import ErrorResponse
from pydantic import TypeAdapter

from switchyard.server.formats.anthropic_response import to_message
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.openai_upstream import FakeOpenAI, Fault
from tests.gateway_process import GatewayProcess

MASTER = "sk-gateway-master-0123456789"
OPENAI_KEY = "sk-upstream-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-0123456789"
USER: list[MessageParam] = [{"role": "user", "content": "Tell me about gateways."}]
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
EVENT: TypeAdapter[Any] = TypeAdapter(RawMessageStreamEvent)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    upstream = FakeAnthropic(api_key=ANTHROPIC_KEY)
    with upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic) -> None:
    fake_openai.reset()
    fake_anthropic.reset()


@pytest.fixture(scope="module")
def gateway(
    fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    gpt = {"provider": "openai", "model": "gpt-4o-mini", "api_base": fake_openai.base_url, "api_key": OPENAI_KEY}
    base = fake_anthropic.base_url
    claude = {"provider": "anthropic", "model": "claude-haiku-4-5", "api_base": base, "api_key": ANTHROPIC_KEY}
    config = {
        "server": {"master_key": MASTER},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "demo": {"deployments": [{"provider": "demo", "model": "demo-1"}]},
            "gpt": {"deployments": [gpt]},
            # Its own deployment: a 429 cools that one down, and must not colour the other tests.
            "gpt-limited": {"deployments": [gpt]},
            "claude": {"deployments": [claude]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def client(gateway: GatewayProcess, key: str = MASTER) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base_url, api_key=key, max_retries=0)


def strict(message: Message) -> Message:
    """The message re-validated field by field with the SDK's own model."""
    return Message.model_validate(message.to_dict())


def text(value: str) -> dict[str, str]:
    return {"type": "text", "text": value}


def text_of(message: Message) -> str:
    block = message.content[0]
    assert isinstance(block, TextBlock), block
    return block.text


def events(stream: Any) -> list[Any]:
    """The raw events, re-validated (the ``messages.stream`` helper adds its own: text, input_json ...)."""
    raw = [event for event in stream if event.type.startswith(("message_", "content_block_"))]
    return [EVENT.validate_python(event.to_dict()) for event in raw]


def raw_events(gateway: GatewayProcess, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", f"{gateway.base_url}/v1/messages", json=body, headers=headers) as response:
        assert response.status_code == 200
        text = response.read().decode()
    frames = [frame.split("\n") for frame in text.split("\n\n") if frame]
    return [(lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))) for lines in frames]


# --- the demo provider -------------------------------------------------------------------------------------


def test_demo_plain_message_with_usage(gateway: GatewayProcess) -> None:
    message = strict(client(gateway).messages.create(model="demo", max_tokens=100, messages=USER))
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert text_of(message).startswith("This is the Switchyard demo")
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    assert message.usage.output_tokens == 24 and message.usage.input_tokens > 0
    assert message.usage.cache_read_input_tokens == 0 and message.usage.cache_creation_input_tokens == 0


def test_demo_stream_helper_and_raw_events(gateway: GatewayProcess) -> None:
    plain = client(gateway).messages.create(model="demo", max_tokens=100, messages=USER)
    with client(gateway).messages.stream(model="demo", max_tokens=100, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = strict(stream.get_final_message())
    assert text == text_of(plain) == text_of(final)
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 24
    assert final.usage.input_tokens == plain.usage.input_tokens
    created = events(client(gateway).messages.create(model="demo", max_tokens=100, messages=USER, stream=True))
    kinds = [e.type for e in created]
    assert kinds[:2] == ["message_start", "content_block_start"] and set(kinds[2:-3]) == {"content_block_delta"}
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    # The exact framing: every frame names its event, and the name is the data's type.
    frames = raw_events(gateway, {"model": "demo", "max_tokens": 100, "messages": USER, "stream": True})
    assert [name for name, _ in frames[:2]] == ["message_start", "ping"]
    assert all(name == data["type"] for name, data in frames)


def test_demo_forced_tool_plain_and_streamed(gateway: GatewayProcess) -> None:
    ask: dict[str, Any] = {"model": "demo", "max_tokens": 100, "messages": USER, "tools": [WEATHER]}
    message = strict(client(gateway).messages.create(**ask, tool_choice={"type": "any"}))
    assert message.stop_reason == "tool_use"
    block = message.content[0]
    assert isinstance(block, ToolUseBlock) and block.name == "get_weather" and block.input == {}
    with client(gateway).messages.stream(**ask, tool_choice={"type": "tool", "name": "get_weather"}) as stream:
        final = strict(stream.get_final_message())
    assert final.stop_reason == "tool_use" and isinstance(final.content[0], ToolUseBlock)
    assert final.usage.output_tokens == 8


# --- a fake OpenAI upstream --------------------------------------------------------------------------------


def test_openai_plain_translates_the_request(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    message = strict(
        client(gateway).messages.create(
            model="gpt",
            max_tokens=50,
            system=[{"type": "text", "text": "You are terse."}],
            messages=USER,
            stop_sequences=["STOP"],
            metadata={"user_id": "user-7"},
            extra_body={"temperature": 0.3, "top_k": 5},
        )
    )
    assert text_of(message) == "Echo: Tell me about gateways."
    assert message.model == "gpt-4o-mini" and message.stop_reason == "end_turn"
    sent = fake_openai.last_request
    assert sent is not None and sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.json["messages"] == [{"role": "system", "content": "You are terse."}, *USER]
    assert sent.json["max_tokens"] == 50 and sent.json["stop"] == ["STOP"] and sent.json["user"] == "user-7"
    assert sent.json["temperature"] == 0.3 and "top_k" not in sent.json


def test_openai_stream_reports_usage_at_the_end(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    plain = strict(client(gateway).messages.create(model="gpt", max_tokens=50, messages=USER))
    with client(gateway).messages.stream(model="gpt", max_tokens=50, messages=USER) as stream:
        text = "".join(stream.text_stream)
        final = strict(stream.get_final_message())
    assert text == text_of(plain)
    assert final.usage.input_tokens == plain.usage.input_tokens > 0
    assert final.usage.output_tokens == plain.usage.output_tokens > 0
    sent = fake_openai.last_request
    # The gateway asked for the usage it reports, as it does for any stream.
    assert sent is not None and sent.json["stream"] is True and sent.json["stream_options"] == {"include_usage": True}


def test_openai_tool_use_round_trip(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    ask: list[MessageParam] = [{"role": "user", "content": "call get_weather city=Paris"}]
    first = strict(client(gateway).messages.create(model="gpt", max_tokens=50, messages=ask, tools=[WEATHER]))
    assert first.stop_reason == "tool_use"
    call = first.content[0]
    assert isinstance(call, ToolUseBlock) and call.name == "get_weather" and call.input == {"city": "Paris"}
    history: list[Any] = [
        *ask,
        {"role": "assistant", "content": [block.to_dict() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}]},
    ]
    second = strict(client(gateway).messages.create(model="gpt", max_tokens=50, messages=history, tools=[WEATHER]))
    assert second.stop_reason == "end_turn" and second.content[0].type == "text"
    sent = fake_openai.last_request
    assert sent is not None
    assert sent.json["messages"][1]["tool_calls"] == [
        {"id": call.id, "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
    ]
    assert sent.json["messages"][2] == {"role": "tool", "content": "18C, sunny", "tool_call_id": call.id}
    assert sent.json["tools"][0]["function"]["parameters"] == WEATHER["input_schema"]


def test_openai_streamed_tool_input_reassembles(gateway: GatewayProcess) -> None:
    ask: dict[str, Any] = {
        "model": "gpt",
        "max_tokens": 50,
        "tools": [WEATHER],
        "tool_choice": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        "messages": [{"role": "user", "content": "weather city=Reykjavik please"}],
    }
    with client(gateway).messages.stream(**ask) as stream:
        seen = events(stream)
        final = strict(stream.get_final_message())
    fragments = [e.delta.partial_json for e in seen if e.type == "content_block_delta"]
    assert len(fragments) > 1 and json.loads("".join(fragments)) == {"city": "Reykjavik"}
    assert isinstance(final.content[0], ToolUseBlock) and final.content[0].input == {"city": "Reykjavik"}
    assert final.stop_reason == "tool_use"


def test_openai_images_documents_and_history(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    pdf = base64.b64encode(b"%PDF-1.4 tiny").decode()
    url = "https://example.com/cat.png"
    image: Any = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    linked: Any = {"type": "image", "source": {"type": "url", "url": url}}
    document: Any = {
        "type": "document",
        "title": "a.pdf",
        "source": {"type": "base64", "media_type": "application/pdf", "data": pdf},
    }
    thought: Any = {"type": "thinking", "thinking": "hmm", "signature": "c2ln"}
    call: Any = {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Oslo"}}
    failed: Any = {
        "type": "tool_result",
        "tool_use_id": "toolu_1",
        "is_error": True,
        "content": [text("timeout"), image],
    }
    history: list[Any] = [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": [image, linked, text("Read this"), document]},
        {"role": "assistant", "content": [thought, text("Looking."), call]},
        {"role": "user", "content": [failed, text("Try again?")]},
    ]  # fmt: skip
    message = strict(client(gateway).messages.create(model="gpt", max_tokens=50, messages=history, tools=[WEATHER]))
    assert text_of(message) == "Echo: Try again?"
    sent = fake_openai.last_request
    png: Any = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    file: Any = {"type": "file", "file": {"filename": "a.pdf", "file_data": f"data:application/pdf;base64,{pdf}"}}
    calls = [{"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Oslo"}'}}]
    # Thinking is dropped; the error is noted; the image a tool returned follows the tool message.
    assert sent is not None and sent.json["messages"] == [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": [png, {"type": "image_url", "image_url": {"url": url}}, text("Read this"), file]},
        {"role": "assistant", "content": "Looking.", "tool_calls": calls},
        {"role": "tool", "content": "Error: timeout", "tool_call_id": "toolu_1"},
        {"role": "user", "content": [png, text("Try again?")]},
    ]  # fmt: skip


def test_openai_max_tokens_stop_reason(gateway: GatewayProcess) -> None:
    message = strict(client(gateway).messages.create(model="gpt", max_tokens=2, messages=USER))
    assert message.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("finish", "reason"),
    [("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal")],
)
def test_every_finish_reason_maps(finish: str, reason: str) -> None:
    choice = {"index": 0, "message": {"role": "assistant", "content": "x"}, "finish_reason": finish}
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "prompt_tokens_details": {"cached_tokens": 4}}
    completion = {"id": "chatcmpl-abc", "model": "m", "choices": [choice], "usage": usage}
    message = Message.model_validate_json(to_message(json.dumps(completion).encode(), "m"))
    assert message.stop_reason == reason and message.id == "msg_abc"
    assert (message.usage.input_tokens, message.usage.cache_read_input_tokens) == (6, 4)


def test_errors_use_anthropic_envelope(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    fake_openai.push_fault(Fault.rate_limit(retry_after=3))
    with pytest.raises(anthropic.RateLimitError) as limited:
        client(gateway).messages.create(model="gpt-limited", max_tokens=50, messages=USER)
    assert limited.value.response.headers["retry-after"] == "3"
    assert ErrorResponse.model_validate(limited.value.body).error.type == "rate_limit_error"
    assert OPENAI_KEY not in limited.value.response.text
    with pytest.raises(anthropic.AuthenticationError) as refused:
        client(gateway, key="sk-wrong").messages.create(model="gpt", max_tokens=50, messages=USER)
    assert ErrorResponse.model_validate(refused.value.body).error.type == "authentication_error"
    with pytest.raises(anthropic.NotFoundError):
        client(gateway).messages.create(model="no-such-model", max_tokens=50, messages=USER)
    with pytest.raises(anthropic.BadRequestError) as bad:
        search: Any = {"type": "web_search_20250305", "name": "web_search"}
        client(gateway).messages.create(model="gpt", max_tokens=50, messages=USER, tools=[search])
    assert ErrorResponse.model_validate(bad.value.body).error.message.startswith("tools.0.type:")
    headers = {"x-api-key": MASTER, "content-type": "application/json"}
    for body in (b"{not json", json.dumps({"model": "gpt", "messages": USER}).encode()):
        response = httpx.post(f"{gateway.base_url}/v1/messages", content=body, headers=headers)
        assert response.status_code == 400
        error = ErrorResponse.model_validate_json(response.content)
        assert error.error.type == "invalid_request_error" and error.request_id == response.headers["request-id"]


def test_broken_stream_ends_with_an_error_event(fake_openai: FakeOpenAI, gateway: GatewayProcess) -> None:
    fake_openai.push_fault(Fault("cut", after_chunks=3))
    frames = raw_events(gateway, {"model": "gpt", "max_tokens": 50, "messages": USER, "stream": True})
    names = [name for name, _ in frames]
    assert names[0] == "message_start" and "content_block_delta" in names
    assert names[-1] == "error" and "message_stop" not in names and "message_delta" not in names
    assert ErrorResponse.model_validate(frames[-1][1]).error.type == "api_error"
    fake_openai.push_fault(Fault("cut", after_chunks=3))
    with (
        pytest.raises(anthropic.APIStatusError),
        client(gateway).messages.stream(model="gpt", max_tokens=50, messages=USER) as stream,
    ):
        list(stream)


def test_count_tokens_is_an_estimate(gateway: GatewayProcess) -> None:
    short = client(gateway).messages.count_tokens(model="gpt", messages=USER)
    longer = client(gateway).messages.count_tokens(model="gpt", messages=USER, system="x" * 400, tools=[WEATHER])
    assert MessageTokensCount.model_validate(short.to_dict()).input_tokens > 0
    assert longer.input_tokens > short.input_tokens + 100
    with pytest.raises(anthropic.NotFoundError):
        client(gateway).messages.count_tokens(model="nope", messages=USER)


# --- a fake Anthropic upstream: Anthropic in, Anthropic out (passed through natively) -----------------------


def test_anthropic_round_trip_keeps_cache_usage(fake_anthropic: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake_anthropic.set_cache(read=100, creation=20)
    message = strict(client(gateway).messages.create(model="claude", max_tokens=64, system="Be brief.", messages=USER))
    assert text_of(message) == "Echo: Tell me about gateways."
    assert message.model == "claude-haiku-4-5" and message.stop_reason == "end_turn"
    assert message.usage.cache_read_input_tokens == 100 and message.usage.cache_creation_input_tokens == 20
    sent = fake_anthropic.last_request
    assert sent is not None and sent.headers["x-api-key"] == ANTHROPIC_KEY
    # Anthropic in, Anthropic out: the client's body passes through (see test_native_passthrough), model renamed.
    assert sent.json["system"] == "Be brief." and sent.json["messages"] == USER
    assert sent.json["model"] == "claude-haiku-4-5"
    with client(gateway).messages.stream(model="claude", max_tokens=64, system="Be brief.", messages=USER) as stream:
        final = strict(stream.get_final_message())
    assert text_of(final) == text_of(message)
    assert final.usage == message.usage


def test_anthropic_round_trip_tools_and_thinking(fake_anthropic: FakeAnthropic, gateway: GatewayProcess) -> None:
    ask: dict[str, Any] = {"model": "claude", "max_tokens": 4096, "tools": [WEATHER], "tool_choice": {"type": "any"}}
    ask["messages"] = [{"role": "user", "content": "What is the weather?"}]
    with client(gateway).messages.stream(**ask) as stream:
        final = strict(stream.get_final_message())
    call = final.content[0]
    assert isinstance(call, ToolUseBlock) and call.input == {"city": "Echo: What is the weather?"}
    assert final.stop_reason == "tool_use"
    think: dict[str, Any] = {"model": "claude", "max_tokens": 4096, "messages": USER}
    think["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    thinking = strict(client(gateway).messages.create(**think))
    first = thinking.content[0]
    assert isinstance(first, ThinkingBlock) and first.thinking == "Thinking about: Tell me about gateways."
    assert [block.type for block in thinking.content] == ["thinking", "text"]
    sent = fake_anthropic.last_request
    assert sent is not None and sent.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    with client(gateway).messages.stream(**think) as stream:
        kinds = [e.delta.type for e in events(stream) if e.type == "content_block_delta"]
        streamed = strict(stream.get_final_message())
    assert "thinking_delta" in kinds and "text_delta" in kinds
    assert streamed.content == thinking.content and streamed.usage == thinking.usage


def test_wrong_method_on_messages_answers_in_anthropic_shape(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.base_url}/v1/messages")
    assert response.status_code == 405
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
