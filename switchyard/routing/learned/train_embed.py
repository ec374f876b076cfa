"""Offline training of routers over MiniLM prompt embeddings (``<kind>-minilm``): kNN, RouteLLM's MF, a logistic
head and a small MLP, all on the same 384-dim vectors (plus log length, except for kNN's cosine).

Embeddings come from :mod:`switchyard.routing.learned.embed_features` with its on-disk cache, so cross-validation
embeds each prompt once. The files record ``features.kind = "minilm"``; the gateway embeds at decision time.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from switchyard.routing.learned.embed_features import MiniLMFeatures, training_features
from switchyard.routing.learned.router import WIN_CLASSES, LearnedRouter

if TYPE_CHECKING:
    from switchyard.routing.learned.train import TrainSettings

FloatArray = NDArray[np.float64]
SUFFIX = "-minilm"
BASE_KINDS = ("linear", "knn", "mf", "mlp")
MINILM_KINDS = tuple(f"{k}{SUFFIX}" for k in BASE_KINDS)


def train_minilm(
    kind: str,
    prompts: list[str],
    quality: FloatArray,
    models: list[str],
    target: str,
    s: TrainSettings,
    features: MiniLMFeatures | None = None,
) -> LearnedRouter:
    """Fit ``kind`` (one of :data:`MINILM_KINDS`); ``features`` overrides the packaged embedder (tests)."""
    from switchyard.routing.learned.train import _targets, _train_linear, fit_mf

    base = kind.removesuffix(SUFFIX)
    if base not in BASE_KINDS:
        raise ValueError(f"unknown embedding router kind {kind!r}")
    feats = features or training_features(length=base != "knn", head=s.embed_head, tail=s.embed_tail)
    if base == "knn" and feats.length_feature:
        feats = replace(feats, length_feature=False)
    elif base != "knn" and not feats.length_feature:
        feats = replace(feats, length_feature=True)
    x = feats.transform(prompts)
    if base == "linear":
        router = _train_linear(x, feats, quality, models, target, s)
    elif base == "knn":
        params = {"train_x": x.astype(np.float32).astype(np.float64), "train_y": _targets(quality, target)}
        router = LearnedRouter("knn", target, models, params, feats, {"k": s.k})
    elif base == "mf":
        mf = s if target == "win" else replace(s, mf_lr=s.mf_quality_lr, mf_l2=s.mf_quality_l2)
        router = LearnedRouter("mf", target, models, fit_mf(x, quality, target, mf), feats, {"dim": s.mf_dim})
    else:
        router = LearnedRouter("mlp", target, models, fit_mlp(x, quality, target, s.seed), feats, {"hidden": 64})
    router.settings["features"] = "minilm"
    return router


def fit_mlp(x: FloatArray, quality: FloatArray, target: str, seed: int, hidden: int = 64) -> dict[str, FloatArray]:
    """One ReLU layer (scikit-learn, early stopping). ``win``: the 4 win classes as the linear head has them
    (classes never seen get ~zero probability); ``quality``: one sigmoid output per model (right or not)."""
    from sklearn.neural_network import MLPClassifier

    from switchyard.routing.learned.train import win_classes

    y: NDArray[np.generic]
    if target == "win":
        y = win_classes(quality[:, 0], quality[:, 1])
    else:
        y = (quality >= 0.5).astype(int)
    model = MLPClassifier(
        hidden_layer_sizes=(hidden,), alpha=1e-2, early_stopping=True, max_iter=300, random_state=seed
    ).fit(x, y)
    w1, w2 = (np.asarray(w, dtype=np.float64) for w in model.coefs_)
    b1, b2 = (np.asarray(b, dtype=np.float64) for b in model.intercepts_)
    if target != "win":
        return {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
    out_w, out_b = np.zeros((hidden, WIN_CLASSES)), np.full(WIN_CLASSES, -30.0)
    classes = [int(c) for c in model.classes_]
    if len(classes) == 2:  # a single logistic unit: split it into two softmax logits
        for sign, cls in ((-0.5, classes[0]), (0.5, classes[1])):
            out_w[:, cls], out_b[cls] = sign * w2[:, 0], sign * b2[0]
    else:
        for row, cls in enumerate(classes):
            out_w[:, cls], out_b[cls] = w2[:, row], b2[row]
    return {"w1": w1, "b1": b1, "w2": out_w, "b2": out_b}
