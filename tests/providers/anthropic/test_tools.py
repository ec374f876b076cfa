"""Anthropic through the gateway: tool calls (plain, streamed, parallel, forced), tool results and vision."""

from __future__ import annotations

import base64
import json

from switchyard.providers.anthropic._request import tool_id
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.gateway_process import GatewayProcess
from tests.providers.anthropic.support import MESSAGES, PIXEL, PNG, SCHEMA, TOOLS, collect, post, sdk, sent


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
