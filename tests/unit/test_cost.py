"""Cost arithmetic against hand-computed cases for every token class."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.accounting.cost import cost_of
from switchyard.accounting.pricing import Price, builtin_table, price_for
from switchyard.config.schema import Deployment
from switchyard.types.chat import CompletionTokensDetails, PromptTokensDetails, Usage

# $3 in, $15 out, $0.30 cache read, $3.75 cache write, $20 reasoning, $0.001 a request (per million tokens).
PRICE = Price(input=3.0, output=15.0, cache_read=0.30, cache_write=3.75, reasoning=20.0, per_request=0.001)


def usage(prompt: int, completion: int, cached: int = 0, written: int = 0, reasoning: int = 0) -> Usage:
    return Usage(
        prompt,
        completion,
        prompt + completion,
        PromptTokensDetails(cached_tokens=cached, cache_creation_tokens=written),
        CompletionTokensDetails(reasoning_tokens=reasoning),
    )


@pytest.mark.parametrize(
    ("tokens", "expected"),
    [
        # 1,000 input tokens, 500 output: 1000*3/1e6 + 500*15/1e6 + 0.001
        (usage(1000, 500), 0.003 + 0.0075 + 0.001),
        # 800 of 1,000 prompt tokens read from cache: 200*3 + 800*0.30 per million.
        (usage(1000, 0, cached=800), 0.0006 + 0.00024 + 0.001),
        # 600 written to cache, 100 read, 300 plain.
        (usage(1000, 0, cached=100, written=600), 0.0009 + 0.00003 + 0.00225 + 0.001),
        # 400 of 1,000 completion tokens were reasoning: 600*15 + 400*20 per million.
        (usage(0, 1000, reasoning=400), 0.009 + 0.008 + 0.001),
        # Everything at once.
        (
            usage(10_000, 2_000, cached=4_000, written=1_000, reasoning=500),
            5_000 * 3e-6 + 4_000 * 0.3e-6 + 1_000 * 3.75e-6 + 1_500 * 15e-6 + 500 * 20e-6 + 0.001,
        ),
        # Inconsistent upstream usage (more cached than prompt) is clamped, never negative.
        (usage(100, 10, cached=500, reasoning=50), 100 * 0.3e-6 + 10 * 20e-6 + 0.001),
    ],
)
def test_every_token_class(tokens: Usage, expected: float) -> None:
    cost = cost_of(tokens, PRICE)
    assert cost.total == pytest.approx(expected, rel=1e-12)
    assert min(cost.input, cost.cache_read, cost.cache_write, cost.output, cost.reasoning) >= 0


def test_missing_classes_default_to_input_and_output_prices() -> None:
    price = Price.from_entry({"input": 2.0, "output": 8.0}, "test")
    assert (price.cache_read, price.cache_write, price.reasoning) == (2.0, 2.0, 8.0)


def test_table_lookup_and_config_override() -> None:
    table = builtin_table()
    assert table.version and table.lookup("openai", "gpt-4o-mini") is not None
    found = price_for(Deployment(provider="openai", model="gpt-4o-mini"))
    assert found is not None and found.input == 0.15 and found.cache_read == 0.075
    custom = price_for(
        Deployment(
            provider="openai",
            model="gpt-4o-mini",
            prices={"input_per_mtok": 1, "output_per_mtok": 2, "reasoning_per_mtok": 5},
        )
    )
    assert custom is not None and (custom.input, custom.output, custom.cache_read, custom.reasoning) == (1, 2, 1, 5)
    assert custom.source == "config"
    assert price_for(Deployment(provider="openai_compatible", model="my-local-model")) is None


def test_every_table_entry_is_well_formed() -> None:
    for name, price in builtin_table().models.items():
        provider, _, model = name.partition("/")
        assert provider and model, name
        assert price.input >= 0 and price.output >= 0 and price.cache_read <= max(price.input, 1e-9) + 1e-12, name


def test_prices_command(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "switchyard"
    listing = subprocess.run([str(exe), "prices", "--model", "gpt-4o"], capture_output=True, text=True, timeout=60)
    assert listing.returncode == 0 and "gpt-4o-mini" in listing.stdout and "0.075" in listing.stdout
    config = tmp_path / "c.yaml"
    config.write_text(
        "model_groups:\n  g:\n    deployments:\n      - {provider: openai_compatible, model: x, api_base: 'http://h/v1'}\n"
    )
    unpriced = subprocess.run([str(exe), "prices", "--config", str(config)], capture_output=True, text=True, timeout=60)
    assert unpriced.returncode == 1 and "g/0" in unpriced.stderr
