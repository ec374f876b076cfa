"""What build_observability makes of the config."""

from __future__ import annotations

import sys

import pytest

from switchyard.config.schema import Config
from switchyard.errors import ConfigError
from switchyard.observability.build import build_observability
from switchyard.storage.protocols import NullSink


def never() -> object:
    raise AssertionError("health is read at scrape time only")


def test_tracing_is_off_unless_configured() -> None:
    built = build_observability(Config(), {}, NullSink(), never)  # type: ignore[arg-type]
    assert built.tracing is None and built.metrics is not None


def test_metrics_can_be_switched_off() -> None:
    config = Config.model_validate({"observability": {"metrics": False}})
    assert build_observability(config, {}, NullSink(), never).metrics is None  # type: ignore[arg-type]


def test_tracing_without_the_sdk_is_a_config_error_that_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "switchyard.observability.tracing", None)  # as if the extra were missing
    config = Config.model_validate({"observability": {"otlp_endpoint": "http://127.0.0.1:4318/v1/traces"}})
    with pytest.raises(ConfigError) as raised:
        build_observability(config, {}, NullSink(), never)  # type: ignore[arg-type]
    assert raised.value.path == "observability.tracing" and "switchyard[otel]" in str(raised.value)
