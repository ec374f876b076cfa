"""RouteLLM two-model metrics against hand-computed answers."""

from __future__ import annotations

import numpy as np
import pytest

from switchyard.eval import twomodel


def test_thresholds_are_the_qcut_edges() -> None:
    assert twomodel.qcut_thresholds(np.array([0.0, 1, 2, 3, 4]), 4).tolist() == [0, 1, 2, 3, 4]


def test_a_router_that_knows_nothing_recovers_half_the_gap() -> None:
    # scores order the prompts but every prompt gains the same: quality rises linearly with the strong share
    points = twomodel.sweep(np.array([0.1, 0.2, 0.3, 0.4]), np.ones(4), np.zeros(4), bins=4)
    assert points.strong_pct.tolist() == [0, 25, 50, 75, 100]
    assert points.quality.tolist() == pytest.approx([0, 0.25, 0.5, 0.75, 1.0])
    assert twomodel.apgr(points) == pytest.approx(0.5)
    assert twomodel.cpt(points, 0.5) == pytest.approx(50.0)


def test_apgr_and_cpt_by_hand() -> None:
    # edges: 0.1, 0.175, 0.5, 0.825, 0.9 -> 100, 75, 50, 25, 0 % strong; quality .5 .5 .5 .25 0
    # AUC = .25*(0+.25)/2 + .25*(.25+.5)/2 + .5*.5 = .375; strong AUC .5, weak 0 -> APGR .75
    scores = np.array([0.9, 0.8, 0.1, 0.2])
    points = twomodel.sweep(scores, np.array([1.0, 1, 0, 0]), np.zeros(4), bins=4)
    assert points.thresholds.tolist() == pytest.approx([0.9, 0.825, 0.5, 0.175, 0.1])
    assert points.quality.tolist() == pytest.approx([0, 0.25, 0.5, 0.5, 0.5])
    assert twomodel.apgr(points) == pytest.approx(0.75)
    assert twomodel.cpt(points, 0.5) == pytest.approx(25.0)  # target quality .25
    assert twomodel.cpt(points, 0.8) == pytest.approx(40.0)  # target .4: 25 + 0.15 / 0.25 * 25


def test_last_edge_is_strict_so_the_sweep_ends_at_zero_strong_calls() -> None:
    mask = twomodel.route_strong(np.array([1.0, 2.0]), np.array([1.0, 2.0]))
    assert mask.tolist() == [[True, True], [False, False]]


def test_optimal_quality_spends_the_strong_calls_where_only_strong_is_right() -> None:
    strong, weak = np.array([1.0, 1, 0, 0]), np.array([0.0, 0, 0, 1])
    assert twomodel.optimal_quality(strong, weak, 0.25) == pytest.approx(0.5)
    assert twomodel.optimal_quality(strong, weak, 1.0) == pytest.approx(0.75)


def test_threshold_for_share_and_realised_share() -> None:
    calibration = np.arange(100) / 100.0
    threshold = twomodel.threshold_for_share(calibration, 0.3)
    assert twomodel.realised_share(calibration, threshold) == pytest.approx(0.3, abs=0.011)
    assert twomodel.threshold_for_share(calibration, 0.0) == float("inf")


def test_bootstrap_interval_brackets_the_estimate() -> None:
    rng = np.random.default_rng(0)
    gain = rng.random(2000)
    strong = (rng.random(2000) < 0.5 + 0.4 * gain).astype(float)
    weak = (rng.random(2000) < 0.5).astype(float)
    metrics = twomodel.evaluate(gain, strong, weak, bootstrap=100, seed=1)
    low, high = metrics.apgr_ci
    assert low <= metrics.apgr <= high
    assert 0.5 < metrics.apgr < 1.0
    assert set(metrics.cpt) == {0.2, 0.5, 0.8}


def test_paired_difference_of_a_router_with_itself_is_exactly_zero() -> None:
    rng = np.random.default_rng(1)
    scores, strong, weak = rng.random(200), rng.integers(0, 2, 200).astype(float), rng.integers(0, 2, 200) * 0.0
    d = twomodel.paired_difference(scores, scores, strong, weak, bootstrap=50)
    assert d.apgr == (0.0, (0.0, 0.0))
    assert d.cpt[0.5] == (0.0, (0.0, 0.0))


def test_paired_difference_favours_the_router_that_knows_where_the_strong_model_wins() -> None:
    rng = np.random.default_rng(2)
    strong = rng.integers(0, 2, 400).astype(float)
    weak = np.zeros(400)
    informed = strong + 0.1 * rng.random(400)  # ranks every strong win above every tie
    blind = rng.random(400)
    d = twomodel.paired_difference(informed, blind, strong, weak, bootstrap=200)
    assert d.apgr[0] > 0.2 and d.apgr[1][0] > 0.0
    cpt, (low, high) = d.cpt[0.5]
    assert cpt < -15.0 and high < 0.0  # fewer strong calls for half the gap, and the interval says so
    assert low <= cpt <= high
