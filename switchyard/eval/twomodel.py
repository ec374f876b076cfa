"""Two-model routing metrics, computed as RouteLLM's evaluation code does.

Definitions followed (lm-sys/RouteLLM, ``routellm/evals/benchmarks.py`` and ``routellm/evals/evaluate.py``):

- **Sweep:** thresholds are the edges of ``pd.qcut(scores, 10, retbins=True)``, i.e. the 0, 10, …, 100 % quantiles of
  the router's scores (linear interpolation). For every edge but the last a prompt goes to the strong model when
  ``score >= threshold``; for the last edge when ``score > threshold`` (so the sweep runs from 100 % to 0 % strong
  calls). Each threshold gives one point (% strong calls, mean quality). Unlike ``pd.qcut`` we do not raise on
  duplicate edges (tied scores): they simply give repeated points.
- **CPT(x %):** ``np.interp(x * (strong - weak) + weak, quality, strong_pct)`` over the points sorted by % strong
  calls, exactly as ``pct_call_metric`` (np.interp assumes the qualities increase; RouteLLM does not check).
- **APGR:** ``(trapz(quality, pct / 100) - trapz(weak)) / (trapz(strong) - trapz(weak))`` over the same sorted points,
  where ``weak``/``strong`` are the single models' mean quality on the evaluated prompts (``apgr_metric``).
- **Optimal:** ``get_optimal_accuracy``: weak everywhere plus the strong model on up to ``share × n`` prompts where
  only the strong model is right (for graded quality: the prompts with the largest positive gain).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

CPT_LEVELS = (0.2, 0.5, 0.8)


@dataclass(frozen=True)
class Sweep:
    """Points of a RouteLLM threshold sweep, sorted by strong share (ascending)."""

    thresholds: FloatArray
    strong_pct: FloatArray  # 0..100
    quality: FloatArray
    strong_quality: float
    weak_quality: float


@dataclass(frozen=True)
class TwoModelMetrics:
    apgr: float
    cpt: dict[float, float]  # level (0.5) -> % strong calls
    apgr_ci: tuple[float, float]
    cpt_ci: dict[float, tuple[float, float]]
    strong_quality: float
    weak_quality: float
    n: int


def qcut_thresholds(scores: FloatArray, bins: int = 10) -> FloatArray:
    """The bin edges ``pd.qcut(scores, bins, retbins=True)`` returns (linear-interpolated quantiles)."""
    return np.quantile(scores, np.linspace(0.0, 1.0, bins + 1))


def route_strong(scores: FloatArray, thresholds: FloatArray) -> NDArray[np.bool_]:
    """(thresholds × prompts) mask of strong calls: ``>=`` for every edge but the last, ``>`` for the last."""
    mask = scores[None, :] >= thresholds[:, None]
    mask[-1] = scores > thresholds[-1]
    return mask


def sweep(scores: FloatArray, strong: FloatArray, weak: FloatArray, bins: int = 10) -> Sweep:
    thresholds = qcut_thresholds(scores, bins)
    mask = route_strong(scores, thresholds)
    quality = np.where(mask, strong[None, :], weak[None, :]).mean(axis=1)
    pct = mask.mean(axis=1) * 100.0
    order = np.argsort(pct, kind="stable")
    return Sweep(thresholds[order], pct[order], quality[order], float(strong.mean()), float(weak.mean()))


def cpt(points: Sweep, level: float) -> float:
    """% strong calls needed to recover ``level`` of the strong-weak quality gap (RouteLLM's ``pct_call_metric``)."""
    target = level * (points.strong_quality - points.weak_quality) + points.weak_quality
    return float(np.interp(target, points.quality, points.strong_pct))


def _trapz(y: FloatArray, x: FloatArray) -> float:
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2.0))


def apgr(points: Sweep) -> float:
    """Average performance gap recovered (RouteLLM's ``apgr_metric``)."""
    x = points.strong_pct / 100.0
    auc = _trapz(points.quality, x)
    weak_auc = _trapz(np.full_like(x, points.weak_quality), x)
    strong_auc = _trapz(np.full_like(x, points.strong_quality), x)
    if strong_auc == weak_auc:
        return float("nan")
    return (auc - weak_auc) / (strong_auc - weak_auc)


