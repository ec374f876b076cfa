"""Bad input gets the OpenAI error envelope with the right status: never a 500, never a hang."""

from __future__ import annotations

import socket

import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess

MESSAGES = [{"role": "user", "content": "hi"}]


def envelope(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert isinstance(error["message"], str) and error["message"]
    return error  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (b'{"messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "demo"}', "messages"),
        (b'{"model": "demo", "messages": []}', "messages"),
        (b'{"model": "demo", "messages": [{"role": "wizard", "content": "x"}]}', "messages[0].role"),
        (b'{"model": 7, "messages": [{"role": "user", "content": "x"}]}', "model"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "n": 0}', "n"),
        (b'{"model": "demo", "messages": [{"role": "user", "content": "x"}], "stream": "yes"}', "stream"),
    ],
)
def test_malformed_chat_bodies_are_400(demo_gateway: GatewayProcess, body: bytes, param: str | None) -> None:
    response = httpx.post(
        f"{demo_gateway.base_url}/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    error = envelope(response)
    assert error["type"] == "invalid_request_error"
    if param is not None:
        assert error["param"] == param
    assert response.headers["x-request-id"]


def test_malformed_embeddings_are_400(demo_gateway: GatewayProcess) -> None:
    for body in ({"model": "demo"}, {"model": "demo", "input": []}, {"model": "demo", "input": ["a", 1]}):
        response = httpx.post(f"{demo_gateway.base_url}/v1/embeddings", json=body)
        assert response.status_code == 400, body
        envelope(response)


def test_unknown_model_is_404_model_not_found(demo_gateway: GatewayProcess) -> None:
    api = openai.OpenAI(base_url=f"{demo_gateway.base_url}/v1", api_key="x", max_retries=0)
    with pytest.raises(openai.NotFoundError) as caught:
        api.chat.completions.create(model="gpt-nope", messages=MESSAGES)  # type: ignore[arg-type]
    assert caught.value.code == "model_not_found"


def test_unknown_path_and_wrong_method(demo_gateway: GatewayProcess) -> None:
    missing = httpx.get(f"{demo_gateway.base_url}/v1/nothing")
    assert missing.status_code == 404 and envelope(missing)["code"] == "not_found"
    wrong = httpx.get(f"{demo_gateway.base_url}/v1/chat/completions")
    assert wrong.status_code == 405 and envelope(wrong)["code"] == "method_not_allowed"
    assert wrong.headers["allow"] == "POST"


def test_oversized_body_is_413(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(
        {
            "server": {"max_request_bytes": 2048},
            "model_groups": {"demo": {"deployments": [{"provider": "demo", "model": "d"}]}},
        }
    )
    big = {"model": "demo", "messages": [{"role": "user", "content": "x" * 4096}]}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=big)
    assert response.status_code == 413
    assert envelope(response)["code"] == "request_too_large"
    # Without a Content-Length (chunked upload), the limit still holds.
    chunked = httpx.post(
        f"{gateway.base_url}/v1/chat/completions", content=iter([b'{"model":"demo","messages":"', b"x" * 4096, b'"}'])
    )
    assert chunked.status_code == 413
    small = httpx.post(f"{gateway.base_url}/v1/chat/completions", json={"model": "demo", "messages": MESSAGES})
    assert small.status_code == 200


def test_master_key_is_required_when_configured(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(env={"SWITCHYARD_MASTER_KEY": "sk-master-123456"})
    url = f"{gateway.base_url}/v1"
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url, api_key="sk-wrong", max_retries=0).chat.completions.create(
            model="demo",
            messages=MESSAGES,  # type: ignore[arg-type]
        )
    # Auth comes before parsing: a keyless caller learns nothing about the body's validity.
    keyless = httpx.post(f"{url}/chat/completions", content=b"{bad json")
    assert keyless.status_code == 401 and envelope(keyless)["type"] == "authentication_error"
    assert httpx.get(f"{url}/models").status_code == 401
    good = openai.OpenAI(base_url=url, api_key="sk-master-123456", max_retries=0)
    assert good.chat.completions.create(model="demo", messages=MESSAGES).choices  # type: ignore[arg-type]
    assert "sk-master-123456" not in gateway.output()


def test_half_sent_body_does_not_hang_the_gateway(demo_gateway: GatewayProcess) -> None:
    # A client that promises 1000 bytes and sends 10 then goes away must not wedge anything.
    with socket.create_connection(("127.0.0.1", demo_gateway.port), timeout=5) as sock:
        sock.sendall(b'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{"model":')
    response = httpx.post(f"{demo_gateway.base_url}/v1/chat/completions", json={"model": "demo", "messages": MESSAGES})
    assert response.status_code == 200
