"""Many-model routing metrics, as RouterBench computes them (withmartian/routerbench, ``evaluation/AIQ.py``).

- **Non-decreasing convex hull (NDCH)** of (cost, quality) points: RouterBench's
  ``get_non_descreasing_convex_hull_of`` lifts every point to the upper concave envelope of the set and then drops
  points whose quality falls below the previous one. The area under that curve equals the area under the upper
  convex hull from the cheapest point up to the best-quality point, which is what :func:`ndch` returns (hull
  vertices only; the lifted interior points lie on its segments and add no area). At the cheapest cost we keep the
  best quality (RouterBench keeps whichever point sorts first).
- **AIQ:** ``calc_AIQ``: append ``(c_max, last quality)`` to each hull, where ``c_max`` is the largest cost over all
  hulls compared, take ``np.trapz`` and divide by ``c_max``.
- **Zero router:** the NDCH of the single models' points (RouterBench plots it as "Zero router"): randomly mixing
  two neighbouring models reaches every point of it.
- **Oracle:** per prompt, the cheapest model that answers best (``oracle_model_to_route_to``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class Point:
    label: str
    cost: float
    quality: float


def ndch(costs: FloatArray, qualities: FloatArray) -> FloatArray:
    """Vertices (k × 2, sorted by cost) of the non-decreasing upper convex hull of the points."""
    if len(costs) == 0:
        raise ValueError("no points")
    order = np.lexsort((-qualities, costs))
    pts = np.column_stack([costs[order], qualities[order]])
    # one point per cost: the best quality (first after the sort above)
    keep = np.ones(len(pts), dtype=bool)
    keep[1:] = pts[1:, 0] != pts[:-1, 0]
    pts = pts[keep]
    hull: list[tuple[float, float]] = []
    for x, y in pts:
        while len(hull) >= 2:
            (x1, y1), (x2, y2) = hull[-2], hull[-1]
            # drop the middle point when it lies on or below the segment from hull[-2] to the new point
            if (x2 - x1) * (y - y1) - (y2 - y1) * (x - x1) >= 0:
                hull.pop()
            else:
                break
        hull.append((float(x), float(y)))
    arr = np.array(hull)
    best = int(np.argmax(arr[:, 1]))
    return arr[: best + 1]


def area(hull: FloatArray) -> float:
    x, y = hull[:, 0], hull[:, 1]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def aiq(hull: FloatArray, c_max: float) -> float:
    """RouterBench's AIQ of one hull: area up to ``c_max`` (flat after the hull's last point) divided by ``c_max``."""
    extended = np.vstack([hull, [[max(c_max, float(hull[-1, 0])), hull[-1, 1]]]])
    return area(extended) / c_max


def hull_quality_at(hull: FloatArray, cost: float) -> float:
    """Quality of the hull (a mixture of its vertices) at ``cost``; flat past its ends' qualities."""
    if cost < hull[0, 0]:
        return float("nan")
    return float(np.interp(cost, hull[:, 0], hull[:, 1]))


@dataclass(frozen=True)
class ParetoSummary:
    """One router's cost-quality curve against the single models on the same prompts."""

    name: str
    points: list[Point]
    hull: FloatArray
    aiq: float
    zero_aiq: float
    oracle: Point
    oracle_aiq: float
    best_single: Point
    cheapest_match: Point | None  # cheapest router point with quality >= the best single model's

    @property
    def savings_at_best(self) -> float | None:
        if self.cheapest_match is None or self.best_single.cost <= 0:
            return None
        return 1.0 - self.cheapest_match.cost / self.best_single.cost


def single_model_points(models: list[str], quality: FloatArray, cost: FloatArray) -> list[Point]:
    return [Point(m, float(cost[:, j].mean()), float(quality[:, j].mean())) for j, m in enumerate(models)]


def oracle_choice(quality: FloatArray, cost: FloatArray) -> NDArray[np.intp]:
    """Per prompt, the cheapest of the models with the best quality (RouterBench's ``oracle_model_to_route_to``)."""
    best = quality.max(axis=1, keepdims=True)
    masked_cost = np.where(quality >= best, cost, np.inf)
    return np.asarray(np.argmin(masked_cost, axis=1), dtype=np.intp)


def routed_point(label: str, choice: NDArray[np.intp], quality: FloatArray, cost: FloatArray) -> Point:
    rows = np.arange(len(choice))
    return Point(label, float(cost[rows, choice].mean()), float(quality[rows, choice].mean()))


def summarise(
    name: str, points: list[Point], models: list[str], quality: FloatArray, cost: FloatArray
) -> ParetoSummary:
    """AIQ of a router's points beside the Zero router and the oracle, all on the same prompts and ``c_max``."""
    singles = single_model_points(models, quality, cost)
    oracle = routed_point("oracle", oracle_choice(quality, cost), quality, cost)
    router_hull = ndch(np.array([p.cost for p in points]), np.array([p.quality for p in points]))
    zero_hull = ndch(np.array([p.cost for p in singles]), np.array([p.quality for p in singles]))
    oracle_hull = np.array([[oracle.cost, oracle.quality]])
    c_max = max(float(router_hull[:, 0].max()), float(zero_hull[:, 0].max()))
    best_single = max(singles, key=lambda p: (p.quality, -p.cost))
    matching = [p for p in points if p.quality >= best_single.quality - 1e-12]
    cheapest = min(matching, key=lambda p: p.cost) if matching else None
    return ParetoSummary(
        name=name,
        points=points,
        hull=router_hull,
        aiq=aiq(router_hull, c_max),
        zero_aiq=aiq(zero_hull, c_max),
        oracle=oracle,
        oracle_aiq=aiq(oracle_hull, max(c_max, oracle.cost)),
        best_single=best_single,
        cheapest_match=cheapest,
    )


def zero_hull(models: list[str], quality: FloatArray, cost: FloatArray) -> FloatArray:
    singles = single_model_points(models, quality, cost)
    return ndch(np.array([p.cost for p in singles]), np.array([p.quality for p in singles]))
