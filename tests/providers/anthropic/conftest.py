"""The fake Anthropic Messages API and the gateway in front of it, one of each for this package's tests (as when
they were one module), plus a local image server for URL images."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.image_server import serving_png
from tests.gateway_process import GatewayProcess
from tests.providers.anthropic.support import KEY, PNG, WRONG, deployment


@pytest.fixture(scope="package")
def fake() -> Iterator[FakeAnthropic]:
    with FakeAnthropic(api_key=KEY) as upstream:
        yield upstream


@pytest.fixture(autouse=True)
def clean(fake: FakeAnthropic) -> None:
    fake.reset()


@pytest.fixture(scope="package")
def gateway(fake: FakeAnthropic, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    config = {
        "router": {"num_retries": 0, "breaker": {"enabled": False}},
        "model_groups": {
            "claude": {"deployments": [deployment(fake)]},
            "limited": {"deployments": [deployment(fake)]},
            "capped": {"deployments": [deployment(fake, max_output_tokens=3)]},
            "wrong": {"deployments": [deployment(fake, api_key=WRONG)]},
            "adaptive": {"deployments": [deployment(fake, model="claude-opus-4-7")]},
            "pinned": {
                "deployments": [
                    deployment(
                        fake, api_base=fake.base_url + "/v1", api_version="2023-01-01", headers={"anthropic-beta": "b1"}
                    )
                ]
            },
        },
    }
    process = GatewayProcess(config, tmp_path_factory.mktemp("gw"))
    yield process
    process.stop()


@pytest.fixture(scope="package")
def image_server() -> Iterator[str]:
    with serving_png(PNG, "cat.png") as url:
        yield url
