"""OpenAI-style upstream errors map onto the typed tree; keys never leak into messages."""

from __future__ import annotations

import json

import pytest

from switchyard import errors
from switchyard.providers._openai_compat import upstream_error
from switchyard.providers.base import retry_after_seconds


def body(message: str, code: str | None = None, kind: str = "invalid_request_error", param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}}).encode()


@pytest.mark.parametrize(
    ("status", "payload", "expected", "client_status"),
    [
        (401, body("Incorrect API key provided: sk-abc", "invalid_api_key"), errors.UpstreamAuthError, 502),
        (429, body("Rate limit reached", "rate_limit_exceeded", "requests"), errors.UpstreamRateLimitError, 429),
        (
            400,
            body("This model's maximum context length is 8192 tokens", "context_length_exceeded", param="messages"),
            errors.ContextWindowExceededError,
            400,
        ),
        (400, body("Your request was rejected", "content_policy_violation"), errors.ContentPolicyError, 400),
        (400, body("Invalid value for 'temperature'", None, param="temperature"), errors.UpstreamBadRequestError, 400),
        (500, body("The server had an error", None, "server_error"), errors.UpstreamError, 502),
        (503, body("The engine is currently overloaded", None, "server_error"), errors.UpstreamUnavailableError, 503),
        (504, b"<html>gateway timeout</html>", errors.UpstreamTimeoutError, 504),
        (502, b"", errors.UpstreamError, 502),
    ],
)
def test_status_and_code_mapping(
    status: int, payload: bytes, expected: type[errors.SwitchyardError], client_status: int
) -> None:
    error = upstream_error("openai", status, {}, payload, "sk-abc")
    assert type(error) is expected
    assert error.status == client_status
    assert "sk-abc" not in error.message


def test_upstream_message_is_kept_but_secret_is_scrubbed() -> None:
    error = upstream_error("openai", 400, {}, body("bad key sk-live-secret in field", None), "sk-live-secret")
    assert "[redacted]" in error.message and "sk-live-secret" not in error.message


def test_rate_limit_carries_retry_after() -> None:
    error = upstream_error("openai", 429, {"retry-after": "7"}, body("slow", "rate_limit_exceeded"), None)
    assert error.retry_after == 7


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after": "3"}, 3.0),
        ({"x-ratelimit-reset-requests": "6m0s"}, 360.0),
        ({"x-ratelimit-reset-tokens": "20ms"}, 0.02),
        ({}, None),
        ({"retry-after": "soon"}, None),
    ],
)
def test_retry_after_parsing(headers: dict[str, str], seconds: float | None) -> None:
    assert retry_after_seconds(headers) == (pytest.approx(seconds) if seconds is not None else None)
