"""Gemini through the gateway: what it cannot honour is a 400, upstream errors map by meaning (with Google's
retry delay, never leaking the key), and broken streams end with an error event."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.gemini_upstream import CANNED, FakeGemini, Fault
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import KEY, MESSAGES, WRONG_KEY, post, sdk, stream_events


def test_requests_gemini_cannot_honour_are_400s(fake: FakeGemini, gateway: GatewayProcess) -> None:
    cases = [
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"logprobs": True}, "logprobs"),
        ({"modalities": ["text", "audio"]}, "modalities"),
        ({"reasoning_effort": "extreme"}, "reasoning_effort"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#"}}}]}, "tools"),
        ({"messages": [{"role": "system", "content": "only a system prompt"}]}, "messages"),
    ]
    for extra, param in cases:
        response = post(gateway, **{"messages": MESSAGES, **extra})
        assert response.status_code == 400, response.text
        assert response.json()["error"] | {"message": ""} == {
            "message": "", "type": "invalid_request_error", "param": param, "code": "invalid_request"
        }  # fmt: skip
    assert fake.requests == []
    upstream = post(gateway, messages=MESSAGES, temperature=3)  # the fake refuses it as Gemini does
    assert upstream.status_code == 400 and upstream.json()["error"]["code"] == "upstream_bad_request"
    assert "temperature" in upstream.json()["error"]["message"]


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (CANNED["internal"], 502, "upstream_error"),
        (CANNED["overloaded"], 503, "upstream_unavailable"),
        (CANNED["deadline"], 504, "upstream_timeout"),
        (CANNED["context"], 400, "context_length_exceeded"),
        (CANNED["precondition"], 502, "upstream_auth_error"),
        (Fault("drop_connection"), 503, "upstream_unavailable"),
    ],
)
def test_upstream_errors_map_by_meaning(
    fake: FakeGemini, gateway: GatewayProcess, fault: Fault, status: int, code: str
) -> None:
    for stream in (False, True):
        fake.push_fault(fault)
        response = post(gateway, messages=MESSAGES, stream=stream)
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code and KEY not in response.text


def test_rate_limit_carries_googles_retry_delay(fake: FakeGemini, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault.rate_limit("27s"))
    response = post(gateway, model="limited", messages=MESSAGES)
    assert response.status_code == 429 and response.headers["retry-after"] == "27"
    assert response.json()["error"]["code"] == "upstream_rate_limited"
    with pytest.raises(openai.RateLimitError):  # the deployment now cools down without calling Gemini
        sdk(gateway).chat.completions.create(model="limited", messages=MESSAGES)  # type: ignore[arg-type]
    assert len(fake.requests) == 1


def test_bad_credentials_and_unknown_models_never_leak_the_key(fake: FakeGemini, gateway: GatewayProcess) -> None:
    wrong = post(gateway, model="wrong", messages=MESSAGES)
    assert wrong.status_code == 502 and wrong.json()["error"]["code"] == "upstream_auth_error"
    assert fake.last.headers["x-goog-api-key"] == WRONG_KEY and WRONG_KEY not in wrong.text
    missing = post(gateway, model="missing", messages=MESSAGES)
    assert missing.status_code == 502 and missing.json()["error"]["code"] == "upstream_error"
    assert "palm-2 is not found" in missing.json()["error"]["message"]
    output = gateway.output()
    assert KEY not in output and WRONG_KEY not in output and "zyxwvu" not in output


@pytest.mark.parametrize("kind", ["cut", "malformed", "stream_error", "no_finish"])
def test_broken_streams_end_with_an_error_event(fake: FakeGemini, gateway: GatewayProcess, kind: Any) -> None:
    fake.push_fault(Fault(kind, after_events=2))
    payload = {"model": "gem", "messages": [{"role": "user", "content": "one two three four five six seven"}]}
    events = stream_events(gateway, done=False, **payload)
    assert "error" in events[-1] and events[-1]["error"]["code"] == "upstream_error"
    assert any(e.get("choices") and e["choices"][0]["delta"].get("content") for e in events[:-1])
    assert not any(e.get("usage") for e in events)
    if kind != "no_finish":  # broken before any content: an ordinary failed attempt, a plain error status
        fake.push_fault(Fault(kind, after_events=0))
        response = post(gateway, messages=MESSAGES, stream=True)
        assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_error"
