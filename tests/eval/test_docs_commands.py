"""docs/routing-eval.md stays true: every `switchyard train|eval` command it shows parses with the real sub-apps."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import typer
from typer.testing import CliRunner

from switchyard.cli_eval import eval_app, train_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "routing-eval.md"


def test_documented_commands_parse() -> None:
    app = typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), flags=re.S)
    commands = [line for block in blocks for line in block.splitlines() if line.startswith("switchyard ")]
    assert len(commands) >= 5
    for command in commands:
        args = shlex.split(command.split("#")[0])[1:]
        # --help is eager: unknown options or sub-commands still fail, nothing runs
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, f"{command}\n{result.output}"
