"""Cascade replay: cost of every model called, thresholds under a budget, AUROC, noise, savings."""

from __future__ import annotations

import numpy as np
import pytest

from switchyard.eval import cascade


def test_cost_counts_every_model_called() -> None:
    quality = np.array([[1.0, 1.0], [0.0, 1.0]])
    cost = np.array([[1.0, 10.0], [1.0, 10.0]])
    scores = np.array([[0.9, 0.0], [0.1, 0.0]])
    q, c = cascade.run_strategy(cascade.Strategy((0, 1), (0.5,)), scores, quality, cost)
    assert q.tolist() == [1.0, 1.0]
    assert c.tolist() == [1.0, 11.0]


def test_agreement_raises_the_second_stage_score() -> None:
    scores = np.zeros((2, 3))
    codes = np.array([[0, 0, 1], [0, 1, 2]])
    stages = cascade.stage_scores((0, 1, 2), scores, codes)
    assert stages[1].tolist() == [1.0, 0.0]
    quality = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    cost = np.array([[1.0, 2.0, 10.0]] * 2)
    strategy = cascade.Strategy((0, 1, 2), (np.inf, 0.5))  # model 0 only votes; accept model 1 when they agree
    q, c = cascade.run_strategy(strategy, scores, quality, cost, codes=codes)
    assert q.tolist() == [1.0, 1.0]
    assert c.tolist() == [3.0, 13.0]


def test_noise_one_inverts_every_decision() -> None:
    quality = np.array([[1.0, 0.0], [0.0, 1.0]])
    cost = np.ones((2, 2))
    scores = np.array([[0.9, 0.0], [0.1, 0.0]])
    q, _ = cascade.run_strategy(cascade.Strategy((0, 1), (0.5,)), scores, quality, cost, noise=1.0)
    assert q.tolist() == [0.0, 0.0]


def test_grid_evaluation_matches_replay_and_budget_is_respected() -> None:
    rng = np.random.default_rng(0)
    scores = rng.random((60, 3))
    quality = (rng.random((60, 3)) < 0.6).astype(float)
    cost = np.tile([1.0, 2.0, 5.0], (60, 1))
    codes = rng.integers(0, 2, (60, 3))
    strategies, accs, costs = cascade.enumerate_strategies(scores, quality, cost, codes)
    for i in rng.integers(0, len(strategies), 40):
        q, c = cascade.run_strategy(strategies[i], scores, quality, cost, codes=codes)
        assert q.mean() == pytest.approx(accs[i])
        assert c.mean() == pytest.approx(costs[i])
    chosen = cascade.best_under_budget(strategies, accs, costs, budget=2.0)
    q, c = cascade.run_strategy(chosen, scores, quality, cost, codes=codes)
    assert c.mean() <= 2.0
    assert q.mean() == pytest.approx(accs[costs <= 2.0].max())


def test_auroc_by_hand() -> None:
    # positives 0.35 and 0.8 against negatives 0.1 and 0.4: 3 of 4 pairs ordered right
    assert cascade.auroc(np.array([0.0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)
    assert cascade.auroc(np.array([0.0, 1.0]), np.array([0.5, 0.5])) == pytest.approx(0.5)


def test_savings_at_equal_accuracy() -> None:
    points = [(1.0, 0.8), (2.0, 0.9), (3.0, 0.95)]
    assert cascade.savings_at_equal_accuracy(points, best_cost=10.0, best_quality=0.9) == (2.0, pytest.approx(0.8))
    assert cascade.savings_at_equal_accuracy(points, best_cost=10.0, best_quality=0.99) is None


def test_answer_codes_reduce_options_to_letters() -> None:
    codes = cascade.answer_codes([["D", "D)", "(D) because", "C"], ["def f(): pass", "def  f():  pass", "x", "X"]])
    assert codes[0].tolist() == [0, 0, 0, 1]
    assert codes[1].tolist() == [0, 0, 1, 1]
