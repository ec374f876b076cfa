"""Gemini embeddings through the gateway (batchEmbedContents) and a deployment without a key failing at start-up."""

from __future__ import annotations

import httpx
import pytest

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext
from switchyard.providers.gemini import GeminiProvider
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from tests.fakes.gemini_upstream import FakeGemini
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import KEY, sdk


def test_embeddings_use_batch_embed_contents(fake: FakeGemini, gateway: GatewayProcess) -> None:
    result = sdk(gateway).embeddings.create(model="embed", input=["one", "two words", "three"], dimensions=4)
    assert [len(item.embedding) for item in result.data] == [4, 4, 4] and [d.index for d in result.data] == [0, 1, 2]
    assert result.model == "gemini-embedding-001" and result.usage.prompt_tokens == 6
    sent = fake.last
    assert sent.path == "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    assert sent.headers["x-goog-api-key"] == KEY
    assert sent.json["requests"][1] == {
        "model": "models/gemini-embedding-001", "content": {"parts": [{"text": "two words"}]}, "outputDimensionality": 4
    }  # fmt: skip
    body = {"model": "embed", "input": "one", "dimensions": 4}
    floats = httpx.post(f"{gateway.base_url}/v1/embeddings", json=body).json()
    assert floats["data"][0]["embedding"] == pytest.approx(result.data[0].embedding, abs=1e-6)
    tokens = httpx.post(f"{gateway.base_url}/v1/embeddings", json={"model": "embed", "input": [1, 2, 3]})
    assert tokens.status_code == 400 and tokens.json()["error"]["param"] == "input"


def test_a_deployment_without_a_key_fails_at_start_up() -> None:
    context = ProviderContext(HttpTransport(), RouterSettings(), GuardedFetcher(max_bytes=1, timeout_s=1), 1)
    with pytest.raises(ConfigError) as failure:
        GeminiProvider(Deployment(provider="gemini", model="gemini-2.5-flash"), context)
    assert failure.value.path == "api_key"
