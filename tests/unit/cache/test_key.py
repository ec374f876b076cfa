"""The exact-cache key: equal for requests that must get the same answer, different for any that may not."""

from __future__ import annotations

import json
from typing import Any

import pytest

from switchyard.cache.key import request_key

BASE: dict[str, Any] = {
    "model": "gpt",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is a gateway?"}],
    "temperature": 0,
}


def key(body: dict[str, Any], namespace: str = "key:a", mode: str = "openai:plain") -> str:
    return request_key(namespace, json.dumps(body).encode(), mode).exact


def test_object_key_order_and_whitespace_do_not_matter() -> None:
    reordered = {"temperature": 0, "messages": [{"content": "Be brief.", "role": "system"}, BASE["messages"][1]]}
    reordered["model"] = "gpt"
    spaced = json.dumps(BASE, indent=4).encode()
    assert key(reordered) == key(BASE) == request_key("key:a", spaced, "openai:plain").exact


@pytest.mark.parametrize(
    "extra",
    [
        {"user": "alice"},
        {"metadata": {"trace": "1"}},
        {"stream_options": {"include_usage": True}},
        {"store": True},
        {"n": 1},
        {"seed": None},
        {"temperature": 0.0},
    ],
)
def test_fields_that_cannot_change_the_answer_are_ignored(extra: dict[str, Any]) -> None:
    assert key({**BASE, **extra}) == key(BASE)


@pytest.mark.parametrize(
    "change",
    [
        {"model": "gpt-4o"},
        {"messages": [BASE["messages"][0], {"role": "user", "content": "What is a router?"}]},
        {"messages": [{"role": "system", "content": "Be long."}, BASE["messages"][1]]},
        {"temperature": 0.5},
        {"top_p": 0.9},
        {"n": 2},
        {"seed": 7},
        {"stop": ["\n"]},
        {"max_tokens": 5},
        {"max_completion_tokens": 5},
        {"presence_penalty": 0.1},
        {"frequency_penalty": 0.1},
        {"logit_bias": {"50256": -100}},
        {"logprobs": True},
        {"response_format": {"type": "json_object"}},
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"tool_choice": "required"},
        {"parallel_tool_calls": False},
        {"reasoning_effort": "low"},
        {"top_k": 3},  # not modelled by the gateway but forwarded: it still counts
    ],
)
def test_every_output_affecting_field_changes_the_key(change: dict[str, Any]) -> None:
    assert key({**BASE, **change}) != key(BASE)


def test_tenant_namespace_and_mode_are_part_of_the_key() -> None:
    assert key(BASE, namespace="key:a") != key(BASE, namespace="key:b")
    assert key(BASE, namespace="key:a") != key(BASE, namespace="key:a\0team-notes")
    assert key(BASE, mode="openai:plain") != key(BASE, mode="openai:stream")
    assert key(BASE, mode="openai:plain") != key(BASE, mode="anthropic.messages:plain")


def test_semantic_split_compares_the_last_user_message_only() -> None:
    def split(body: dict[str, Any]) -> tuple[str | None, str | None]:
        found = request_key("key:a", json.dumps(body).encode(), "openai:plain", semantic=True)
        return found.semantic_namespace, found.semantic_text

    namespace, text = split(BASE)
    assert text == "What is a gateway?"
    paraphrase = {**BASE, "messages": [BASE["messages"][0], {"role": "user", "content": "What's a gateway?"}]}
    assert split(paraphrase) == (namespace, "What's a gateway?")
    other_system = {**BASE, "messages": [{"role": "system", "content": "Be long."}, BASE["messages"][1]]}
    assert split(other_system)[0] != namespace
    assert split({**BASE, "temperature": 0.3})[0] != namespace
    parts = {
        **BASE,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}],
    }
    assert split(parts)[1] == "a\nb"
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    assert split({**BASE, "messages": [{"role": "user", "content": [image]}]}) == (None, None)


def test_an_operator_can_let_the_system_prompt_or_the_earlier_turns_differ() -> None:
    def namespace(body: dict[str, Any], must_match: frozenset[str]) -> str | None:
        found = request_key("key:a", json.dumps(body).encode(), "openai:plain", True, must_match)
        return found.semantic_namespace

    question = {"role": "user", "content": "What is a gateway?"}
    history = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    plain = {**BASE, "messages": [{"role": "system", "content": "Be brief."}, question]}
    chatty = {**BASE, "messages": [{"role": "system", "content": "Be brief."}, *history, question]}
    other_system = {**BASE, "messages": [{"role": "developer", "content": "Be long."}, question]}
    everything, system_only, nothing = frozenset({"system", "history"}), frozenset({"system"}), frozenset()
    assert namespace(chatty, everything) != namespace(plain, everything)
    assert namespace(chatty, system_only) == namespace(plain, system_only)
    assert namespace(other_system, system_only) != namespace(plain, system_only)
    assert namespace(other_system, nothing) == namespace(plain, nothing) == namespace(chatty, nothing)
    # Parameters and tools always count.
    assert namespace({**plain, "temperature": 0.7}, nothing) != namespace(plain, nothing)
    # Anthropic's Messages API puts the system prompt beside the messages.
    anthropic = {"model": "m", "max_tokens": 64, "messages": [question]}
    with_system = {**anthropic, "system": "Be brief."}
    assert namespace(with_system, everything) != namespace(anthropic, everything)
    assert namespace(with_system, nothing) == namespace(anthropic, nothing)
