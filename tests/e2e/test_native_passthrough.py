"""Same-format pass-through: Anthropic-format clients in front of an Anthropic upstream get the native body through.

The official ``anthropic`` SDK talks to a gateway process in front of the fake Anthropic upstream (and a fake OpenAI
upstream, for fallbacks and for OpenAI-format clients). What the SDK put on the wire is captured, and the fake's
recorded raw body must be exactly that with only the model renamed; answers come back as the upstream sent them,
while usage and cost still reach the response headers and the request log.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import httpx2
import openai
import pytest
from anthropic.types import Message, MessageParam, TextBlock, ThinkingBlock, ToolParam, ToolUseBlock
from anthropic.types.shared import ErrorResponse

from tests.fakes import anthropic_upstream
from tests.fakes.anthropic_upstream import FakeAnthropic, Fault, anthropic_error
from tests.fakes.openai_faults import Fault as OpenAIFault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.gateway_process import GatewayProcess

MASTER = "sk-gateway-master-0123456789"
OPENAI_KEY = "sk-upstream-openai-0123456789"
ANTHROPIC_KEY = "sk-ant-upstream-0123456789"
NATIVE = "claude-native"  # a group name found nowhere else in a body, so the rename is easy to spot
MODEL = "claude-haiku-4-5"
USER: list[MessageParam] = [{"role": "user", "content": "Tell me about gateways."}]
WEATHER: ToolParam = {
    "name": "get_weather",
    "description": "The weather in a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
# claude-haiku-4-5's price per million tokens (switchyard/accounting/prices.json)
PRICE = {"input": 1.00, "output": 5.00, "cache_read": 0.10, "cache_write": 1.25}


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=OPENAI_KEY) as upstream:
        yield upstream


@pytest.fixture(scope="module")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=ANTHROPIC_KEY) as upstream:
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
    claude = {"provider": "anthropic", "model": MODEL, "api_base": fake_anthropic.base_url, "api_key": ANTHROPIC_KEY}
    config = {
        "server": {"master_key": MASTER},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            NATIVE: {"deployments": [claude]},
            "gpt": {"deployments": [gpt]},
            # The Anthropic deployment first; the OpenAI one when it fails.
            "claude-then-gpt": {"strategy": "ordered", "num_retries": 1, "deployments": [claude, gpt]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


class Wire:
    """An SDK client that keeps the bodies it sends."""

    def __init__(self, gateway: GatewayProcess) -> None:
        self.sent: list[bytes] = []
        hooks = {"request": [lambda request: self.sent.append(request.read())]}
        self.client = anthropic.Anthropic(
            base_url=gateway.base_url,
            api_key=MASTER,
            max_retries=0,
            http_client=httpx2.Client(event_hooks=hooks),
        )

    def renamed(self) -> bytes:
        """The last body the SDK sent, with the group name replaced by the deployment's model: what must arrive."""
        expected, count = re.subn(rb'("model"\s*:\s*)"claude-native"', rb'\1"' + MODEL.encode() + b'"', self.sent[-1])
        assert count == 1, self.sent[-1]
        return expected


def client(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base_url, api_key=MASTER, max_retries=0)


def strict(message: Message) -> Message:
    return Message.model_validate(message.to_dict())


def text_of(message: Message) -> str:
    return "".join(block.text for block in message.content if isinstance(block, TextBlock))


