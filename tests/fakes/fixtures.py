"""Pytest fixtures for the fake upstreams. Use from a conftest: ``from tests.fakes.fixtures import fake_openai``."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.openai_upstream import FakeOpenAI, fake_openai_server


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    """A fresh fake OpenAI upstream per test (default models, key "sk-test-123")."""
    with fake_openai_server() as fake:
        yield fake
