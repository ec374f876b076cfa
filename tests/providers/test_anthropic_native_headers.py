"""Same-format pass-through forwards the client's ``anthropic-beta`` and ``anthropic-version`` headers.

The official ``anthropic`` SDK talks to a gateway process in front of the fake Anthropic upstream, which records
every header it receives. A translated call (an OpenAI-format client) forwards none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from switchyard.providers.anthropic._native import client_headers
from switchyard.providers.base import ANTHROPIC_MESSAGES, NativeBody
from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.gateway_process import GatewayProcess

KEY = "sk-ant-upstream-0123456789"
USER: list[Any] = [{"role": "user", "content": "Hello"}]
BETA = "context-management-2025-06-27"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    upstream = FakeAnthropic(api_key=KEY)
    with upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeAnthropic) -> None:
    fake.reset()


@pytest.fixture(scope="module")
def gateway(fake: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    plain = {"provider": "anthropic", "model": "claude-haiku-4-5", "api_base": fake.base_url, "api_key": KEY}
    pinned = {**plain, "api_version": "2023-01-01", "headers": {"Anthropic-Beta": "configured-beta, " + BETA}}
    groups = {"claude": {"deployments": [plain]}, "pinned": {"deployments": [pinned]}}
    config = {"router": {"num_retries": 0, "breaker": {"enabled": False}}, "model_groups": groups}
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def client(gateway: GatewayProcess) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base_url, api_key="client-key", max_retries=0)


def upstream_headers(fake: FakeAnthropic) -> dict[str, str]:
    assert fake.last_request is not None
    return fake.last_request.headers


@pytest.mark.parametrize("stream", [False, True])
def test_the_clients_beta_and_version_reach_the_upstream(
    fake: FakeAnthropic, gateway: GatewayProcess, stream: bool
) -> None:
    betas = {"anthropic-beta": f"{BETA},files-api-2025-04-14"}
    if stream:
        with client(gateway).messages.stream(
            model="claude", max_tokens=50, messages=USER, extra_headers=betas
        ) as events:
            assert events.get_final_message().content
    else:
        assert client(gateway).messages.create(model="claude", max_tokens=50, messages=USER, extra_headers=betas)
    headers = upstream_headers(fake)
    assert headers["anthropic-beta"] == f"{BETA},files-api-2025-04-14"
    assert headers["anthropic-version"] == client(gateway).default_headers["anthropic-version"]  # the SDK's
    assert headers["x-api-key"] == KEY  # the deployment's key, never the client's
    assert "client-key" not in str(headers)


def test_the_clients_betas_join_the_deployments(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    extra = {"anthropic-beta": f"{BETA},mine-2025-01-01", "anthropic-version": "2023-06-01"}
    client(gateway).messages.create(model="pinned", max_tokens=50, messages=USER, extra_headers=extra)
    headers = upstream_headers(fake)
    assert headers["anthropic-beta"] == f"configured-beta,{BETA},mine-2025-01-01"  # each once, configured first
    assert headers["anthropic-version"] == "2023-06-01"  # the client's, over the deployment's 2023-01-01


def test_without_client_headers_the_deployments_apply(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    body = {"model": "pinned", "max_tokens": 50, "messages": USER}
    response = httpx.post(f"{gateway.base_url}/v1/messages", json=body, headers={"x-api-key": "k"}, timeout=30)
    assert response.status_code == 200, response.text
    headers = upstream_headers(fake)
    assert headers["anthropic-version"] == "2023-01-01"
    assert headers["anthropic-beta"] == f"configured-beta, {BETA}"  # as configured, untouched
    client(gateway).messages.create(model="claude", max_tokens=50, messages=USER)
    assert "anthropic-beta" not in upstream_headers(fake)


def test_a_translated_call_forwards_nothing(fake: FakeAnthropic, gateway: GatewayProcess) -> None:
    sdk = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)
    sdk.chat.completions.create(
        model="claude", messages=USER, extra_headers={"anthropic-beta": BETA, "anthropic-version": "2099-01-01"}
    )
    headers = upstream_headers(fake)
    assert "anthropic-beta" not in headers and headers["anthropic-version"] == "2023-06-01"


def test_client_headers_merges_case_insensitively() -> None:
    configured = {"Content-Type": "application/json", "ANTHROPIC-VERSION": "2023-01-01", "anthropic-beta": "a, b"}
    native = NativeBody(ANTHROPIC_MESSAGES, b"{}", (("anthropic-beta", "b,c"),))
    assert client_headers(configured, native) == {
        "Content-Type": "application/json",
        "ANTHROPIC-VERSION": "2023-01-01",  # the client sent none: the deployment's stays
        "anthropic-beta": "a,b,c",
    }
    versioned = NativeBody(ANTHROPIC_MESSAGES, b"{}", (("anthropic-version", "2023-06-01"),))
    assert client_headers(configured, versioned) == {
        "Content-Type": "application/json",
        "anthropic-version": "2023-06-01",
        "anthropic-beta": "a,b",
    }
    assert client_headers(configured, NativeBody(ANTHROPIC_MESSAGES, b"{}")) is configured
