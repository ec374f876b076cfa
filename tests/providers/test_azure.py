"""The gateway in front of a fake Azure OpenAI resource, driven by the official OpenAI SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from switchyard.errors import ConfigError
from tests.fakes.azure_upstream import FakeAzure, Fault, rate_limited
from tests.gateway_process import GatewayProcess

KEY = "azure-secret-key-0123456789"
TOKEN = "entra-token-abcdefghijkl"
MESSAGES = [{"role": "user", "content": "What is a gateway?"}]
TOOLS = [
    {
        "type": "function",
        "function": {"name": n, "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}},
    }
    for n in ("search", "lookup")
]
PIXEL = (
    "data:image/png;base64,"
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAzure]:
    with FakeAzure(api_key=KEY, ad_token=TOKEN) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeAzure) -> None:
    fake.reset()


def deployment(fake: FakeAzure, **extra: Any) -> dict[str, Any]:
    return {
        "provider": "azure",
        "model": "gpt4o-prod",
        "api_base": fake.base_url,
        "api_key": KEY,
        "api_version": "2024-10-21",
        **extra,
    }


@pytest.fixture(scope="module")
def gateway(fake: FakeAzure, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "gpt": {"deployments": [deployment(fake)]},
            # A Retry-After cools a deployment down: rate-limit tests get a group of their own.
            "limited": {"deployments": [deployment(fake)]},
            "v1": {"deployments": [deployment(fake, api_version="v1", api_key=None, azure_ad_token=TOKEN)]},
            "old": {"deployments": [deployment(fake, api_version="2024-06-01")]},
            "missing": {"deployments": [deployment(fake, model="no-such-deployment")]},
            "embed": {"deployments": [deployment(fake, model="embed-prod")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


def sdk(gateway: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway.base_url}/v1", api_key="client-key", max_retries=0)


def test_plain_chat_goes_to_the_deployment_url_with_the_api_key(fake: FakeAzure, gateway: GatewayProcess) -> None:
    reply = sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES, temperature=0.2)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Echo: What is a gateway?"
    assert reply.model == "gpt-4o-2024-08-06" and reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None and reply.usage.prompt_tokens > 0
    sent = fake.last_request
    assert sent is not None and sent.path == "/openai/deployments/gpt4o-prod/chat/completions"
    assert sent.query == {"api-version": "2024-10-21"}
    assert sent.headers["api-key"] == KEY and "authorization" not in sent.headers
    assert sent.json["temperature"] == 0.2 and sent.json["messages"] == MESSAGES


def test_v1_api_puts_the_deployment_in_the_body_and_uses_the_entra_token(
    fake: FakeAzure, gateway: GatewayProcess
) -> None:
    reply = sdk(gateway).chat.completions.create(model="v1", messages=MESSAGES)  # type: ignore[arg-type]
    assert reply.choices[0].message.content == "Echo: What is a gateway?"
    sent = fake.last_request
    assert sent is not None and sent.path == "/openai/v1/chat/completions" and sent.query == {}
    assert sent.json["model"] == "gpt4o-prod"
    assert sent.headers["authorization"] == f"Bearer {TOKEN}" and "api-key" not in sent.headers


def test_stream_drops_the_prompt_filter_chunk_and_keeps_usage(fake: FakeAzure, gateway: GatewayProcess) -> None:
    chunks = list(sdk(gateway).chat.completions.create(model="gpt", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    # Every chunk has a choice: the SDK user's chunk.choices[0] never fails on Azure's filter-only chunk.
    assert chunks and all(c.choices for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "Echo: What is a gateway?"
    assert chunks[-1].choices[0].finish_reason == "stop"
    sent = fake.last_request
    assert sent is not None and sent.json["stream_options"] == {"include_usage": True}
    with_usage = list(
        sdk(gateway).chat.completions.create(
            model="gpt",
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},  # type: ignore[arg-type]
        )
    )
    assert with_usage[-1].choices == [] and with_usage[-1].usage is not None
    assert with_usage[-1].usage.completion_tokens > 0


def test_old_api_versions_are_not_sent_stream_options(fake: FakeAzure, gateway: GatewayProcess) -> None:
    chunks = list(sdk(gateway).chat.completions.create(model="old", messages=MESSAGES, stream=True))  # type: ignore[arg-type]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "Echo: What is a gateway?"
    sent = fake.last_request
    assert sent is not None and "stream_options" not in sent.json and sent.query == {"api-version": "2024-06-01"}


def test_parallel_tool_calls_plain_and_streamed_then_results(gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "call search and lookup q=gateways"}]
    reply = sdk(gateway).chat.completions.create(model="gpt", messages=ask, tools=TOOLS)  # type: ignore[arg-type]
    calls = reply.choices[0].message.tool_calls or []
    assert reply.choices[0].finish_reason == "tool_calls"
    assert [c.function.name for c in calls] == ["search", "lookup"]  # type: ignore[union-attr]
    assert json.loads(calls[0].function.arguments) == {"q": "gateways"}  # type: ignore[union-attr]
    streamed: dict[int, dict[str, str]] = {}
    for chunk in sdk(gateway).chat.completions.create(model="gpt", messages=ask, tools=TOOLS, stream=True):  # type: ignore[arg-type]
        for delta in chunk.choices[0].delta.tool_calls or []:
            entry = streamed.setdefault(delta.index, {"name": "", "arguments": ""})
            entry["name"] += (delta.function and delta.function.name) or ""
            entry["arguments"] += (delta.function and delta.function.arguments) or ""
    assert [streamed[i]["name"] for i in sorted(streamed)] == ["search", "lookup"]
    history = [
        *ask,
        reply.choices[0].message.model_dump(exclude_none=True),
        *[{"role": "tool", "tool_call_id": c.id, "content": "42"} for c in calls],
    ]
    final = sdk(gateway).chat.completions.create(model="gpt", messages=history, tools=TOOLS)  # type: ignore[arg-type]
    assert final.choices[0].finish_reason == "stop"


def test_vision_json_mode_and_embeddings(fake: FakeAzure, gateway: GatewayProcess) -> None:
    content = [{"type": "text", "text": "Describe this in json"}, {"type": "image_url", "image_url": {"url": PIXEL}}]
    reply = sdk(gateway).chat.completions.create(
        model="gpt",
        messages=[{"role": "user", "content": content}],
        response_format={"type": "json_object"},  # type: ignore[arg-type]
    )
    assert json.loads(reply.choices[0].message.content or "") == {"reply": "Echo: Describe this in json"}
    sent = fake.last_request
    assert sent is not None and sent.json["messages"][0]["content"][1]["image_url"]["url"] == PIXEL
    vectors = sdk(gateway).embeddings.create(model="embed", input=["one", "two"])
    assert len(vectors.data) == 2 and len(vectors.data[0].embedding) == 8
    sent = fake.last_request
    assert sent is not None and sent.path == "/openai/deployments/embed-prod/embeddings"


def test_content_filter_on_the_answer_is_a_finish_reason(gateway: GatewayProcess) -> None:
    ask = [{"role": "user", "content": "FILTER_OUTPUT please"}]
    reply = sdk(gateway).chat.completions.create(model="gpt", messages=ask)  # type: ignore[arg-type]
    assert reply.choices[0].finish_reason == "content_filter"
    chunks = list(sdk(gateway).chat.completions.create(model="gpt", messages=ask, stream=True))  # type: ignore[arg-type]
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "content_filter"


@pytest.mark.parametrize(
    ("group", "fault", "prompt", "status", "code"),
    [
        ("gpt", None, "FORBIDDEN words", 400, "content_policy_violation"),
        (
            "limited",
            Fault("status", status=429, body=rate_limited(6), retry_after=6),
            "hi",
            429,
            "upstream_rate_limited",
        ),
        ("gpt", Fault.server_error(), "hi", 502, "upstream_error"),
        ("gpt", Fault.overloaded(), "hi", 503, "upstream_unavailable"),
        ("gpt", Fault.context_length(), "hi", 400, "context_length_exceeded"),
        ("missing", None, "hi", 502, "upstream_not_found"),
    ],
)
def test_upstream_errors_map_to_typed_errors(
    fake: FakeAzure, gateway: GatewayProcess, group: str, fault: Fault | None, prompt: str, status: int, code: str
) -> None:
    if fault is not None:
        fake.push_fault(fault)
    body = {"model": group, "messages": [{"role": "user", "content": prompt}]}
    response = httpx.post(f"{gateway.base_url}/v1/chat/completions", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"]["code"] == code and KEY not in response.text
    if status == 429:
        assert response.headers["retry-after"] == "6"
    if group == "missing":
        assert "DeploymentNotFound" in response.json()["error"]["message"]


def test_a_wrong_key_is_an_auth_error_that_never_leaks(
    fake: FakeAzure, tmp_path_factory: pytest.TempPathFactory
) -> None:
    wrong = "azure-wrong-key-zyxwvu987654"
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {"gpt": {"deployments": [deployment(fake, api_key=wrong)]}},
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("wrong"))
    try:
        response = httpx.post(f"{process.base_url}/v1/chat/completions", json={"model": "gpt", "messages": MESSAGES})
        assert response.status_code == 502 and response.json()["error"]["code"] == "upstream_auth_error"
        assert "zyxwvu987654" not in response.text and "zyxwvu987654" not in process.output()
    finally:
        process.stop()


def test_config_errors_name_the_missing_setting() -> None:
    from switchyard.config.schema import Deployment, RouterSettings
    from switchyard.providers.azure import AzureOpenAIProvider
    from switchyard.providers.base import ProviderContext

    context = ProviderContext(None, RouterSettings(), None, 1)  # type: ignore[arg-type]
    base = {"provider": "azure", "model": "d", "api_base": "https://x.openai.azure.com", "api_key": "k"}
    with pytest.raises(ConfigError, match="api_version") as missing:
        AzureOpenAIProvider(Deployment(**base), context)  # type: ignore[arg-type]
    assert missing.value.fix is not None and "2024-10-21" in missing.value.fix
    with pytest.raises(ConfigError, match="api_key"):
        AzureOpenAIProvider(Deployment(**{**base, "api_key": None, "api_version": "v1"}), context)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not an Azure"):
        AzureOpenAIProvider(Deployment(**{**base, "api_version": "latest"}), context)  # type: ignore[arg-type]
    provider = AzureOpenAIProvider(
        Deployment(**{**base, "api_base": "https://x.openai.azure.com/openai", "api_version": "preview"}), context
    )  # type: ignore[arg-type]
    assert provider._chat_url == "https://x.openai.azure.com/openai/v1/chat/completions?api-version=preview"
