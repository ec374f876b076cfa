"""Cross-validated replays of stored outcomes: every score reported comes from a router not fitted on that prompt."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from switchyard.eval import pareto, twomodel
from switchyard.eval.data import MultiOutcomes, PairOutcomes
from switchyard.eval.splits import Fold
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings, train_router

FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]
SHARES = (0.2, 0.5, 0.8)
COST_WEIGHTS = np.concatenate([[0.0], np.logspace(0.5, 5.5, 60)])


def _quiet(_: str) -> None:
    return None


@dataclass(frozen=True)
class TwoModelRun:
    router: str
    scores: FloatArray  # out-of-fold P(strong wins) for every prompt
    sweep: twomodel.Sweep
    metrics: twomodel.TwoModelMetrics
    shares: dict[float, float]  # target strong share (calibrated on held-out slices) -> realised on test folds
    strong: FloatArray
    weak: FloatArray


def two_model(
    data: PairOutcomes,
    kinds: list[str],
    folds: list[Fold],
    settings: TrainSettings,
    *,
    bootstrap: int = 1000,
    progress: Progress = _quiet,
) -> list[TwoModelRun]:
    quality = np.column_stack([data.strong, data.weak])
    models = [data.strong_name, data.weak_name]
    runs = []
    for kind in kinds:
        scores = np.zeros(len(data))
        strong_calls = dict.fromkeys(SHARES, 0.0)
        for number, fold in enumerate(folds):
            progress(f"{data.name}: {kind} fold {number + 1}/{len(folds)}")
            router = train_router(
                kind,
                [data.prompts[i] for i in fold.train],
                quality[fold.train],
                models,
                target="win",
                settings=replace(settings, seed=settings.seed + number),
            )
            router.calibrate([data.prompts[i] for i in fold.calibrate])
            fold_scores = router.score([data.prompts[i] for i in fold.test])
            scores[fold.test] = fold_scores
            for share in SHARES:
                strong_calls[share] += float(np.sum(fold_scores >= router.threshold(share)))
        tested = sum(len(f.test) for f in folds)
        metrics = twomodel.evaluate(scores, data.strong, data.weak, bootstrap=bootstrap, seed=settings.seed)
        sweep = twomodel.sweep(scores, data.strong, data.weak)
        shares = {s: c / tested for s, c in strong_calls.items()}
        runs.append(TwoModelRun(kind, scores, sweep, metrics, shares, data.strong, data.weak))
    return runs


@dataclass(frozen=True)
class ManyModelRun:
    router: str
    predictions: FloatArray  # out-of-fold predicted quality (prompts × models)
    fold_costs: FloatArray  # (prompts × models): the training-set mean cost each prompt's router used
    summaries: dict[str, pareto.ParetoSummary]  # per group (task), plus "all"


def many_model(
    data: MultiOutcomes,
    kinds: list[str],
    folds: list[Fold],
    settings: TrainSettings,
    *,
    progress: Progress = _quiet,
) -> list[ManyModelRun]:
    runs = []
    for kind in kinds:
        predictions = np.zeros(data.quality.shape)
        fold_costs = np.zeros(data.cost.shape)
        for number, fold in enumerate(folds):
            progress(f"{data.name}: {kind} fold {number + 1}/{len(folds)}")
            train = fold.train
            costs = data.cost[train].mean(axis=0)
            router = train_router(
                kind,
                [data.prompts[i] for i in train],
                data.quality[train],
                data.models,
                target="quality",
                costs=costs,
                settings=replace(settings, seed=settings.seed + number),
            )
            predictions[fold.test] = router.predict([data.prompts[i] for i in fold.test])
            fold_costs[fold.test] = costs
        runs.append(ManyModelRun(kind, predictions, fold_costs, summarise_groups(kind, data, predictions, fold_costs)))
    return runs


def sweep_choices(
    predictions: FloatArray, costs: FloatArray, weights: FloatArray = COST_WEIGHTS
) -> list[NDArray[np.intp]]:
    """One routing decision per cost weight λ: argmax(predicted quality − λ · expected cost)."""
    return [np.asarray(np.argmax(predictions - w * costs, axis=1), dtype=np.intp) for w in weights]


def summarise_groups(
    kind: str, data: MultiOutcomes, predictions: FloatArray, costs: FloatArray
) -> dict[str, pareto.ParetoSummary]:
    choices = sweep_choices(predictions, costs)
    groups = np.array(data.groups)
    out = {}
    for group in [*sorted(set(data.groups)), "all"]:
        rows = np.arange(len(groups)) if group == "all" else np.flatnonzero(groups == group)
        if group == "all" and len(set(data.groups)) == 1:
            continue
        q, c = data.quality[rows], data.cost[rows]
        points = [
            pareto.routed_point(f"λ={w:.3g}", ch[rows], q, c) for w, ch in zip(COST_WEIGHTS, choices, strict=True)
        ]
        out[group] = pareto.summarise(kind, points, data.models, q, c)
    return out


def train_default(
    data: PairOutcomes | MultiOutcomes, kind: str, settings: TrainSettings, calibrate_share: float = 0.1
) -> LearnedRouter:
    """Fit on all but a seeded calibration slice, calibrate on that slice: the file ``train router`` writes."""
    rng = np.random.default_rng(settings.seed)
    order = rng.permutation(len(data))
    cut = int(round(len(order) * calibrate_share))
    cal, train = np.sort(order[:cut]), np.sort(order[cut:])
    prompts = [data.prompts[i] for i in train]
    if isinstance(data, PairOutcomes):
        quality = np.column_stack([data.strong, data.weak])[train]
        router = train_router(
            kind, prompts, quality, [data.strong_name, data.weak_name], target="win", settings=settings
        )
    else:
        costs = data.cost[train].mean(axis=0)
        router = train_router(
            kind, prompts, data.quality[train], data.models, target="quality", costs=costs, settings=settings
        )
    router.calibrate([data.prompts[i] for i in cal])
    router.settings["calibrated_on"] = len(cal)
    return router
