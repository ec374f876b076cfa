"""Offline training of the learned routers (scikit-learn for features and logistic heads; numpy for MF).

Targets: a two-model router learns from the pair of qualities (strong, weak) per prompt; a many-model router from
the (prompts × models) quality matrix. Nothing here runs in the gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from switchyard.routing.learned.embed_features import ROUTER_HEAD_TOKENS, ROUTER_TAIL_TOKENS, MiniLMFeatures
from switchyard.routing.learned.features import StatsFeatures, TfidfFeatures, fit_stats, fit_tfidf, length_feature
from switchyard.routing.learned.router import WIN_CLASSES, LearnedRouter

FloatArray = NDArray[np.float64]
# "linear-binary" is the issue's TF-IDF baseline: one logistic head on "only the strong model is right"
# "stats" is a logistic head on domain-agnostic text statistics (features.text_stats), quadratic
# "<kind>-minilm": the same heads over MiniLM prompt embeddings (train_embed.py; the semantic extra)
TRAIN_KINDS = ("linear", "linear-binary", "stats", "knn", "mf", "ensemble", "random", "length")
EMBED_KINDS = ("linear-minilm", "knn-minilm", "mf-minilm", "mlp-minilm", "ensemble-minilm")


@dataclass(frozen=True)
class TrainSettings:
    seed: int = 0
    max_features: int = 30000
    svd_dims: int = 256
    c: float = 1.0  # inverse L2 strength of the logistic heads
    k: int = 50  # neighbours of the kNN router
    mf_dim: int = 64
    mf_epochs: int = 60
    mf_lr: float = 0.001  # two-model (pairwise) MF: small steps, strong L2 (2-3k differing pairs on MMLU)
    mf_l2: float = 0.03
    mf_quality_lr: float = 0.01  # many-model (pointwise) MF: those settings collapse it to the per-model prior
    mf_quality_l2: float = 1e-4
    ensemble_c: float = 0.1  # ensemble = strongly regularised logistic heads + a wide kNN, averaged
    ensemble_k: int = 150
    embed_head: int = ROUTER_HEAD_TOKENS  # MiniLM routers embed these first + last word pieces (0: the whole prompt)
    embed_tail: int = ROUTER_TAIL_TOKENS


def win_classes(strong: FloatArray, weak: FloatArray) -> NDArray[np.intp]:
    """0 neither/tie-low, 1 only weak better, 2 only strong better, 3 both right (ties of graded scores → 0)."""
    classes = np.zeros(len(strong), dtype=np.intp)
    classes[weak > strong] = 1
    classes[strong > weak] = 2
    both = (strong == weak) & (strong >= 1.0)
    classes[both] = 3
    return classes


def win_value(strong: FloatArray, weak: FloatArray) -> FloatArray:
    """1 if the strong answer is better, 0 if the weak one is, ½ on a tie: the label RouteLLM's routers predict."""
    return np.where(strong > weak, 1.0, np.where(weak > strong, 0.0, 0.5))


