"""docs/observability.md stays true: its config example is a valid config."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from switchyard.config.schema import Config

DOC = Path(__file__).resolve().parents[3] / "docs" / "observability.md"


def test_the_config_example_validates() -> None:
    (block,) = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    config = Config.model_validate(yaml.safe_load(block))
    assert config.server.log_format == "json"
    assert config.observability.otlp_endpoint == "http://otel-collector:4318/v1/traces"
