"""Router groups on the side routes: listed by /v1/models and counted by /v1/messages/count_tokens, per key access."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import GatewayFactory
from tests.gateway_process import GatewayProcess

MASTER = "mk-router-routes"
USER = [{"role": "user", "content": "Hi there"}]


def config() -> dict[str, Any]:
    demo = {"deployments": [{"provider": "demo", "model": "demo-1"}]}
    return {
        "server": {"master_key": MASTER},
        "model_groups": {
            "cheap": demo,
            "strong": demo,
            "auto": {"router": {"kind": "length", "members": ["cheap", "strong"]}},
        },
    }


def create_key(gateway: GatewayProcess, models: list[str]) -> str:
    response = httpx.post(
        f"{gateway.base_url}/admin/keys", json={"models": models}, headers={"authorization": f"Bearer {MASTER}"}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["key"])


def models(gateway: GatewayProcess, key: str) -> set[str]:
    sdk = openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key=key, max_retries=0)
    return {model.id for model in sdk.models.list()}


def counter(gateway: GatewayProcess, key: str) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=gateway.base_url, api_key=key, max_retries=0)


def test_models_and_count_tokens_know_router_groups_and_key_access(start_gateway: GatewayFactory) -> None:
    gateway = start_gateway(config())
    assert models(gateway, MASTER) == {"cheap", "strong", "auto"}
    auto_only = create_key(gateway, ["auto"])
    cheap_only = create_key(gateway, ["cheap"])
    assert models(gateway, auto_only) == {"auto"}
    assert models(gateway, cheap_only) == {"cheap"}

    assert counter(gateway, MASTER).messages.count_tokens(model="auto", messages=USER).input_tokens > 0  # type: ignore[arg-type]
    assert counter(gateway, auto_only).messages.count_tokens(model="auto", messages=USER).input_tokens > 0  # type: ignore[arg-type]
    with pytest.raises(anthropic.PermissionDeniedError) as denied:
        counter(gateway, cheap_only).messages.count_tokens(model="auto", messages=USER)  # type: ignore[arg-type]
    body = denied.value.body
    assert isinstance(body, dict) and body["type"] == "error"
    assert body["error"]["type"] == "permission_error"
    # Anthropic's envelope has no code field: model_not_allowed shows as the 403 and its message.
    assert denied.value.status_code == 403
    assert "not allowed to use the model `auto`" in body["error"]["message"]
    with pytest.raises(anthropic.NotFoundError):
        counter(gateway, MASTER).messages.count_tokens(model="nope", messages=USER)  # type: ignore[arg-type]
