"""Training the semantic cache's pair verifier offline (``switchyard train cache``), with scikit-learn.

Only the fit part of the paraphrase pairs is used here: word-piece rarity (IDF) is counted on its texts, the
operating thresholds are chosen on out-of-fold scores (5 folds over question groups, so no question is scored by a
model that saw it), and the final model is fitted on the whole fit part. The result is written as plain arrays
(``switchyard/cache/verifier_model.npz``), read by ``switchyard.cache.verifier`` without scikit-learn.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from switchyard.cache.verifier import FEATURE_NAMES, FORMAT_VERSION, pair_features, piece_ids, word_pieces
from switchyard.eval.cache import operating_threshold
from switchyard.eval.cache_data import Pairs, split_groups

# Pairs further apart than this are never the same question (no duplicate in the data is); not worth verifying.
PREFILTER = 0.50
FOLDS = 4
# The high-precision end of the curve rests on a few hundred pairs, so one model's seed moves it a lot; the
# average of a few (their log-odds, i.e. all their trees with values divided by their number) moves it much less.
SEEDS = 3
HGB_PARAMS: dict[str, Any] = {
    "max_iter": 3000,
    "learning_rate": 0.02,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "max_features": 0.5,
    "early_stopping": True,
    "n_iter_no_change": 30,
}


@dataclass(frozen=True)
class TrainedVerifier:
    arrays: dict[str, NDArray[Any]]
    threshold: float
    cosine_threshold: float
    out_of_fold: NDArray[np.float64]


def embedder_unseen(fit: Pairs, tuning: Path) -> NDArray[np.bool_] | None:
    """The fit pairs the shipped embedder tuning did not learn from (its file records the split), or None."""
    if not tuning.is_file():
        return None
    with np.load(tuning, allow_pickle=False) as data:
        meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
    if "share" not in meta:
        return None
    return ~split_groups(fit, float(meta["share"]), int(meta["split_seed"]))


def idf_table(texts: list[str], vocabulary: int = 30522) -> NDArray[np.float32]:
    tokenizer = word_pieces()
    counts = np.zeros(vocabulary)
    for ids in piece_ids(tokenizer, texts):
        counts[list(set(ids))] += 1
    return np.log((len(texts) + 1) / (counts + 1)).astype(np.float32)


def features_for(
    pairs: Pairs, vectors: Mapping[str, NDArray[np.float32]], idf: NDArray[np.float32]
) -> NDArray[np.float64]:
    a = np.stack([vectors[t] for t in pairs.a])
    b = np.stack([vectors[t] for t in pairs.b])
    return pair_features(list(zip(pairs.a, pairs.b, strict=True)), a, b, idf, word_pieces())


def _models(x: NDArray[np.float64], y: NDArray[np.int64], seed: int) -> list[Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier

    return [HistGradientBoostingClassifier(random_state=seed + i, **HGB_PARAMS).fit(x, y) for i in range(SEEDS)]


def _average_probability(models: list[Any], x: NDArray[np.float64]) -> NDArray[np.float64]:
    raw = np.mean([m.decision_function(x) for m in models], axis=0)
    result: NDArray[np.float64] = 1.0 / (1.0 + np.exp(-raw))
    return result


def train_verifier(
    fit: Pairs,
    vectors: Mapping[str, NDArray[np.float32]],
    *,
    target_precision: float,
    seed: int = 0,
    calibrate: NDArray[np.bool_] | None = None,
    step: Callable[[str], None] = lambda _: None,
) -> TrainedVerifier:
    """``calibrate`` marks the fit pairs the thresholds are chosen on (default all): the pairs the embedder was not
    tuned on, whose cosines are as a new question's will be (on the others they are optimistic)."""
    step("counting word pieces")
    idf = idf_table(sorted(set(fit.a) | set(fit.b)))
    x = features_for(fit, vectors, idf)
    cosines = x[:, 0]
    y = fit.label
    oof = out_of_fold(fit, x, seed, step)
    step("final model")
    models = _models(x, y, seed)
    chosen = np.ones(len(y), dtype=np.bool_) if calibrate is None else calibrate
    threshold = operating_threshold(oof[chosen], y[chosen], target_precision)
    cosine_threshold = operating_threshold(cosines[chosen], y[chosen], target_precision)
    arrays = export_forest(models)
    arrays.update(
        format_version=np.array(FORMAT_VERSION),
        feature_names=np.array(FEATURE_NAMES),
        idf=idf.astype(np.float16),
        threshold=np.array(threshold),
        prefilter=np.array(PREFILTER),
        cosine_threshold=np.array(cosine_threshold),
        target_precision=np.array(target_precision),
    )
    return TrainedVerifier(arrays, threshold, cosine_threshold, oof)


