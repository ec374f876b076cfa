"""Fake upstream providers for Switchyard's tests and benchmarks (no imports from ``switchyard``).

Import from the modules, e.g. ``from tests.fakes.openai_upstream import FakeOpenAI, Fault``. Names are
also re-exported here lazily: an eager import would make ``python -m tests.fakes.openai_upstream`` load
that module twice.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "FakeOpenAI": "tests.fakes.openai_upstream",
    "fake_openai_server": "tests.fakes.openai_upstream",
    "DEFAULT_MODELS": "tests.fakes.openai_upstream",
    "Fault": "tests.fakes.openai_faults",
    "RecordedRequest": "tests.fakes.openai_faults",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'tests.fakes' has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
