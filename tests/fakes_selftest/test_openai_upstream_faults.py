"""Injected faults reach the client as the documented errors or as broken transport, and disconnects are seen."""

from __future__ import annotations

import json
import time
from typing import Any

import openai
import pytest

from tests.fakes.openai_faults import Fault
from tests.fakes.openai_upstream import FakeOpenAI
from tests.fakes_selftest import raw

MODEL = "gpt-4o-mini"
CHAT: Any = {"model": MODEL, "messages": [{"role": "user", "content": "one two three four five"}]}
STREAM = {**CHAT, "stream": True}


def chat(client: openai.OpenAI, **kw: Any) -> Any:
    return client.chat.completions.create(model=MODEL, messages=CHAT["messages"], **kw)


# ---------------------------------------------------------------------------------- error statuses


@pytest.mark.parametrize("limit", ["requests", "tokens"])
def test_rate_limit(fake: FakeOpenAI, client: openai.OpenAI, limit: Any) -> None:
    fake.push_fault(Fault.rate_limit(retry_after=1.5, limit=limit))
    with pytest.raises(openai.RateLimitError) as caught:
        chat(client)
    error = caught.value
    assert error.code == "rate_limit_exceeded" and error.type == limit
    assert isinstance(error.body, dict)
    assert error.body["message"].startswith(f"Rate limit reached for {MODEL} in organization")
    headers = error.response.headers
    assert headers["retry-after"] == "1.5" and headers["retry-after-ms"] == "1500"
    assert headers[f"x-ratelimit-remaining-{limit}"] == "0" and headers[f"x-ratelimit-reset-{limit}"] == "1.5s"
    assert headers["x-request-id"].startswith("req_")


@pytest.mark.parametrize(
    ("fault", "exception", "status", "code", "message"),
    [
        (Fault.server_error(), openai.InternalServerError, 500, None, "The server had an error"),
        (Fault.overloaded(), openai.InternalServerError, 503, None, "The server is overloaded"),
        (Fault.context_length(), openai.BadRequestError, 400, "context_length_exceeded", "maximum context length"),
        (Fault.content_policy(), openai.BadRequestError, 400, "content_policy_violation", "safety system"),
        (Fault.invalid_prompt(), openai.BadRequestError, 400, "invalid_prompt", "Invalid prompt"),
        (Fault("status", status=401), openai.AuthenticationError, 401, "invalid_api_key", "Incorrect API key"),
        (
            Fault("status", status=429, error="insufficient_quota"),
            openai.RateLimitError,
            429,
            "insufficient_quota",
            "exceeded your current quota",
        ),
    ],
)
def test_error_faults_map_to_sdk_exceptions(
    client: openai.OpenAI,
    fake: FakeOpenAI,
    fault: Fault,
    exception: type[openai.APIStatusError],
    status: int,
    code: str | None,
    message: str,
) -> None:
    fake.push_fault(fault)
    with pytest.raises(exception) as caught:
        chat(client)
    assert caught.value.status_code == status and caught.value.code == code and message in caught.value.message
    assert chat(client).choices[0].finish_reason == "stop"  # the fault was used up


def test_times_path_and_custom_body(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault.server_error(times=2, path="/v1/embeddings"))
    fake.push_fault(
        Fault(
            "status",
            status=418,
            body={"error": {"message": "teapot", "type": "x", "param": None, "code": "tea"}},
            path="/v1/models",
        )
    )
    assert chat(client).choices  # chat requests do not match either fault
    for _ in range(2):
        with pytest.raises(openai.InternalServerError):
            client.embeddings.create(model="text-embedding-3-small", input="x")
    assert client.embeddings.create(model="text-embedding-3-small", input="x").data
    with pytest.raises(openai.APIStatusError) as caught:
        client.models.list()
    assert caught.value.status_code == 418 and caught.value.code == "tea"
    assert fake.pending_faults == []


def test_sdk_retries_honour_the_retry_headers(fake: FakeOpenAI) -> None:
    fake.push_fault(Fault.rate_limit(retry_after=0.05))
    with openai.OpenAI(api_key="sk-test-123", base_url=fake.base_url, max_retries=1) as sdk:
        assert chat(sdk).choices
    assert [r.status for r in fake.requests] == [429, 200]


# ------------------------------------------------------------------------------- transport faults


