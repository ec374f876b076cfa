"""What the matrix needs from each provider's fake upstream: the per-provider fixture adapter.

An adapter starts its fake, says how a gateway deployment reaches it (and one with credentials it refuses),
arms each error class with that fake's own fault API, reads back what the fake received (to check an image
arrived in the provider's own form), and declares the cells the provider cannot serve.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from tests.conformance.scenarios import COLUMN, EMBED_COLUMNS, JSON, PNG, PROMPT, Expectation, Outcome


@dataclass(frozen=True)
class Armed:
    """An error cell, ready: the prompt that triggers it and what the answer must carry besides status and code."""

    prompt: str = PROMPT
    retry_after: str | None = None  # the Retry-After value the client must see (rate limits)
    finish: str | None = None  # the provider reports this class as a finish_reason on a 200 instead


class Upstream:
    """Base adapter. ``name`` is the row label and the model-group prefix; ``provider`` the registry name."""

    name: str = ""
    provider: str = ""
    # Strings that must never reach a client (keys, secrets, tokens).
    secrets: tuple[str, ...] = ()
    # column -> (the parameter the gateway's 400 names, why the provider cannot do it)
    unsupported: dict[str, tuple[str, str]] = {}
    # column -> why there is nothing to test (the provider has no such error or feature)
    not_applicable: dict[str, str] = {}
    # column -> a remark on a passing cell (a footnote)
    remarks: dict[str, str] = {}
    # False when the fake model only calls tools it is made to (then the tools cells force one).
    calls_tools_unforced: bool = True
    # False when the fake model ignores schemas (then only "a JSON object" is checked, for tools and JSON mode).
    follows_schema: bool = True
    # The model the embeddings cells use, None for a provider without embeddings (those cells are then n/a).
    embedding_model: str | None = None

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def deployment(self) -> JSON:
        raise NotImplementedError

    def wrong_credentials(self) -> JSON:
        """A deployment whose credentials the upstream refuses."""
        raise NotImplementedError

    def bodies(self) -> list[Any]:
        """The JSON bodies the fake received since the last reset, in order."""
        raise NotImplementedError

    def check_vision(self, body: JSON) -> None:
        """Assert that ``body`` (the last request the fake got) carries the PNG in the provider's own form."""
        raise NotImplementedError

    def arm(self, column: str) -> Armed:
        """Make the next request fail with this error class (push the fake's fault); say how to trigger it."""
        raise NotImplementedError

    def embedding_deployment(self) -> JSON:
        """The deployment the embeddings cells use: the chat one with the embedding model."""
        return {**self.deployment(), "model": self.embedding_model}

    def expectation(self, column: str) -> Expectation:
        if column in EMBED_COLUMNS and self.embedding_model is None:
            why = "The provider has no embeddings API: the gateway answers a 400 naming the model (tests/providers/)."
            return Expectation(Outcome.NA, None, why, f"`{self.name}`")
        if column in self.unsupported:
            param, why = self.unsupported[column]
            return Expectation(Outcome.UNSUPPORTED, param, why, f"`{self.name}`")
        if column in self.not_applicable:
            return Expectation(Outcome.NA, None, self.not_applicable[column], f"`{self.name}`")
        return Expectation(Outcome.PASS, None, self.remarks.get(column), f"`{self.name}`")

    def groups(self, inbounds: tuple[str, ...]) -> dict[str, JSON]:
        """Model groups: one for the success cells, and one per inbound, error class and plain/streamed request
        (a 429 cools a deployment down, so no error request shares a deployment with another request)."""
        found: dict[str, JSON] = {self.name: {"deployments": [self.deployment()]}}
        if self.embedding_model is not None:
            found[embed_group(self.name)] = {"deployments": [self.embedding_deployment()]}
        for inbound in inbounds:
            for column in COLUMN.values():
                if not column.is_error or self.expectation(column.key).outcome is not Outcome.PASS:
                    continue
                for stream in (False, True):
                    deployment = self.wrong_credentials() if column.key == "auth" else self.deployment()
                    found[error_group(self.name, inbound, column.key, stream)] = {"deployments": [deployment]}
        return found


def embed_group(provider: str) -> str:
    return f"{provider}--embed"


def error_group(provider: str, inbound: str, column: str, stream: bool) -> str:
    return f"{provider}--{inbound}--{column}" + ("--stream" if stream else "")


def image_bytes(url: str) -> bytes:
    """The bytes of a base64 data URL."""
    head, _, data = url.partition(",")
    assert head.startswith("data:image/png") and head.endswith(";base64"), head
    return base64.b64decode(data)


def assert_png_b64(data: str) -> None:
    assert base64.b64decode(data) == PNG
