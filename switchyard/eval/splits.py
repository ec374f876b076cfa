"""Seeded splits: k-fold, group k-fold (out of domain), and a calibration slice carved from each training part."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Index = NDArray[np.intp]


@dataclass(frozen=True)
class Fold:
    train: Index
    calibrate: Index
    test: Index


def kfold(n: int, k: int = 5, seed: int = 0, calibrate_share: float = 0.1) -> list[Fold]:
    """Shuffled k-fold; every prompt is in exactly one test fold; a calibration slice is cut from each train part."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    parts = np.array_split(order, k)
    return [_fold(np.concatenate(parts[:i] + parts[i + 1 :]), parts[i], calibrate_share, rng) for i in range(k)]


def group_kfold(groups: list[str], k: int = 5, seed: int = 0, calibrate_share: float = 0.1) -> list[Fold]:
    """Out of domain: whole groups (MMLU subjects, RouterBench tasks) are held out together."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    rng.shuffle(names)
    k = min(k, len(names))
    buckets = {name: i % k for i, name in enumerate(names)}
    labels = np.array([buckets[g] for g in groups])
    folds = []
    for i in range(k):
        test = np.flatnonzero(labels == i).astype(np.intp)
        train = np.flatnonzero(labels != i).astype(np.intp)
        folds.append(_fold(train, test, calibrate_share, rng))
    return folds


def _fold(train: Index, test: Index, calibrate_share: float, rng: np.random.Generator) -> Fold:
    train = rng.permutation(train)
    cut = int(round(len(train) * calibrate_share))
    return Fold(np.sort(train[cut:]), np.sort(train[:cut]), np.sort(test))