def raw_frames(gateway: GatewayProcess, body: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
    headers = {"x-api-key": MASTER, "anthropic-version": "2023-06-01"}
    with httpx.stream("POST", f"{gateway.base_url}/v1/messages", json=body, headers=headers, timeout=30) as response:
        assert response.status_code == 200
        text = response.read().decode()
    frames = [frame.split("\n") for frame in text.split("\n\n") if frame]
    return text, [(lines[0].removeprefix("event: "), json.loads(lines[1].removeprefix("data: "))) for lines in frames]


def cost(usage: Any) -> float:
    read, created = usage.cache_read_input_tokens or 0, usage.cache_creation_input_tokens or 0
    total = usage.input_tokens * PRICE["input"] + read * PRICE["cache_read"] + created * PRICE["cache_write"]
    return (total + usage.output_tokens * PRICE["output"]) / 1_000_000


def logged(gateway: GatewayProcess, request_id: str) -> dict[str, Any]:
    """The request's row in the request log, once the batched writer has written it."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            db = sqlite3.connect(gateway.data_dir / "switchyard.db")
            db.row_factory = sqlite3.Row
            try:
                found = db.execute("SELECT * FROM request_logs WHERE request_id = ?", (request_id,)).fetchone()
            finally:
                db.close()
            if found is not None:
                return dict(found)
        except sqlite3.OperationalError:
            pass  # the table is not there yet
        time.sleep(0.1)
    raise AssertionError(f"{request_id} was never logged")


# --- the request reaches the upstream as the client wrote it ------------------------------------------------


def test_request_body_passes_through_byte_for_byte(
    fake_anthropic: FakeAnthropic, gateway: GatewayProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An upstream from the future accepts a member this gateway has never heard of.
    monkeypatch.setattr(anthropic_upstream, "FIELDS", anthropic_upstream.FIELDS | {"future_field"})
    wire = Wire(gateway)
    message = strict(
        wire.client.messages.create(
            model=NATIVE,
            max_tokens=64,
            system=[{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Tell me about gateways.", "cache_control": {"type": "ephemeral"}}
                    ],
                }
            ],
            extra_body={"top_k": 5, "future_field": {"nested": [1, 2.5, "é ✓"], "flag": None}},
        )
    )
    assert text_of(message) == "Echo: Tell me about gateways."
    sent = fake_anthropic.last_request
    assert sent is not None and sent.raw == wire.renamed()
    assert sent.json["top_k"] == 5 and sent.json["system"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.json["messages"][0]["content"][0]["cache_control"] == {"type": "ephemeral"}
    assert sent.json["future_field"] == {"nested": [1, 2.5, "é ✓"], "flag": None}
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY and MASTER not in sent.raw.decode()


def test_signed_thinking_survives_a_tool_loop(fake_anthropic: FakeAnthropic, gateway: GatewayProcess) -> None:
    wire = Wire(gateway)
    ask: dict[str, Any] = {"model": NATIVE, "max_tokens": 4096, "tools": [WEATHER]}
    ask["thinking"] = {"type": "enabled", "budget_tokens": 2048}
    question: list[Any] = [{"role": "user", "content": "Use get_weather for Paris"}]
    first = strict(wire.client.messages.create(**ask, messages=question))
    thought, call = first.content[0], first.content[1]
    assert isinstance(thought, ThinkingBlock) and thought.signature.startswith("sig")
    assert isinstance(call, ToolUseBlock) and first.stop_reason == "tool_use"
    history = [
        *question,
        {"role": "assistant", "content": [block.to_dict() for block in first.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "18C, sunny"}]},
    ]
    # Anthropic wants the signed thinking block back in front of the calls it made: the fake checks for it.
    second = strict(wire.client.messages.create(**ask, messages=history))
    assert text_of(second) == f"Results: {call.id}=18C, sunny" and second.stop_reason == "end_turn"
    sent = fake_anthropic.last_request
    assert sent is not None and sent.raw == wire.renamed()
    assert sent.json["messages"][1]["content"][0] == {
        "type": "thinking",
        "thinking": thought.thinking,
        "signature": thought.signature,
    }
    assert sent.json["thinking"] == {"type": "enabled", "budget_tokens": 2048}


# --- the answer comes back as the upstream sent it ---------------------------------------------------------


def test_plain_answer_is_native_with_cost_header(fake_anthropic: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake_anthropic.set_cache(read=100, creation=20)
    raw = client(gateway).messages.with_raw_response.create(
        model=NATIVE, max_tokens=64, messages=USER, stop_sequences=["about"]
    )
    message = strict(raw.parse())
    # A stop sequence the canonical form cannot report, and members only Anthropic sends.
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "about"
    assert text_of(message) == "Echo: Tell me "
    assert message.usage.cache_read_input_tokens == 100 and message.usage.cache_creation_input_tokens == 20
    assert message.usage.service_tier == "standard" and message.model == MODEL
    assert raw.headers["request-id"] == raw.headers["x-request-id"]
    assert float(raw.headers["x-switchyard-cost-usd"]) == pytest.approx(cost(message.usage), abs=1e-8)
    row = logged(gateway, raw.headers["x-request-id"])
    usage = message.usage
    assert row["prompt_tokens"] == usage.input_tokens + 120 and row["completion_tokens"] == usage.output_tokens
    assert row["status"] == 200 and row["stream"] == 0


def test_stream_is_native_and_its_usage_is_logged(fake_anthropic: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake_anthropic.set_cache(read=100, creation=20)
    plain = strict(client(gateway).messages.create(model=NATIVE, max_tokens=64, messages=USER))
    request_id = "native-stream-usage"
    with client(gateway).messages.stream(
        model=NATIVE, max_tokens=64, messages=USER, extra_headers={"x-request-id": request_id}
    ) as stream:
        text = "".join(stream.text_stream)
        final = strict(stream.get_final_message())
    assert text == text_of(final) == text_of(plain)
    assert final.usage.cache_read_input_tokens == 100 and final.usage.cache_creation_input_tokens == 20
    assert final.usage.output_tokens == plain.usage.output_tokens
    row = logged(gateway, request_id)
    prompt = final.usage.input_tokens + 120
    assert row["stream"] == 1 and row["status"] == 200 and row["ttft_ms"] is not None
    assert row["prompt_tokens"] == prompt and row["completion_tokens"] == final.usage.output_tokens
    assert row["cost_usd"] == pytest.approx(cost(final.usage), abs=1e-8)
    # The upstream's own event order (its ping after the first block opens), not the translator's.
    _, frames = raw_frames(gateway, {"model": NATIVE, "max_tokens": 64, "messages": USER, "stream": True})
    names = [name for name, _ in frames]
    assert names[:3] == ["message_start", "content_block_start", "ping"] and names[-1] == "message_stop"
    assert all(name == data["type"] for name, data in frames)


# --- streaming safety: failover before the first content, an error event after it -----------------------


@pytest.mark.parametrize("fault", [Fault("cut", after_chunks=5), Fault("stream_error", status=529, after_chunks=5)])
def test_mid_stream_failure_ends_with_an_error_event(
    fault: Fault, fake_anthropic: FakeAnthropic, gateway: GatewayProcess
) -> None:
    fake_anthropic.push_fault(fault)
    text, frames = raw_frames(gateway, {"model": NATIVE, "max_tokens": 64, "messages": USER, "stream": True})
    names = [name for name, _ in frames]
    assert "content_block_delta" in names and names[-1] == "error"
    assert "message_stop" not in names and "message_delta" not in names
    error = ErrorResponse.model_validate(frames[-1][1])
    assert error.error.type == ("api_error" if fault.kind == "cut" else "overloaded_error")
    assert ANTHROPIC_KEY not in text
    fake_anthropic.push_fault(fault)
    with (
        pytest.raises(anthropic.APIStatusError),
        client(gateway).messages.stream(model=NATIVE, max_tokens=64, messages=USER) as stream,
    ):
        list(stream)


def test_failure_before_content_fails_over_to_a_translated_deployment(
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, gateway: GatewayProcess
) -> None:
    fake_anthropic.push_fault(Fault("status", status=500))
    raw = client(gateway).messages.with_raw_response.create(model="claude-then-gpt", max_tokens=64, messages=USER)
    message = strict(raw.parse())
    assert text_of(message) == "Echo: Tell me about gateways." and message.model == "gpt-4o-mini"
    assert message.id.startswith("msg_") and message.stop_reason == "end_turn"
    assert raw.headers["x-switchyard-attempts"] == "2"
    sent = fake_openai.last_request
    assert sent is not None and sent.json["messages"] == USER and sent.json["model"] == "gpt-4o-mini"
    # Streamed: an in-band error after message_start, before any content, is still invisible to the client.
    fake_anthropic.push_fault(Fault("stream_error", status=529, after_chunks=1))
    with client(gateway).messages.stream(model="claude-then-gpt", max_tokens=64, messages=USER) as stream:
        final = strict(stream.get_final_message())
    assert text_of(final) == text_of(message) and final.model == "gpt-4o-mini"
    assert final.usage.output_tokens == message.usage.output_tokens > 0
    assert len(fake_anthropic.requests) == 2 and len(fake_openai.requests) == 2


# --- errors ------------------------------------------------------------------------------------------------


def test_context_window_errors_keep_anthropic_wording(
    fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI, gateway: GatewayProcess
) -> None:
    too_long = f"prompt is too long: 210000 tokens > 200000 maximum (key {ANTHROPIC_KEY})"
    for stream in (False, True):
        fake_anthropic.push_fault(Fault("status", status=400, body=anthropic_error("invalid_request_error", too_long)))
        with pytest.raises(anthropic.BadRequestError) as native:
            client(gateway).messages.create(model=NATIVE, max_tokens=64, messages=USER, stream=stream)
        error = ErrorResponse.model_validate(native.value.body)
        assert error.error.type == "invalid_request_error" and native.value.status_code == 400
        assert error.error.message == "prompt is too long: 210000 tokens > 200000 maximum (key [redacted])"
        assert ANTHROPIC_KEY not in native.value.response.text
    # A translated upstream's context-window error is worded as Anthropic words it.
    fake_openai.push_fault(OpenAIFault.context_length())
    with pytest.raises(anthropic.BadRequestError) as translated:
        client(gateway).messages.create(model="gpt", max_tokens=64, messages=USER)
    message = ErrorResponse.model_validate(translated.value.body).error.message
    assert message.startswith("prompt is too long: ") and "maximum context length" in message


# --- other clients are unaffected ----------------------------------------------------------------------------


def test_openai_clients_of_an_anthropic_group_are_translated(
    fake_anthropic: FakeAnthropic, gateway: GatewayProcess
) -> None:
    fake_anthropic.set_cache(read=100, creation=20)
    sdk = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=MASTER, max_retries=0)
    completion = sdk.chat.completions.create(
        model=NATIVE, max_tokens=64, messages=[{"role": "user", "content": "Tell me about gateways."}]
    )
    assert completion.object == "chat.completion" and completion.choices[0].finish_reason == "stop"
    assert completion.choices[0].message.content == "Echo: Tell me about gateways."
    usage = completion.usage
    assert usage is not None and usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 100
    sent = fake_anthropic.last_request
    assert sent is not None and sent.json["model"] == MODEL
    assert sent.json["messages"] == [{"role": "user", "content": [{"type": "text", "text": "Tell me about gateways."}]}]
    chunks = list(
        sdk.chat.completions.create(
            model=NATIVE,
            max_tokens=64,
            messages=[{"role": "user", "content": "Tell me about gateways."}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: Tell me about gateways."
    assert chunks[-1].usage is not None and chunks[-1].usage.prompt_tokens == usage.prompt_tokens
