"""The pricing table: versioned data shipped in the package, overridable per deployment in config.

Prices are USD per million tokens by token class, plus a per-request fee. A class a model does not price
separately falls back to its natural base: cached reads and cache writes to the input price, reasoning
tokens to the output price (which is how every provider in the table bills them today).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from switchyard.config.schema import Deployment


@dataclass(frozen=True, slots=True)
class Price:
    input: float
    output: float
    cache_read: float
    cache_write: float
    reasoning: float
    per_request: float = 0.0
    source: str = "table"

    @classmethod
    def from_entry(cls, entry: dict[str, Any], source: str) -> Price:
        input_price, output_price = float(entry["input"]), float(entry["output"])
        return cls(
            input=input_price,
            output=output_price,
            cache_read=float(entry.get("cache_read", input_price)),
            cache_write=float(entry.get("cache_write", input_price)),
            reasoning=float(entry.get("reasoning", output_price)),
            per_request=float(entry.get("per_request", 0.0)),
            source=source,
        )


@dataclass(frozen=True, slots=True)
class PriceTable:
    version: str
    models: dict[str, Price]

    def lookup(self, provider: str, model: str) -> Price | None:
        return self.models.get(f"{provider}/{model}")


@cache
def builtin_table() -> PriceTable:
    raw = json.loads(resources.files("switchyard.accounting").joinpath("prices.json").read_text())
    models = {name: Price.from_entry(entry, f"table {raw['version']}") for name, entry in raw["models"].items()}
    return PriceTable(raw["version"], models)


def price_for(deployment: Deployment, table: PriceTable | None = None) -> Price | None:
    """The deployment's own ``prices`` if configured, else the table's entry; None when unknown."""
    override = deployment.prices
    if override is not None:
        entry: dict[str, Any] = {
            "input": override.input_per_mtok,
            "output": override.output_per_mtok,
            "per_request": override.per_request,
        }
        for key, value in (
            ("cache_read", override.cached_input_per_mtok),
            ("cache_write", override.cache_write_per_mtok),
            ("reasoning", override.reasoning_per_mtok),
        ):
            if value is not None:
                entry[key] = value
        return Price.from_entry(entry, "config")
    return (table or builtin_table()).lookup(deployment.provider, deployment.model)