def test_slow_first_byte_and_latency(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("slow_first_byte", delay=0.3))
    slow = raw.request(f"{fake.base_url}/chat/completions", body=CHAT)
    assert slow.status == 200 and slow.elapsed >= 0.3
    fake.set_latency(0.2)
    started = time.monotonic()
    chat(client)
    assert time.monotonic() - started >= 0.2
    fake.reset()
    assert fake.latency == 0.0


def test_client_timeout_during_slow_first_byte_is_a_disconnect(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("slow_first_byte", delay=2.0))
    with pytest.raises(openai.APITimeoutError):
        chat(client, timeout=0.2)
    assert fake.wait_for_disconnects(1, timeout=2.0)
    assert fake.requests[-1].disconnected and not fake.requests[-1].completed


def test_drop_connection(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("drop_connection"))
    with pytest.raises(openai.APIConnectionError):
        chat(client)
    assert fake.disconnects == 0  # the fake hung up, not the client


def test_wrong_content_type(fake: FakeOpenAI) -> None:
    fake.push_fault(Fault("wrong_content_type"))
    reply = raw.request(f"{fake.base_url}/chat/completions", body=STREAM)
    assert reply.status == 200 and reply.headers["content-type"].startswith("text/html")
    assert reply.body.startswith(b"<html>")


def test_cut_stream(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("cut", after_chunks=3))
    reply = raw.request(f"{fake.base_url}/chat/completions", body=STREAM)
    assert reply.status == 200 and reply.error is not None  # chunked body never terminated
    events = reply.events()
    assert len(events) == 3 and "[DONE]" not in events
    assert fake.requests[-1].chunks_sent == 3 and not fake.requests[-1].completed

    fake.push_fault(Fault("cut", after_chunks=2))
    received = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in chat(client, stream=True):
            received.append(chunk)
    assert len(received) == 2
    assert fake.disconnects == 0


def test_cut_plain_body(fake: FakeOpenAI) -> None:
    fake.push_fault(Fault("cut"))
    reply = raw.request(f"{fake.base_url}/chat/completions", body=CHAT)
    assert reply.error is not None and reply.body.startswith(b'{"id":"chatcmpl-')


def test_malformed_chunk(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("malformed_chunk", after_chunks=2))
    events = raw.request(f"{fake.base_url}/chat/completions", body=STREAM).events()
    assert events[2] == "{not json" and events[-1] == "[DONE]"
    json.loads(events[1]) and json.loads(events[3])  # the stream carries on around the bad event
    fake.push_fault(Fault("malformed_chunk", after_chunks=1))
    with pytest.raises(json.JSONDecodeError):
        list(chat(client, stream=True))


def test_stall(fake: FakeOpenAI) -> None:
    fake.push_fault(Fault("stall", after_chunks=1, delay=0.3))
    reply = raw.request(f"{fake.base_url}/chat/completions", body=STREAM)
    assert reply.events()[-1] == "[DONE]" and max(reply.gaps) >= 0.25


def test_stream_error_event(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.push_fault(Fault("stream_error", after_chunks=2))
    events = raw.request(f"{fake.base_url}/chat/completions", body=STREAM).events()
    assert len(events) == 3 and json.loads(events[-1])["error"]["type"] == "server_error"
    fake.push_fault(Fault("stream_error", after_chunks=2))
    with pytest.raises(openai.APIError) as caught:
        list(chat(client, stream=True))
    assert "The server had an error" in caught.value.message


# ---------------------------------------------------------------------------------- disconnects


def test_client_disconnect_mid_stream_is_recorded(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.set_chunk_delay(0.05)
    first = raw.read_first_event_then_close(f"{fake.base_url}/chat/completions", STREAM)
    assert first.startswith(b"data: {")
    assert fake.wait_for_disconnects(1, timeout=2.0)
    record = fake.requests[-1]
    assert record.disconnected and not record.completed and record.chunks_sent < 7

    stream = chat(client, stream=True)
    next(iter(stream))
    stream.close()
    assert fake.wait_for_disconnects(2, timeout=2.0)


def test_finished_streams_are_not_disconnects(fake: FakeOpenAI, client: openai.OpenAI) -> None:
    fake.set_chunk_delay(0.01)
    assert len(list(chat(client, stream=True))) == 8
    # The client can read [DONE] a moment before the fake's thread records the response as complete.
    deadline = time.monotonic() + 2
    while not fake.requests[-1].completed and time.monotonic() < deadline:
        time.sleep(0.01)
    assert fake.requests[-1].completed and fake.disconnects == 0
