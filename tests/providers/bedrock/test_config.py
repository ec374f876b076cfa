"""Bedrock deployment settings checked at start-up, the default endpoint and the lazy botocore import."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from switchyard.config.schema import Deployment, RouterSettings
from switchyard.errors import ConfigError
from switchyard.providers.base import ProviderContext
from switchyard.providers.bedrock import BedrockProvider
from switchyard.transport import HttpTransport
from switchyard.transport.guarded import GuardedFetcher
from tests.fakes.bedrock_upstream import ACCESS_KEY, SECRET_KEY
from tests.providers.bedrock.support import CLAUDE


def context() -> ProviderContext:
    fetcher = GuardedFetcher(max_bytes=1000, timeout_s=1)
    return ProviderContext(HttpTransport(), RouterSettings(), fetcher, 1000)


@pytest.mark.parametrize(
    ("extra", "path"),
    [
        ({"aws_region": None}, "aws_region"),
        ({"aws_access_key_id": None}, "aws_access_key_id"),
        ({"aws_secret_access_key": None}, "aws_secret_access_key"),
    ],
)
def test_missing_settings_fail_at_start_up(extra: dict[str, Any], path: str) -> None:
    settings = {
        "provider": "bedrock",
        "model": CLAUDE,
        "aws_region": "us-east-1",
        "aws_access_key_id": ACCESS_KEY,
        "aws_secret_access_key": SECRET_KEY,
        **extra,
    }
    with pytest.raises(ConfigError) as caught:
        BedrockProvider(Deployment.model_validate(settings), context())
    assert caught.value.path == path
    assert "os.environ/AWS_" in (caught.value.fix or "") or path == "aws_region"


def test_default_endpoint_and_lazy_botocore() -> None:
    arn = "arn:aws:bedrock:eu-west-3:123456789012:inference-profile/eu.meta.llama3:0"
    deployment = Deployment(provider="bedrock", model=arn, aws_region="eu-west-3", api_key="k" * 8)
    provider = BedrockProvider(deployment, context())
    assert provider._url == (
        "https://bedrock-runtime.eu-west-3.amazonaws.com/model/"
        "arn:aws:bedrock:eu-west-3:123456789012:inference-profile%2Feu.meta.llama3:0/converse"
    )
    code = "import sys, switchyard.providers.registry; print('botocore' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
