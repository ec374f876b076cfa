"""The gateway in front of a fake Bedrock Converse API, driven by the official OpenAI SDK: plain chat and the
exact wire request, streams, bearer keys, cache usage, reasoning and finish reasons."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.bedrock_upstream import ACCESS_KEY, FakeBedrock, Script
from tests.gateway_process import GatewayProcess
from tests.providers.bedrock.support import API_KEY, CLAUDE, LLAMA, TOKEN, chat, joined, stream


def test_plain_chat_and_the_exact_wire_request(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    reply = chat(gateway, temperature=0.3, top_p=0.9, max_tokens=50, stop=["zzz"], seed=7, user="u1")
    assert reply.choices[0].message.content == "You said: Hello there"
    assert reply.choices[0].finish_reason == "stop" and reply.model == CLAUDE
    assert reply.usage is not None and reply.usage.prompt_tokens > 0 and reply.usage.completion_tokens > 0
    sent = fake.last_request
    assert sent.raw_path == "/model/anthropic.claude-3-5-sonnet-20240620-v1:0/converse"
    assert sent.auth == "sigv4" and sent.headers["x-amz-security-token"] == TOKEN
    assert sent.headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/")
    assert "/us-east-1/bedrock/aws4_request" in sent.headers["authorization"]
    assert sent.json == {
        "system": [{"text": "Be brief."}],
        "messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
        "inferenceConfig": {"maxTokens": 50, "temperature": 0.3, "topP": 0.9, "stopSequences": ["zzz"]},
    }
    assert reply.id.startswith("chatcmpl-")


def test_stream_matches_plain_and_reports_usage(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    plain = chat(gateway)
    chunks = stream(gateway, stream_options={"include_usage": True})
    assert fake.last_request.raw_path.endswith("/converse-stream") and fake.last_request.auth == "sigv4"
    assert fake.last_request.headers["accept"] == "application/vnd.amazon.eventstream"
    assert chunks[0].choices[0].delta.role == "assistant"
    assert joined(chunks) == plain.choices[0].message.content
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == plain.usage.total_tokens
    # Without include_usage the usage chunk is the gateway's alone.
    assert all(c.choices for c in stream(gateway))


def test_bearer_api_key_and_default_max_tokens(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    reply = chat(gateway, model="llama")
    assert reply.model == LLAMA and fake.last_request.auth == "bearer"
    assert fake.last_request.headers["authorization"] == f"Bearer {API_KEY}"
    assert fake.last_request.json["inferenceConfig"] == {"maxTokens": 512}
    assert joined(stream(gateway, model="llama")) == reply.choices[0].message.content


# --- usage, reasoning, finish reasons -----------------------------------------------------------------------


def test_cache_usage_and_reasoning(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.script = Script(text="Answer.", reasoning="Let me think.", cache_read=100, cache_write=20)
    reply = chat(gateway)
    message, usage = reply.choices[0].message, reply.usage
    assert message.content == "Answer." and message.reasoning_content == "Let me think."  # type: ignore[attr-defined]
    # Bedrock's inputTokens counts only the uncached part; OpenAI's prompt_tokens counts all of it.
    assert usage.prompt_tokens > 120 and usage.prompt_tokens_details.cached_tokens == 100
    assert usage.prompt_tokens_details.model_extra["cache_creation_tokens"] == 20
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    chunks = stream(gateway, stream_options={"include_usage": True})
    assert joined(chunks, "reasoning_content") == "Let me think." and joined(chunks) == "Answer."
    assert chunks[-1].usage.prompt_tokens_details.cached_tokens == 100


@pytest.mark.parametrize(
    ("kwargs", "script", "finish"),
    [
        ({"max_tokens": 2}, None, "length"),
        ({"stop": "there"}, None, "stop"),
        ({}, Script(text="Blocked.", stop_reason="guardrail_intervened"), "content_filter"),
        ({}, Script(text="Filtered.", stop_reason="content_filtered"), "content_filter"),
        ({}, Script(text="Long.", stop_reason="model_context_window_exceeded"), "length"),
    ],
)
def test_finish_reasons(
    fake: FakeBedrock, gateway: GatewayProcess, kwargs: dict[str, Any], script: Script | None, finish: str
) -> None:
    fake.script = script
    assert chat(gateway, **kwargs).choices[0].finish_reason == finish
    assert stream(gateway, **kwargs)[-1].choices[0].finish_reason == finish
