"""Fixtures for the fake upstream's own tests: the fake, and the official SDK pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

from tests.fakes.openai_upstream import FakeOpenAI, fake_openai_server

API_KEY = "sk-test-123"
MODELS = ["gpt-4o-mini", "gpt-4o", "text-embedding-3-small", "text-embedding-ada-002"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAI]:
    with fake_openai_server(models=MODELS, api_key=API_KEY) as server:
        yield server


@pytest.fixture
def client(fake: FakeOpenAI) -> Iterator[openai.OpenAI]:
    # max_retries=0: every fault must surface as-is, not be retried away by the SDK.
    sdk = openai.OpenAI(api_key=API_KEY, base_url=fake.base_url, max_retries=0, timeout=5.0)
    yield sdk
    sdk.close()