def train_router(
    kind: str,
    prompts: list[str],
    quality: FloatArray,
    models: list[str],
    *,
    target: str,
    costs: FloatArray | None = None,
    settings: TrainSettings | None = None,
) -> LearnedRouter:
    """Fit one router. ``quality`` is (n × 2) [strong, weak] for ``target="win"``, else (n × models)."""
    import scipy.sparse as sp

    s = settings or TrainSettings()
    if quality.shape != (len(prompts), len(models)):
        raise ValueError(f"quality is {quality.shape}, want ({len(prompts)}, {len(models)})")
    meta: dict[str, object] = {"trained_on": len(prompts)}
    if kind == "random":
        router = LearnedRouter("random", target, models, {}, seed=s.seed, settings=meta)
    elif kind == "length":
        router = LearnedRouter("length", target, models, {}, settings=meta)
    elif kind in ("linear", "linear-binary"):
        features = fit_tfidf(prompts, max_features=s.max_features, svd_dims=0, seed=s.seed, length=True)
        x = sp.hstack([_sparse_matrix(features, prompts), np.array([[length_feature(p)] for p in prompts])]).tocsr()
        router = _train_linear(x, features, quality, models, target, s, binary=kind == "linear-binary")
    elif kind == "stats":
        stats = fit_stats(prompts)
        router = _train_linear(stats.transform(prompts), stats, quality, models, target, s)
    elif kind == "knn":
        features = fit_tfidf(prompts, max_features=s.max_features, svd_dims=s.svd_dims, seed=s.seed, length=False)
        train_y = _targets(quality, target)
        x = features.transform(prompts).astype(np.float32).astype(np.float64)
        router = LearnedRouter("knn", target, models, {"train_x": x, "train_y": train_y}, features, {"k": s.k})
    elif kind == "mf":
        features = fit_tfidf(prompts, max_features=s.max_features, svd_dims=s.svd_dims, seed=s.seed, length=True)
        mf = s if target == "win" else replace(s, mf_lr=s.mf_quality_lr, mf_l2=s.mf_quality_l2)
        params = fit_mf(features.transform(prompts), quality, target, mf)
        router = LearnedRouter("mf", target, models, params, features, {"dim": s.mf_dim})
    elif kind == "ensemble":
        if target == "win":  # words for the domain, statistics for what transfers across domains
            members = [
                train_router("linear", prompts, quality, models, target=target, settings=s),
                train_router("stats", prompts, quality, models, target=target, settings=s),
            ]
        else:  # small data: strongly regularised words plus a wide neighbourhood (≈ the task's prior)
            members = [
                train_router("linear", prompts, quality, models, target=target, settings=replace(s, c=s.ensemble_c)),
                train_router("knn", prompts, quality, models, target=target, settings=replace(s, k=s.ensemble_k)),
            ]
        router = LearnedRouter("ensemble", target, models, {}, members=members)
    elif kind == "ensemble-minilm":  # the ensemble plus a router over sentence embeddings (what transfers best)
        base = train_router("ensemble", prompts, quality, models, target=target, settings=s)
        extra = "mlp-minilm" if target == "win" else "knn-minilm"
        members = [*base.members, train_router(extra, prompts, quality, models, target=target, settings=s)]
        router = LearnedRouter("ensemble", target, models, {}, members=members)
    elif kind in EMBED_KINDS:
        from switchyard.routing.learned.train_embed import train_minilm

        router = train_minilm(kind, prompts, quality, models, target, s)
    else:
        raise ValueError(f"unknown router kind {kind!r}")
    router.settings.update(meta)
    router.costs = costs
    return router


def _targets(quality: FloatArray, target: str) -> FloatArray:
    if target == "win":
        return win_value(quality[:, 0], quality[:, 1])[:, None]
    return quality.astype(np.float64)


def _train_linear(
    x: Any,
    features: TfidfFeatures | StatsFeatures | MiniLMFeatures,
    quality: FloatArray,
    models: list[str],
    target: str,
    s: TrainSettings,
    binary: bool = False,
) -> LearnedRouter:
    """Logistic heads on the feature matrix ``x`` (sparse or dense): multinomial over win classes, a single binary
    head (``binary``: the issue's baseline), or one binary head per model."""
    from sklearn.linear_model import LogisticRegression

    if target == "win" and binary:
        y = (quality[:, 0] > quality[:, 1]).astype(int)
        model = LogisticRegression(C=s.c, max_iter=3000).fit(x, y)
        weights, bias = model.coef_.T.copy(), model.intercept_.copy()
    elif target == "win":
        y = win_classes(quality[:, 0], quality[:, 1])
        weights = np.zeros((x.shape[1], WIN_CLASSES))
        bias = np.full(WIN_CLASSES, -30.0)  # classes never seen get ~zero probability
        present = np.unique(y)
        if len(present) == 1:
            bias[present[0]] = 0.0
        else:
            model = LogisticRegression(C=s.c, max_iter=3000).fit(x, y)
            coef = model.coef_ if len(present) > 2 else np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
            icpt = (
                model.intercept_ if len(present) > 2 else np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
            )
            for row, cls in enumerate(model.classes_):
                weights[:, int(cls)] = coef[row]
                bias[int(cls)] = icpt[row]
    else:
        weights = np.zeros((x.shape[1], len(models)))
        bias = np.zeros(len(models))
        for j in range(len(models)):
            y = (quality[:, j] >= 0.5).astype(int)
            if y.min() == y.max():
                bias[j] = 30.0 if y[0] else -30.0
                continue
            model = LogisticRegression(C=s.c, max_iter=3000).fit(x, y)
            weights[:, j] = model.coef_[0]
            bias[j] = model.intercept_[0]
    return LearnedRouter("linear", target, models, {"weights": weights, "bias": bias}, features, {"c": s.c})


