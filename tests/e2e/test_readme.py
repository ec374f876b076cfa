"""The README's examples run as written (against a gateway on a test port)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.gateway_process import GatewayProcess

ROOT = Path(__file__).resolve().parents[2]


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_python_example_runs_against_the_demo_gateway(demo_gateway: GatewayProcess) -> None:
    (code,) = blocks("python")
    code = code.replace("http://127.0.0.1:4000", demo_gateway.base_url)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Switchyard demo model" in result.stdout


def test_yaml_example_is_a_valid_config(tmp_path: Path) -> None:
    from switchyard.config import load_config

    (text,) = blocks("yaml")
    path = tmp_path / "readme.yaml"
    path.write_text(text)
    config = load_config(path, env={"SWITCHYARD_MASTER_KEY": "mk", "OPENAI_API_KEY": "k", "GROQ_API_KEY": "g"})
    assert list(config.model_groups) == ["gpt-4o-mini"]


def test_the_two_commands_are_make_targets() -> None:
    makefile = (ROOT / "Makefile").read_text()
    for command in re.findall(r"^make (\w+)", "".join(blocks("sh")), flags=re.M):
        assert re.search(rf"^{command}:", makefile, flags=re.M), command
