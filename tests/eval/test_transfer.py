"""Leave-one-benchmark-out evaluation on synthetic benchmarks whose answer is known."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from switchyard.eval import data, transfer
from switchyard.eval.data import PairOutcomes
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings, train_router

WORDS = ["river", "garden", "violin", "market", "window", "pepper", "harbor", "candle", "planet", "ladder"]


def _benchmark(name: str, n: int, seed: int, *, marker_helps_strong: bool, scale: float = 1.0) -> PairOutcomes:
    """Prompts with the word 'integral' are where one model wins. The rest are ties where both are right, or,
    where the marker helps the weak model, wins of the strong one, so that it stays the stronger on average."""
    rng = np.random.default_rng(seed)
    prompts, strong, weak = [], [], []
    for i in range(n):
        marked = i % 3 == 0
        words = list(rng.choice(WORDS, 6)) + (["integral"] if marked else [])
        prompts.append(f"{name} question {i}: " + " ".join(words))
        if marked:
            s, w = (1.0, 0.0) if marker_helps_strong else (0.0, 1.0)
        else:
            s, w = (1.0, 1.0) if marker_helps_strong else (1.0, 0.0)
        strong.append(s * scale)
        weak.append(w * scale)
    return PairOutcomes(name, prompts, np.array(strong), np.array(weak), [name] * n)


def test_pool_caps_each_benchmark_and_keeps_its_scale() -> None:
    a = _benchmark("a", 50, 0, marker_helps_strong=True)
    b = _benchmark("b", 10, 1, marker_helps_strong=True, scale=10.0)
    prompts, quality = transfer.pool([a, b], cap=20, seed=0)
    assert len(prompts) == 30 and quality.shape == (30, 2)
    assert sum(p.startswith("a ") for p in prompts) == 20
    assert quality[20:].max() == 10.0  # judge-style scores are not squashed to 0/1


def test_a_shared_rule_transfers_and_a_reversed_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = {
        "a": _benchmark("a", 150, 0, marker_helps_strong=True),
        "b": _benchmark("b", 150, 1, marker_helps_strong=True, scale=9.0),
        "c": _benchmark("c", 150, 2, marker_helps_strong=True),
        "flipped": _benchmark("flipped", 150, 3, marker_helps_strong=False),
    }
    settings = TrainSettings(seed=0, max_features=2000)
    steps: list[str] = []
    pools: list[set[str]] = []  # benchmark names in each training pool, in the order the routers were trained

    def recording(kind: str, prompts: list[str], *args: Any, **kwargs: Any) -> LearnedRouter:
        pools.append({p.split(" ")[0] for p in prompts})
        return train_router(kind, prompts, *args, **kwargs)

    monkeypatch.setattr(transfer, "train_router", recording)
    rows = transfer.leave_one_out(pairs, ["linear", "random"], settings, bootstrap=50, progress=steps.append)
    held_out = [name for name in pairs for _ in ("linear", "random")]
    assert [set(pairs) - pool for pool in pools] == [{name} for name in held_out]  # never trained on what it scores
    assert "linear: trained without flipped" in steps
    assert rows["linear"]["a"].apgr > 0.75  # learned on b and c, which share a's rule (0.83 is perfect here)
    assert rows["linear"]["flipped"].apgr < 0.3  # the other three teach the opposite of what holds here
    assert 0.2 < rows["random"]["a"].apgr < 0.8
    cell = rows["linear"]["b"]
    assert cell.ci[0] <= cell.apgr <= cell.ci[1]
    text = transfer.table({"linear": rows["linear"]}, list(pairs), "t")
    assert text.count("|") > 10 and "flipped" in text


def test_saved_router_marks_the_benchmark_it_was_trained_on() -> None:
    a = _benchmark("a", 90, 0, marker_helps_strong=True)
    b = _benchmark("b", 90, 1, marker_helps_strong=True)
    router: LearnedRouter = train_router(
        "linear", a.prompts, np.column_stack([a.strong, a.weak]), ["s", "w"], target="win",
        settings=TrainSettings(max_features=500),
    )  # fmt: skip
    router.settings["dataset"] = "a"
    row = transfer.saved(router, {"a": a, "b": b}, bootstrap=20, seed=0)
    assert row["a"].note == "trained on it" and row["b"].note == ""
    assert row["b"].apgr > 0.75


@pytest.mark.skipif(not data.default_data_dir().is_dir(), reason="shared data not present")
def test_routerbench_pair_is_gpt4_against_mixtral() -> None:
    arc = data.load_routerbench_pair(data.default_data_dir(), "arc")
    assert arc.name == "arc-pair" and len(arc) > 1000
    # the README's orientation figures for these columns: GPT-4 ≈ 0.95 on ARC, Mixtral ≈ 0.85
    assert 0.93 < arc.strong.mean() < 0.97 and 0.80 < arc.weak.mean() < 0.89


def test_live_calibration_holds_the_share_where_the_files_threshold_drifts() -> None:
    rng = np.random.default_rng(0)
    calibrated_on = rng.uniform(0.0, 1.0, 5000)  # the file's calibration prompts
    file_threshold = lambda share: float(np.quantile(calibrated_on, 1.0 - share))  # noqa: E731
    scores = {"like-calibration": rng.uniform(0.0, 1.0, 300), "shifted-up": rng.uniform(0.85, 1.0, 300)}
    replay = transfer.shares(scores, file_threshold, seed=1)
    found = replay.shares
    assert set(found) == {"like-calibration", "shifted-up", "mixed", "in blocks"}
    for traffic, row in found.items():
        for target in transfer.SHARE_TARGETS:
            file, live = row[target]
            if traffic != "in blocks":  # a shifting mix: the live threshold lags by up to a window
                assert abs(live - target) < 0.03, (traffic, target, live)
            if traffic == "like-calibration":
                assert abs(file - target) < 0.06
    assert found["shifted-up"][0.2][0] > 0.9  # every shifted score clears the file's 20 % threshold
    # in the mixed stream, the shifted-up source takes most of the strong calls: the ranking is the router's
    assert replay.mixed_by_source["shifted-up"] > 0.75 > 0.25 > replay.mixed_by_source["like-calibration"]
    # a window per source gives each source the target share of its own requests
    assert all(abs(share - 0.5) < 0.05 for share in replay.mixed_per_source_window.values())
    text = transfer.share_table("f.npz", replay)
    assert "| shifted-up |" in text and "| mixed |" in text and "| in blocks |" in text
