"""Anthropic through the gateway: what it cannot honour is a clear 400, upstream errors map to typed errors,
and broken streams end in an error."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic, Fault, anthropic_error
from tests.gateway_process import GatewayProcess
from tests.providers.anthropic.support import AUDIO, KEY, MESSAGES, WRONG, collect, post, sdk


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"temperature": 1.5}, "temperature"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"reasoning_effort": "low", "response_format": {"type": "json_object"}}, "response_format"),
        ({"messages": [{"role": "user", "content": [AUDIO]}]}, "messages"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "ftp://x/y"}}]}]},
         "messages"),
    ],
)  # fmt: skip
def test_what_anthropic_cannot_honour_is_a_clear_400(
    fake: FakeAnthropic, gateway: GatewayProcess, body: dict[str, Any], param: str
) -> None:
    response = post(gateway, **{"messages": MESSAGES, **body})
    assert response.status_code == 400 and response.json()["error"]["param"] == param, response.text
    assert fake.requests == []


def test_embeddings_are_a_clear_400(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        sdk(gateway).embeddings.create(model="claude", input="hi")
    assert caught.value.status_code == 400 and fake.requests == []


@pytest.mark.parametrize(
    ("group", "fault", "status", "code", "param"),
    [
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "stop_sequences: each stop sequence must contain non-whitespace")),
         400, "upstream_bad_request", "stop"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum")),
         400, "context_length_exceeded", "messages"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "Output blocked by content filtering policy")),
         400, "content_policy_violation", "messages"),
        ("claude", Fault("status", status=400, body=anthropic_error(
            "invalid_request_error", "Your credit balance is too low to access the Anthropic API.")),
         502, "upstream_auth_error", None),
        ("claude", Fault("status", status=403), 502, "upstream_auth_error", None),
        ("claude", Fault("status", status=404, body=anthropic_error("not_found_error", "model: claude-x")),
         502, "upstream_not_found", None),
        ("claude", Fault("status", status=413), 413, "request_too_large", "messages"),
        ("limited", Fault("status", status=429, retry_after=7), 429, "upstream_rate_limited", None),
        ("claude", Fault("status", status=500), 502, "upstream_error", None),
        ("claude", Fault("status", status=529), 503, "upstream_unavailable", None),
        ("wrong", None, 502, "upstream_auth_error", None),
    ],
)  # fmt: skip
def test_upstream_errors_map_to_typed_errors(
    fake: FakeAnthropic,
    gateway: GatewayProcess,
    group: str,
    fault: Fault | None,
    status: int,
    code: str,
    param: str | None,
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    response = post(gateway, model=group, messages=MESSAGES)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"] == code and error.get("param") == param
    assert KEY not in response.text and WRONG not in response.text
    assert KEY not in gateway.output() and WRONG not in gateway.output()
    if code == "upstream_rate_limited":
        assert response.headers.get("retry-after") == "7"
    if fault is not None and fault.body is not None:
        assert fault.body["error"]["message"] in error["message"]


def test_context_window_from_the_upstream_itself(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake.context_window = 50
    try:
        response = post(gateway, messages=[{"role": "user", "content": "word " * 200}])
    finally:
        fake.context_window = 200_000
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"
    assert "prompt is too long" in response.json()["error"]["message"]


@pytest.mark.parametrize("kind", ["cut", "malformed_chunk", "stream_error"])
def test_broken_streams_raise(fake: FakeAnthropic, gateway: GatewayProcess, kind: str) -> None:
    fake.push_fault(Fault(kind, status=529, after_chunks=5))  # type: ignore[arg-type]
    with pytest.raises(openai.APIError):
        collect(sdk(gateway).chat.completions.create(model="claude", messages=MESSAGES, stream=True))  # type: ignore[arg-type]


def test_error_event_before_any_content_is_an_http_error(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("stream_error", status=529, after_chunks=1))
    response = post(gateway, messages=MESSAGES, stream=True)
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"
