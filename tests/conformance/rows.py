"""The matrix's rows, in table order, and every cell's declared outcome (provider's and inbound API's together)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from tests.conformance.native import Anthropic, Bedrock, Demo, Gemini
from tests.conformance.openai_family import Azure, Cohere, Mistral, Ollama, OpenAI, OpenAICompatible
from tests.conformance.scenarios import COLUMNS, INBOUND_TITLES, INBOUNDS, Expectation, Outcome
from tests.conformance.upstream import Upstream

ROOT = Path(__file__).resolve().parents[2]
UPSTREAMS: tuple[Upstream, ...] = (
    Demo(), OpenAI(), OpenAICompatible(), Azure(), Anthropic(), Gemini(), Bedrock(), Mistral(), Cohere(), Ollama()
)  # fmt: skip
BY_NAME = {upstream.name: upstream for upstream in UPSTREAMS}

# Cells an inbound API cannot even express: column -> why.
INBOUND_NOT_APPLICABLE: dict[str, dict[str, str]] = {
    "openai": {},
    "anthropic": {
        "json-object": "The Messages API has no schemaless JSON mode: output_config.format takes a JSON schema.",
        "n2": "The Messages API has no n: a client asks for one message.",
        "embeddings": "Anthropic's API has no embeddings endpoint: clients of any format use /v1/embeddings.",
        "embeddings-b64": "Anthropic's API has no embeddings endpoint: clients of any format use /v1/embeddings.",
    },
}


def inbound_served(inbound: str) -> bool:
    """Whether the gateway serves this inbound format yet (its route module exists)."""
    if inbound == "openai":
        return True
    return (ROOT / "switchyard" / "server" / "routes" / f"{inbound}.py").exists()


def expectation(inbound: str, provider: str, column: str) -> Expectation:
    title = f"{INBOUND_TITLES[inbound]} inbound"
    if not inbound_served(inbound):
        return Expectation(Outcome.PENDING, None, "The gateway does not serve this inbound API yet.", title)
    why = INBOUND_NOT_APPLICABLE[inbound].get(column)
    if why is not None:
        return Expectation(Outcome.NA, None, why, title)
    return BY_NAME[provider].expectation(column)


def cells() -> Iterator[tuple[str, str, str]]:
    """Every (inbound, provider, column) of the table, in table order."""
    for inbound in INBOUNDS:
        for upstream in UPSTREAMS:
            for column in COLUMNS:
                yield inbound, upstream.name, column.key
