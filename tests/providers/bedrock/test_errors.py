"""Bedrock through the gateway: upstream errors map to the error tree without leaking secrets, broken streams
end in an error, and what Bedrock cannot honour is refused before any upstream call."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.bedrock_upstream import FakeBedrock, Fault
from tests.gateway_process import GatewayProcess
from tests.providers.bedrock.support import MESSAGES, assert_no_secret, chat, post, sdk, stream


@pytest.mark.parametrize(
    ("exception", "message", "status", "code"),
    [
        ("ValidationException", "Input is too long for requested model.", 400, "context_length_exceeded"),
        ("ValidationException", "The model returned the following errors: bad field", 400, "upstream_bad_request"),
        ("AccessDeniedException", None, 502, "upstream_auth_error"),
        ("ModelTimeoutException", None, 504, "upstream_timeout"),
        ("ServiceUnavailableException", None, 503, "upstream_unavailable"),
        ("ModelNotReadyException", None, 503, "upstream_unavailable"),
        ("InternalServerException", None, 502, "upstream_error"),
        ("ModelErrorException", None, 502, "upstream_error"),
        ("ResourceNotFoundException", None, 502, "upstream_error"),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_upstream_errors_map_to_the_error_tree(
    fake: FakeBedrock,
    gateway: GatewayProcess,
    exception: str,
    message: str | None,
    status: int,
    code: str,
    streamed: bool,
) -> None:
    fake.push_fault(Fault("error", exception=exception, message=message))
    response = post(gateway, stream=streamed)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code
    assert_no_secret(response.text)


def test_throttling_is_a_429_with_retry_after(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("error", exception="ThrottlingException", headers={"Retry-After": "2"}))
    response = post(gateway, model="cool-0")
    assert response.status_code == 429 and response.json()["error"]["code"] == "upstream_rate_limited"
    assert response.headers["retry-after"] == "2"
    with pytest.raises(openai.RateLimitError):
        chat(gateway, model="cool-0")  # the deployment is cooling down now


def test_bad_credentials_and_unknown_models(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    response = post(gateway, model="wrong-secret")
    assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_error"
    assert fake.last_request.auth == "InvalidSignatureException"
    assert "not-the-secret" not in response.text and "not-the-secret" not in gateway.output()
    missing = post(gateway, model="unknown-model")
    assert missing.status_code == 400 and "model identifier is invalid" in missing.json()["error"]["message"]
    assert_no_secret(gateway.output())


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault("exception_event", exception="throttlingException"), 429, "upstream_rate_limited"),
        (
            Fault("exception_event", exception="validationException", message="Input is too long for requested model."),
            400,
            "context_length_exceeded",
        ),
        (Fault("exception_event", exception="modelStreamErrorException"), 502, "upstream_error"),
        (Fault("corrupt"), 502, "upstream_error"),
        (Fault("cut", after_frames=1), 502, "upstream_error"),
        (Fault("wrong_content_type"), 502, "upstream_error"),
    ],
)
def test_stream_broken_before_content_is_an_error_status(
    fake: FakeBedrock, gateway: GatewayProcess, fault: Fault, status: int, code: str
) -> None:
    fake.push_fault(fault)
    response = post(gateway, model="cool-1" if status == 429 else "spare", stream=True)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code


@pytest.mark.parametrize(
    "fault",
    [
        Fault("exception_event", exception="modelStreamErrorException", after_frames=3),
        Fault("exception_event", exception="throttlingException", after_frames=3),
        Fault("exception_event", exception="validationException", message="Bad input", after_frames=3),
        Fault("corrupt", after_frames=3),
        Fault("cut", after_frames=3),
        Fault("end_early", after_frames=3),
        Fault("drop", after_frames=3),
    ],
)
def test_stream_broken_after_content_ends_with_an_error_event(
    fake: FakeBedrock, gateway: GatewayProcess, fault: Fault
) -> None:
    fake.push_fault(fault)
    # An in-band 429 still cools the deployment down: those cases get a deployment of their own.
    group = "cool-2" if fault.exception == "throttlingException" else "spare"
    body = {"model": group, "messages": MESSAGES, "stream": True}
    with httpx.stream("POST", f"{gateway.base_url}/v1/chat/completions", json=body, timeout=30) as response:
        assert response.status_code == 200
        events = [line[6:] for line in response.iter_lines() if line.startswith("data: ")]
    assert "[DONE]" not in events and "error" in json.loads(events[-1])
    assert len(events) >= 2  # the good chunks before the break reached the client
    fake.push_fault(fault)
    with pytest.raises(openai.APIError):
        stream(gateway, model="cool-3" if group == "cool-2" else group)


# --- what is refused before any upstream call ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"n": 2}, "n"),
        ({"logprobs": True}, "logprobs"),
        ({"presence_penalty": 0.5}, "presence_penalty"),
        ({"temperature": 1.5}, "temperature"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
    ],
)
def test_unsupported_parameters_are_a_400(fake: FakeBedrock, gateway: GatewayProcess, extra: Any, param: str) -> None:
    response = post(gateway, **extra)
    assert response.status_code == 400 and response.json()["error"]["param"] == param
    assert fake.requests == []


def test_embeddings_are_a_400(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError):
        sdk(gateway).embeddings.create(model="claude", input="hi")
    assert fake.requests == []


def test_a_dropped_connection_is_unavailable(fake: FakeBedrock, gateway: GatewayProcess) -> None:
    fake.push_fault(Fault("drop"))
    response = post(gateway, model="spare")
    assert response.status_code == 503 and response.json()["error"]["code"] == "upstream_unavailable"