def out_of_fold(
    fit: Pairs, x: NDArray[np.float64], seed: int = 0, step: Callable[[str], None] = lambda _: None
) -> NDArray[np.float64]:
    """Each fit pair's verifier score from models that never saw its question group (the stacked cross-encoder
    is weighed against these, not against the final model's optimistic in-sample scores)."""
    folds = _folds(fit, FOLDS, seed)
    oof = np.zeros(len(fit))
    for k in range(FOLDS):
        step(f"fold {k + 1}/{FOLDS}")
        held = folds == k
        oof[held] = _average_probability(_models(x[~held], fit.label[~held], seed), x[held])
    return np.where(x[:, 0] >= PREFILTER, oof, 0.0)


def _folds(pairs: Pairs, k: int, seed: int) -> NDArray[np.int64]:
    # Peel off one group-preserving share at a time: fold i takes 1/(k-i) of what is left.
    folds = np.full(len(pairs), -1)
    for i in range(k - 1):
        left = folds < 0
        share = split_groups(pairs.subset(left), 1.0 / (k - i), seed + 1 + i)
        rows = np.flatnonzero(left)
        folds[rows[share]] = i
    folds[folds < 0] = k - 1
    return folds


def export_forest(models: Any) -> dict[str, NDArray[Any]]:
    """Fitted models' trees as flat arrays with global node ids (see ``verifier.Forest``); several models become
    one forest scoring the mean of their log-odds."""
    models = models if isinstance(models, list) else [models]
    roots, feature, threshold, left, right, leaf, value = [], [], [], [], [], [], []
    offset, depth = 0, 0
    predictors = [(p, len(models)) for m in models for (p,) in m._predictors]  # binary: one tree per round
    for predictor, count in predictors:
        nodes = predictor.nodes
        roots.append(offset)
        feature.append(nodes["feature_idx"])
        threshold.append(nodes["num_threshold"])
        left.append(np.where(nodes["is_leaf"], 0, nodes["left"] + offset))
        right.append(np.where(nodes["is_leaf"], 0, nodes["right"] + offset))
        leaf.append(nodes["is_leaf"].astype(bool))
        value.append(nodes["value"] / count)
        depth = max(depth, int(nodes["depth"].max()) + 1)
        offset += len(nodes)
    return {
        "roots": np.array(roots, dtype=np.int32),
        "feature": np.concatenate(feature).astype(np.int16),
        "node_threshold": np.concatenate(threshold).astype(np.float64),
        "left": np.concatenate(left).astype(np.int32),
        "right": np.concatenate(right).astype(np.int32),
        "is_leaf": np.concatenate(leaf),
        "value": np.concatenate(value).astype(np.float32),
        "baseline": np.array(float(np.mean([np.ravel(m._baseline_prediction)[0] for m in models]))),
        "depth": np.array(depth),
    }


def save(trained: TrainedVerifier, metrics: dict[str, float], path: Path) -> None:
    arrays = dict(trained.arrays)
    arrays["metric_names"] = np.array(sorted(metrics))
    arrays["metric_values"] = np.array([metrics[k] for k in sorted(metrics)], dtype=np.float64)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        np.savez_compressed(out, allow_pickle=False, **arrays)
