"""What may be cached: deterministic requests by default, answers with tool calls only when allowed."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from switchyard.cache.policy import CachePolicy, calls_tools, resolve
from switchyard.config.cache import CacheSettings, GroupCacheSettings
from switchyard.types.chat import ChatRequest

TOOLS = [{"type": "function", "function": {"name": "book"}}]


def request(**fields: Any) -> ChatRequest:
    body = {"model": "gpt", "messages": [{"role": "user", "content": "hi"}], **fields}
    return msgspec.json.decode(json.dumps(body), type=ChatRequest)


def answer(tool_calls: list[Any] | None) -> bytes:
    message = {"role": "assistant", "content": None if tool_calls else "ok", "tool_calls": tool_calls}
    return json.dumps({"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}).encode()


@pytest.mark.parametrize(
    ("fields", "cacheable"),
    [
        ({"temperature": 0}, True),
        ({"temperature": 0, "n": 3}, True),
        ({"seed": 1}, True),
        ({"seed": 1, "n": 1}, True),
        ({"seed": 1, "n": 2}, False),
        ({}, False),
        ({"temperature": 0.7}, False),
    ],
)
def test_only_deterministic_requests_by_default(fields: dict[str, Any], cacheable: bool) -> None:
    assert CachePolicy().cacheable(request(**fields)) is cacheable
    assert CachePolicy(only_deterministic=False).cacheable(request(**fields)) is True
    assert CachePolicy(enabled=False).cacheable(request(**fields)) is False


def test_answers_calling_tools_are_not_stored_unless_allowed() -> None:
    call = [{"id": "c1", "type": "function", "function": {"name": "book", "arguments": "{}"}}]
    with_tools = request(temperature=0, tools=TOOLS)
    assert calls_tools(answer(call)) and not calls_tools(answer(None)) and calls_tools(b"not json")
    assert not CachePolicy().storable_reply(with_tools, answer(call), None)
    assert CachePolicy().storable_reply(with_tools, answer(None), None)
    assert CachePolicy(cache_tool_calls=True).storable_reply(with_tools, answer(call), None)
    # A native format we do not read: offering tools is enough to refuse.
    assert not CachePolicy().storable_reply(with_tools, b"{}", "anthropic.messages")
    assert CachePolicy().storable_reply(request(temperature=0), b"{}", "anthropic.messages")
    assert not CachePolicy().storable_stream(with_tools, True, None)
    assert CachePolicy().storable_stream(with_tools, False, None)


def test_group_overrides_apply_on_top_of_the_global_settings() -> None:
    settings = CacheSettings(enabled=True, ttl_s=60)
    assert resolve(settings, None) == CachePolicy(True, 60, True, False)
    override = GroupCacheSettings(enabled=False, ttl_s=5, only_deterministic=False, cache_tool_calls=True)
    assert resolve(settings, override) == CachePolicy(False, 5, False, True)
    assert resolve(CacheSettings(), GroupCacheSettings(enabled=True)).enabled
