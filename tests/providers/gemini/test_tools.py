"""Gemini through the gateway: tool calls (parallel, streamed, forced), tool results by function name, Gemini 3
thought signatures, and vision."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest

from tests.fakes.gemini_upstream import SKIP_SIGNATURE, FakeGemini
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import CALL_ID, MESSAGES, PNG, SEARCH_SCHEMA, TOOLS, post, sdk


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
