"""Smoke tests on small slices of the stored outcomes in ../shared/data (skipped when the folder is absent)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from switchyard.eval import data, runner, splits
from switchyard.eval.cascade_run import run_cascades
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings

DATA = data.default_data_dir()
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason=f"{DATA} not present")


def test_mmlu_slice_replays_with_cross_validation() -> None:
    mmlu = data.load_mmlu(DATA, subjects=["conceptual_physics", "marketing"])
    assert len(mmlu) > 400 and set(mmlu.groups) == {"conceptual_physics", "marketing"}
    folds = splits.kfold(len(mmlu), 3, seed=0)
    runs = runner.two_model(mmlu, ["random", "linear"], folds, TrainSettings(max_features=5000), bootstrap=20)
    by_name = {run.router: run for run in runs}
    for run in runs:
        assert 0.0 <= run.metrics.apgr_ci[0] <= run.metrics.apgr_ci[1] <= 1.2
        assert run.sweep.strong_pct[0] == 0.0 and run.sweep.strong_pct[-1] == 100.0
        assert abs(run.shares[0.5] - 0.5) < 0.1
    # the subject alone tells the routers where Mixtral falls behind GPT-4 (physics, not marketing)
    assert by_name["linear"].metrics.apgr > by_name["random"].metrics.apgr


def test_routerbench_slice_gives_a_pareto_summary() -> None:
    rows = data.load_routerbench(DATA, "winogrande")
    assert rows.quality.shape == (len(rows), 11) and len(rows.responses) == len(rows)
    small = rows.subset(np.arange(300))
    runs = runner.many_model(small, ["linear"], splits.kfold(300, 3, 0), TrainSettings(max_features=5000))
    summary = runs[0].summaries["winogrande"]
    assert summary.best_single.label == "gpt-4-1106-preview"
    assert 0.5 < summary.zero_aiq < summary.oracle_aiq <= 1.0
    assert summary.hull[0, 0] <= summary.hull[-1, 0]


def test_cascade_replay_on_a_slice() -> None:
    rows = data.load_routerbench(DATA, "arc").subset(np.arange(150))
    keep = [
        rows.models.index(m) for m in ("mistralai/mistral-7b-chat", "zero-one-ai/Yi-34B-Chat", "gpt-4-1106-preview")
    ]
    small = data.MultiOutcomes(
        "arc",
        rows.prompts,
        [rows.models[i] for i in keep],
        rows.quality[:, keep],
        rows.cost[:, keep],
        rows.groups,
        [[r[i] for i in keep] for r in rows.responses],
    )
    runs = run_cascades(small, splits.kfold(150, 3, 0))
    learned = [r for r in runs if r.scorer == "learned" and r.noise == 0.0]
    assert len(learned) == 1 and 0.0 < learned[0].auroc < 1.0
    costs = [p.cost for p in learned[0].points]
    assert min(costs) >= small.cost.mean(axis=0).min() * 0.5  # every model called is paid for


def test_cli_trains_saves_and_evaluates(tmp_path: Path) -> None:
    from switchyard.cli_eval import eval_app, train_app

    app = typer.Typer()
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
    cli = CliRunner()
    model = tmp_path / "mt-length.npz"
    result = cli.invoke(app, ["train", "router", "--dataset", "mt-bench", "--kind", "length", "--out", str(model)])
    assert result.exit_code == 0, result.output
    assert LearnedRouter.load(model).kind == "length"
    args = ["eval", "router", "--dataset", "mt-bench", "--bootstrap", "20", "--out", str(tmp_path)]
    result = cli.invoke(app, [*args, "--router-file", str(model)])
    assert result.exit_code == 0, result.output
    result = cli.invoke(app, [*args, "--routers", "random,length", "--folds", "3"])
    assert result.exit_code == 0, result.output
    assert "APGR" in (tmp_path / "mt-bench-cv.md").read_text()
    assert (tmp_path / "mt-bench-cv.png").stat().st_size > 1000
    result = cli.invoke(app, ["eval", "router", "--routers", "nope", "--out", str(tmp_path)])
    assert result.exit_code == 2