def optimal_quality(strong: FloatArray, weak: FloatArray, share: float) -> float:
    """Best possible mean quality with at most ``share`` of prompts on the strong model (RouteLLM's optimal)."""
    gain = np.sort(np.clip(strong - weak, 0.0, None))[::-1]
    calls = int(len(gain) * share)
    return float((weak.sum() + gain[:calls].sum()) / len(gain))


def evaluate(
    scores: FloatArray,
    strong: FloatArray,
    weak: FloatArray,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    levels: tuple[float, ...] = CPT_LEVELS,
) -> TwoModelMetrics:
    """APGR and CPT on the given (held-out) prompts, with percentile bootstrap 95 % intervals over prompts."""
    points = sweep(scores, strong, weak)
    base_apgr = apgr(points)
    base_cpt = {level: cpt(points, level) for level in levels}
    rng = np.random.default_rng(seed)
    n = len(scores)
    apgrs = np.empty(bootstrap)
    cpts = np.empty((bootstrap, len(levels)))
    for b in range(bootstrap):
        index = rng.integers(0, n, n)
        resampled = sweep(scores[index], strong[index], weak[index])
        apgrs[b] = apgr(resampled)
        cpts[b] = [cpt(resampled, level) for level in levels]
    return TwoModelMetrics(
        apgr=base_apgr,
        cpt=base_cpt,
        apgr_ci=_interval(apgrs),
        cpt_ci={level: _interval(cpts[:, i]) for i, level in enumerate(levels)},
        strong_quality=points.strong_quality,
        weak_quality=points.weak_quality,
        n=n,
    )


@dataclass(frozen=True)
class PairedDifference:
    """One router minus a reference on the same prompts: point value and paired bootstrap 95 % interval."""

    apgr: tuple[float, tuple[float, float]]
    cpt: dict[float, tuple[float, tuple[float, float]]]  # level -> difference in % strong calls (negative: fewer)


def paired_difference(
    scores: FloatArray,
    reference: FloatArray,
    strong: FloatArray,
    weak: FloatArray,
    *,
    bootstrap: int = 1000,
    seed: int = 0,
    levels: tuple[float, ...] = CPT_LEVELS,
) -> PairedDifference:
    """APGR and CPT of ``scores`` minus those of ``reference``, both routers scored on the same resampled prompts,
    so the interval reflects the routers' difference and not which prompts happened to be drawn."""

    def metrics(i: NDArray[np.intp] | slice) -> NDArray[np.float64]:
        ours, theirs = sweep(scores[i], strong[i], weak[i]), sweep(reference[i], strong[i], weak[i])
        return np.array([apgr(ours) - apgr(theirs), *(cpt(ours, level) - cpt(theirs, level) for level in levels)])

    point = metrics(slice(None))
    rng = np.random.default_rng(seed)
    n = len(scores)
    draws = np.array([metrics(rng.integers(0, n, n)) for _ in range(bootstrap)])
    return PairedDifference(
        apgr=(float(point[0]), _interval(draws[:, 0])),
        cpt={level: (float(point[1 + k]), _interval(draws[:, 1 + k])) for k, level in enumerate(levels)},
    )


def _interval(values: FloatArray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if len(finite) == 0:
        return (float("nan"), float("nan"))
    low, high = np.percentile(finite, [2.5, 97.5])
    return (float(low), float(high))


def threshold_for_share(calibration_scores: FloatArray, share: float) -> float:
    """Score threshold that sends ``share`` of the calibration prompts to the strong model (``score >= t``)."""
    if share <= 0.0:
        return float("inf")
    return float(np.quantile(calibration_scores, 1.0 - min(share, 1.0)))


def realised_share(scores: FloatArray, threshold: float) -> float:
    return float(np.mean(scores >= threshold))
