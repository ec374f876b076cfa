"""Bedrock through the gateway: tool calls, tool choice and tool results; vision and JSON mode."""

from __future__ import annotations

import base64
import json
from typing import Any

import openai
import pytest

from tests.fakes.bedrock_upstream import FakeBedrock
from tests.gateway_process import GatewayProcess
from tests.providers.bedrock.support import PIXEL, PNG, TOOLS, chat, joined, stream, streamed_calls


def test_parallel_tool_calls_plain_and_streamed(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "Please search and lookup cats"}]
    reply = chat(gateway, messages=ask, tools=TOOLS, tool_choice="auto")
    calls = reply.choices[0].message.tool_calls
    assert reply.choices[0].finish_reason == "tool_calls" and [c.function.name for c in calls] == ["search", "lookup"]
    assert all(json.loads(c.function.arguments) == {"q": "example"} and c.id.startswith("tooluse_") for c in calls)
    assert fake.last_request.json["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": t["function"]["name"],
                    "description": t["function"]["description"],
                    "inputSchema": {"json": t["function"]["parameters"]},
                }
            }
            for t in TOOLS
        ],
        "toolChoice": {"auto": {}},
    }
    chunks = stream(gateway, messages=ask, tools=TOOLS)
    assembled = streamed_calls(chunks)
    assert [assembled[i]["name"] for i in (0, 1)] == ["search", "lookup"]
    assert all(json.loads(call["arguments"]) == {"q": "example"} for call in assembled.values())
    heads = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or [] if d.id]
    assert all(h.type == "function" and h.function.arguments == "" for h in heads)
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


@pytest.mark.parametrize(
    ("choice", "wire"),
    [
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "lookup"}}, {"tool": {"name": "lookup"}}),
        ("none", None),
    ],
)
def test_tool_choice(fake: FakeBedrock, gateway: GatewayProcess, choice: Any, wire: Any) -> None:
    reply = chat(gateway, tools=TOOLS, tool_choice=choice)
    sent = fake.last_request.json
    if wire is None:
        assert "toolConfig" not in sent and reply.choices[0].message.tool_calls is None
    else:
        assert sent["toolConfig"]["toolChoice"] == wire
        assert reply.choices[0].message.tool_calls[0].function.name == ("lookup" if "tool" in wire else "search")


def test_tool_results_round_trip_grouped_into_one_user_turn(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    history = [
        {"role": "user", "content": "search and lookup"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "tooluse_a", "type": "function", "function": {"name": "search", "arguments": '{"q": "x"}'}},
                {"id": "tooluse_b", "type": "function", "function": {"name": "lookup", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "tooluse_a", "content": "found 3"},
        {"role": "tool", "tool_call_id": "tooluse_b", "content": [{"type": "text", "text": "none"}]},
        {"role": "user", "content": "summarise"},
    ]
    reply = chat(gateway, messages=history, tools=TOOLS)
    assert reply.choices[0].message.content == "You said: summarise Tool results: found 3 | none."
    assert fake.last_request.json["messages"] == [
        {"role": "user", "content": [{"text": "search and lookup"}]},
        {
            "role": "assistant",
            "content": [
                {"toolUse": {"toolUseId": "tooluse_a", "name": "search", "input": {"q": "x"}}},
                {"toolUse": {"toolUseId": "tooluse_b", "name": "lookup", "input": {}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "tooluse_a", "content": [{"text": "found 3"}]}},
                {"toolResult": {"toolUseId": "tooluse_b", "content": [{"text": "none"}]}},
                {"text": "summarise"},
            ],
        },
    ]
    # tool_choice "none" cannot be honoured once tool blocks are in the conversation (Converse needs toolConfig).
    with pytest.raises(openai.BadRequestError) as caught:
        chat(gateway, messages=history, tools=TOOLS, tool_choice="none")
    assert caught.value.body["param"] == "tool_choice"  # type: ignore[index]


# --- vision and JSON mode -----------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["data", "http"])
def test_vision_sends_image_bytes(fake: FakeBedrock, gateway: GatewayProcess, image_server: str, source: str) -> None:
    url = PIXEL if source == "data" else image_server
    content = [{"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]
    reply = chat(gateway, messages=[{"role": "user", "content": content}])
    assert reply.choices[0].message.content == f"You said: What is this? I see 1 image(s): png {len(PNG)} bytes."
    image = fake.last_request.json["messages"][0]["content"][1]["image"]
    assert image["format"] == "png" and base64.b64decode(image["source"]["bytes"]) == PNG


def test_json_mode_uses_a_forced_tool(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "n": {"type": "integer"}}}
    fmt = {"type": "json_schema", "json_schema": {"name": "place", "schema": {**schema, "required": ["city", "n"]}}}
    reply = chat(gateway, response_format=fmt)
    assert json.loads(reply.choices[0].message.content) == {"city": "example", "n": 1}
    assert reply.choices[0].finish_reason == "stop" and reply.choices[0].message.tool_calls is None
    tool_config = fake.last_request.json["toolConfig"]
    assert tool_config["toolChoice"] == {"tool": {"name": "json_response"}}
    assert tool_config["tools"][0]["toolSpec"]["inputSchema"]["json"]["required"] == ["city", "n"]
    chunks = stream(gateway, response_format=fmt)
    assert json.loads(joined(chunks)) == {"city": "example", "n": 1}
    assert not streamed_calls(chunks) and chunks[-1].choices[0].finish_reason == "stop"
    assert json.loads(chat(gateway, response_format={"type": "json_object"}).choices[0].message.content) == {}
    with pytest.raises(openai.BadRequestError):
        chat(gateway, response_format={"type": "json_object"}, tools=TOOLS)
