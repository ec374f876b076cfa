"""The fake Gemini API and the gateway in front of it, one of each for this package's tests (as when they were
one module), plus a local image server for URL images."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.gemini_upstream import FakeGemini
from tests.fakes.image_server import serving_png
from tests.gateway_process import GatewayProcess
from tests.providers.gemini.support import KEY, PNG, WRONG_KEY, deployment


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeGemini]:
    with FakeGemini(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(scope="package")
def image_url() -> Iterator[str]:
    with serving_png(PNG) as url:
        yield url


@pytest.fixture(autouse=True)
def clean(fake: FakeGemini) -> None:
    fake.reset()


@pytest.fixture(scope="package")
def gateway(fake: FakeGemini, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "gem": {"deployments": [deployment(fake)]},
            "gem3": {"deployments": [deployment(fake, "models/gemini-3-pro-preview")]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=2)]},
            "wrong": {"deployments": [deployment(fake, api_key=WRONG_KEY)]},
            "missing": {"deployments": [deployment(fake, "palm-2")]},
            "embed": {"deployments": [deployment(fake, "gemini-embedding-001")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()
