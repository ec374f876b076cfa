"""Fake upstream providers for Switchyard's tests and benchmarks (no imports from ``switchyard``)."""

from tests.fakes.openai_faults import Fault, RecordedRequest
from tests.fakes.openai_upstream import DEFAULT_MODELS, FakeOpenAI, fake_openai_server

__all__ = ["DEFAULT_MODELS", "FakeOpenAI", "Fault", "RecordedRequest", "fake_openai_server"]
