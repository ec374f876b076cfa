"""docs/caching.md stays true: its config is valid, and every header it documents is one the code reads."""

from __future__ import annotations

import re
from pathlib import Path

from switchyard.config.loader import load_config
from switchyard.pipeline import cache

DOC = Path(__file__).resolve().parents[3] / "docs" / "caching.md"


def test_the_example_config_is_valid(tmp_path: Path) -> None:
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert block is not None
    path = tmp_path / "caching.yaml"
    path.write_text(block.group(1))
    config = load_config(path, env={"OPENAI_API_KEY": "sk-test"})
    assert config.cache.enabled and config.cache.scope == "key" and config.cache.only_deterministic
    group = config.model_groups["gpt-4o-mini"].cache
    assert group is not None and group.ttl_s == 600


def test_documented_request_headers_are_the_ones_read() -> None:
    documented = set(re.findall(r"`(x-switchyard-cache-[a-z-]+)", DOC.read_text()))
    source = Path(cache.__file__).read_text()
    requests = {"x-switchyard-cache-ttl", "x-switchyard-cache-namespace"}
    responses = {"x-switchyard-cache-saved-usd", "x-switchyard-cache-similarity"}
    assert documented == requests | responses
    assert all(f'"{name}"' in source for name in documented)
