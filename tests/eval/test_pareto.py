"""RouterBench hull and AIQ against hand-computed answers and a brute-force envelope."""

from __future__ import annotations

import numpy as np
import pytest

from switchyard.eval import pareto


def test_hull_drops_points_below_it_and_after_the_peak() -> None:
    costs = np.array([1.0, 2, 3, 4, 2.5])
    quality = np.array([0.5, 0.6, 0.9, 0.8, 0.55])
    hull = pareto.ndch(costs, quality)
    assert hull.tolist() == [[1.0, 0.5], [3.0, 0.9]]
    # area 1 -> 3: (0.5 + 0.9) / 2 * 2 = 1.4; flat 3 -> 4 at 0.9: 0.9; AIQ = 2.3 / 4
    assert pareto.aiq(hull, 4.0) == pytest.approx(0.575)


def test_zero_router_aiq_by_hand() -> None:
    quality = np.array([[0.5, 0.7, 0.8]])
    cost = np.array([[1.0, 2.0, 4.0]])
    hull = pareto.zero_hull(["a", "b", "c"], quality, cost)
    assert hull.tolist() == [[1.0, 0.5], [2.0, 0.7], [4.0, 0.8]]
    assert pareto.aiq(hull, 4.0) == pytest.approx((0.6 + 1.5) / 4)


def _envelope_area(costs: np.ndarray, quality: np.ndarray) -> float:
    """Brute force: lift every point to the best interpolation of any pair around it, stop at the best quality."""
    xs = np.unique(costs)
    lifted = []
    for x in xs:
        best = quality[costs == x].max()
        for i in range(len(costs)):
            for j in range(len(costs)):
                if costs[i] < x < costs[j]:
                    best = max(best, np.interp(x, [costs[i], costs[j]], [quality[i], quality[j]]))
        lifted.append(best)
    ys = np.array(lifted)
    peak = int(np.argmax(ys))
    return float(np.sum((xs[1 : peak + 1] - xs[:peak]) * (ys[1 : peak + 1] + ys[:peak]) / 2))


@pytest.mark.parametrize("seed", range(5))
def test_hull_area_matches_the_brute_force_envelope(seed: int) -> None:
    rng = np.random.default_rng(seed)
    costs = np.round(rng.random(12), 2) + 0.01
    quality = rng.random(12)
    assert pareto.area(pareto.ndch(costs, quality)) == pytest.approx(_envelope_area(costs, quality))


def test_oracle_takes_the_cheapest_best_model() -> None:
    quality = np.array([[1.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    cost = np.array([[3.0, 1.0, 2.0], [1.0, 2.0, 3.0]])
    assert pareto.oracle_choice(quality, cost).tolist() == [1, 0]
    point = pareto.routed_point("oracle", pareto.oracle_choice(quality, cost), quality, cost)
    assert (point.cost, point.quality) == (1.0, 0.5)


def test_summary_finds_the_cheapest_point_matching_the_best_single_model() -> None:
    quality = np.array([[0.0, 1.0], [1.0, 1.0], [1.0, 0.0]])
    cost = np.array([[1.0, 10.0]] * 3)
    # single models: a 0.667 @ 1, b 0.667 @ 10; a router that picks right everywhere: 1.0 @ 4
    points = [pareto.Point("cheap", 1.0, 2 / 3), pareto.Point("mixed", 4.0, 1.0)]
    summary = pareto.summarise("r", points, ["a", "b"], quality, cost)
    assert summary.best_single.label == "a"
    assert summary.cheapest_match == points[0]
    assert summary.savings_at_best == pytest.approx(0.0)
    assert summary.aiq > summary.zero_aiq
