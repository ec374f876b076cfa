"""A check on the fake Anthropic API itself: the official Anthropic SDK reads its answers, streams and errors."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, Fault
from tests.providers.anthropic.support import KEY, MODEL, SCHEMA


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
