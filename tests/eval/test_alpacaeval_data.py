"""Smoke test of the AlpacaEval loader on the stored preference matrix (skipped when the folder is absent)."""

from __future__ import annotations

import numpy as np
import pytest

from switchyard.eval import data, experiments, runner, splits
from switchyard.routing.learned.train import TrainSettings

DATA = data.default_data_dir()
pytestmark = pytest.mark.skipif(
    not (DATA / "alpacaeval_weighted_pref_matrix").is_dir(), reason=f"{DATA}/alpacaeval_weighted_pref_matrix absent"
)


def test_alpacaeval_loads_as_a_two_model_pair() -> None:
    pair = experiments.load_pair("alpacaeval", DATA)
    assert len(pair) == 805 and pair.strong.shape == pair.weak.shape == (805,)
    assert len(pair.prompts) == len(pair.groups) == 805 and all(pair.prompts)
    assert set(pair.groups) == {"helpful_base", "koala", "oasst", "selfinstruct", "vicuna"}
    assert (pair.strong_name, pair.weak_name) == (data.ALPACA_STRONG, data.ALPACA_WEAK)
    for quality in (pair.strong, pair.weak):
        assert np.all((quality >= 0.0) & (quality <= 1.0))
    # the strong model against itself is a tie on every prompt; the default weak model loses on average
    assert np.all(pair.strong == 0.5)
    assert 0.05 < pair.weak.mean() < 0.3 and np.any(pair.weak > 0.5)


def test_alpacaeval_other_weak_column_and_unknown_column() -> None:
    other = data.load_alpacaeval(DATA, weak="OpenHermes-2.5-Mistral-7B")
    assert other.weak_name == "OpenHermes-2.5-Mistral-7B" and not np.array_equal(
        other.weak, data.load_alpacaeval(DATA).weak
    )
    with pytest.raises(ValueError, match="no AlpacaEval column"):
        data.load_alpacaeval(DATA, weak="not-a-model")


def test_alpacaeval_replays_with_cross_validation() -> None:
    pair = data.load_alpacaeval(DATA)
    runs = runner.two_model(pair, ["random", "linear"], splits.kfold(len(pair), 3, 0), TrainSettings(), bootstrap=20)
    for run in runs:
        assert run.metrics.n == 805 and run.metrics.strong_quality == 0.5
        assert run.sweep.strong_pct[0] == 0.0 and run.sweep.strong_pct[-1] == 100.0
        assert abs(run.shares[0.5] - 0.5) < 0.1
