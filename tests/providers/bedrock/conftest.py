"""The fake Bedrock runtime and the gateway in front of it, one of each for this package's tests (as when they
were one module), plus a local image server for URL images."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.bedrock_upstream import FakeBedrock
from tests.fakes.image_server import serving_png
from tests.gateway_process import GatewayProcess
from tests.providers.bedrock.support import API_KEY, LLAMA, PNG, TOKEN, deployment


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeBedrock]:
    with FakeBedrock(session_token=TOKEN, api_key=API_KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeBedrock) -> None:
    fake.reset()


@pytest.fixture(scope="package")
def gateway(fake: FakeBedrock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    bearer = deployment(fake, model=LLAMA, api_key=API_KEY, max_output_tokens=512)
    for name in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
        del bearer[name]
    config = {
        "server": {"images": {"allow_private_networks": True}},
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "claude": {"deployments": [deployment(fake)]},
            "llama": {"deployments": [bearer]},
            "spare": {"deployments": [deployment(fake)]},
            # A 429 makes a deployment cool down: each test that causes one gets its own.
            **{f"cool-{n}": {"deployments": [deployment(fake)]} for n in range(4)},
            "wrong-secret": {"deployments": [deployment(fake, aws_secret_access_key="not-the-secret-0123")]},
            "unknown-model": {"deployments": [deployment(fake, model="anthropic.claude-v9:0")]},
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


@pytest.fixture(scope="package")
def image_server() -> Iterator[str]:
    with serving_png(PNG) as url:
        yield url