def _sparse_matrix(features: TfidfFeatures, prompts: list[str]) -> object:
    import scipy.sparse as sp

    rows: list[int] = []
    cols: list[int] = []
    vals: list[float] = []
    for r, text in enumerate(prompts):
        index, values = features.sparse(text)
        rows.extend([r] * len(index))
        cols.extend(index.tolist())
        vals.extend(values.tolist())
    return sp.csr_matrix((vals, (rows, cols)), shape=(len(prompts), len(features.idf)))


def fit_mf(x: FloatArray, quality: FloatArray, target: str, s: TrainSettings) -> dict[str, FloatArray]:
    """RouteLLM's matrix factorisation, trained with Adam in numpy.

    ``win``: pairwise logistic loss on σ(s_strong − s_weak) over prompts whose two answers differ (ties dropped,
    as RouteLLM drops them). ``quality``: pointwise logistic loss on every (prompt, model) cell.
    """
    rng = np.random.default_rng(s.seed)
    n, d = x.shape
    m = quality.shape[1]
    params = {
        "model_emb": rng.normal(0, 1, (m, s.mf_dim)),
        "text_proj": rng.normal(0, 1 / np.sqrt(d), (d, s.mf_dim)),
        "classifier": rng.normal(0, 1 / np.sqrt(s.mf_dim), s.mf_dim),
        "bias": np.zeros(m),
    }
    if target == "win":
        keep = quality[:, 0] != quality[:, 1]
        x, labels = x[keep], (quality[keep, 0] > quality[keep, 1]).astype(np.float64)
    else:
        labels = (quality >= 0.5).astype(np.float64)
    adam = _Adam(params, s.mf_lr)
    batch = 256
    for _ in range(s.mf_epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start : start + batch]
            adam.step(_mf_grads(params, x[idx], labels[idx], target, s.mf_l2))
    return params


def _mf_grads(p: dict[str, FloatArray], x: FloatArray, y: FloatArray, target: str, l2: float) -> dict[str, FloatArray]:
    raw = p["model_emb"]
    norms = np.linalg.norm(raw, axis=1, keepdims=True)
    emb = raw / norms
    proj = x @ p["text_proj"]  # (b, dim)
    h = proj * p["classifier"][None, :]
    scores = h @ emb.T + p["bias"][None, :]  # (b, m)
    if target == "win":
        z = scores[:, 0] - scores[:, 1]
        g = (1.0 / (1.0 + np.exp(-z)) - y) / len(y)
        g_scores = np.column_stack([g, -g])
    else:
        g_scores = (1.0 / (1.0 + np.exp(-scores)) - y) / y.size
    g_emb = g_scores.T @ h  # (m, dim)
    g_h = g_scores @ emb  # (b, dim)
    g_raw = (g_emb - emb * np.sum(g_emb * emb, axis=1, keepdims=True)) / norms
    g_proj = g_h * p["classifier"][None, :]
    return {
        "model_emb": g_raw,
        "text_proj": x.T @ g_proj + l2 * p["text_proj"],
        "classifier": np.sum(g_h * proj, axis=0) + l2 * p["classifier"],
        "bias": g_scores.sum(axis=0),
    }


class _Adam:
    def __init__(self, params: dict[str, FloatArray], lr: float, b1: float = 0.9, b2: float = 0.999) -> None:
        self.params, self.lr, self.b1, self.b2, self.t = params, lr, b1, b2, 0
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()}

    def step(self, grads: dict[str, FloatArray]) -> None:
        self.t += 1
        for k, g in grads.items():
            self.m[k] = self.b1 * self.m[k] + (1 - self.b1) * g
            self.v[k] = self.b2 * self.v[k] + (1 - self.b2) * g * g
            m_hat = self.m[k] / (1 - self.b1**self.t)
            v_hat = self.v[k] / (1 - self.b2**self.t)
            self.params[k] -= self.lr * m_hat / (np.sqrt(v_hat) + 1e-8)
