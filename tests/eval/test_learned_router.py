"""Learned routers: numpy inference equals scikit-learn's features, files round-trip, calibration, MF gradients."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from switchyard.routing.learned.features import fit_tfidf
from switchyard.routing.learned.router import LearnedRouter, RouterFileError
from switchyard.routing.learned.train import TRAIN_KINDS, TrainSettings, _mf_grads, train_router, win_classes

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu".split()


def corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Prompts mentioning "proof" need the strong model; the rest are answered by both."""
    rng = np.random.default_rng(seed)
    prompts, quality = [], []
    for i in range(n):
        hard = i % 3 == 0
        words = list(rng.choice(WORDS, 6)) + (["proof", "theorem"] if hard else ["hello", "list"])
        prompts.append(" ".join(words))
        quality.append([1.0, 0.0] if hard else [1.0, 1.0])
    return prompts, np.array(quality)


def test_numpy_tfidf_equals_sklearn() -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = ["The cat sat on the mat.", "A dog, a cat and the mat!", "Dogs and cats: mats, hats.", "the the cat"]
    ours = fit_tfidf(texts, max_features=1000, length=False)
    theirs = TfidfVectorizer(sublinear_tf=True, min_df=2, ngram_range=(1, 2), max_features=1000).fit(texts)
    assert ours.vocabulary == {str(k): int(v) for k, v in theirs.vocabulary_.items()}
    assert np.allclose(ours.transform(texts), theirs.transform(texts).toarray())


@pytest.mark.parametrize("kind", TRAIN_KINDS)
def test_every_kind_round_trips_through_its_file(kind: str, tmp_path: Path) -> None:
    prompts, quality = corpus(90)
    settings = TrainSettings(svd_dims=8, k=5, mf_dim=4, mf_epochs=3, ensemble_k=5)
    router = train_router(kind, prompts, quality, ["strong", "weak"], target="win", settings=settings)
    router.calibrate(prompts[:30])
    path = tmp_path / f"{kind}.npz"
    router.save(path)
    loaded = LearnedRouter.load(path)
    assert loaded.kind == router.kind and loaded.models == ["strong", "weak"]
    if kind != "random":
        assert np.allclose(loaded.score(prompts), router.score(prompts))
    assert loaded.threshold(0.5) == pytest.approx(router.threshold(0.5))
    with np.load(path, allow_pickle=False) as data:  # no pickled objects anywhere in the file
        assert "meta" in data.files


@pytest.mark.parametrize("kind", ["linear", "linear-binary", "knn", "ensemble"])
def test_routers_learn_which_prompts_need_the_strong_model(kind: str) -> None:
    prompts, quality = corpus(120)
    settings = TrainSettings(svd_dims=8, k=10, ensemble_k=10)
    router = train_router(kind, prompts, quality, ["strong", "weak"], target="win", settings=settings)
    test, truth = corpus(30, seed=1)
    scores = router.score(test)
    hard = truth[:, 1] == 0
    if kind == "ensemble":  # half of it looks only at text statistics, which carry no signal here
        assert scores[hard].mean() > scores[~hard].mean() + 0.05
    else:
        assert scores[hard].min() > scores[~hard].max()


def test_calibrated_threshold_hits_the_target_share() -> None:
    prompts, quality = corpus(200)
    router = train_router("length", prompts, quality, ["s", "w"], target="win")
    rng = np.random.default_rng(0)
    lengths = [" ".join(["w"] * int(k)) for k in rng.integers(1, 200, 400)]
    router.calibrate(lengths)
    for share in (0.2, 0.5, 0.8):
        assert np.mean(router.score(lengths) >= router.threshold(share)) == pytest.approx(share, abs=0.02)


def test_quality_router_trades_quality_for_cost() -> None:
    prompts, pair = corpus(90)
    quality = np.column_stack([pair[:, 0], pair[:, 1], np.zeros(len(prompts))])
    router = train_router(
        "linear", prompts, quality, ["big", "small", "broken"], target="quality", costs=np.array([10.0, 1.0, 0.1])
    )
    test = ["alpha proof theorem", "beta hello list"]
    assert router.choose(test, cost_weight=0.0).tolist() == [0, 0] or router.choose(test, 0.0)[0] == 0
    assert router.choose(test, cost_weight=0.05).tolist() == [0, 1]  # pays for "big" only where "small" fails
    assert router.choose(test, cost_weight=100.0).tolist() == [2, 2]


def test_mf_gradients_match_finite_differences() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 2, (5, 3)).astype(float)
    params = {
        "model_emb": rng.normal(size=(3, 2)),
        "text_proj": rng.normal(size=(4, 2)),
        "classifier": rng.normal(size=2),
        "bias": rng.normal(size=3),
    }

    def loss(p: dict[str, np.ndarray]) -> float:
        emb = p["model_emb"] / np.linalg.norm(p["model_emb"], axis=1, keepdims=True)
        s = (x @ p["text_proj"] * p["classifier"]) @ emb.T + p["bias"]
        prob = 1 / (1 + np.exp(-s))
        return float(-np.mean(y * np.log(prob) + (1 - y) * np.log(1 - prob)))

    grads = _mf_grads(params, x, y, "quality", l2=0.0)
    for name, value in params.items():
        flat = value.reshape(-1)
        for i in range(flat.size):
            old = flat[i]
            flat[i] = old + 1e-6
            up = loss(params)
            flat[i] = old - 1e-6
            down = loss(params)
            flat[i] = old
            assert grads[name].reshape(-1)[i] == pytest.approx((up - down) / 2e-6, abs=1e-6)


def test_stats_features_are_numpy_only_and_standardised() -> None:
    from switchyard.routing.learned.features import STAT_NAMES, fit_stats, text_stats

    texts = ["What is 2 + 2?\nA. 3\nB. 4", "Name a colour.", "Which is NOT a prime?\nA) 2\nB) 9"]
    assert len(text_stats(texts[0])) == len(STAT_NAMES)
    stats = fit_stats(texts)
    x = stats.transform(texts)
    assert x.shape == (3, stats.dim) and np.allclose(x.mean(axis=0), 0.0, atol=1e-9)


def test_win_classes() -> None:
    strong, weak = np.array([1.0, 1, 0, 0, 9]), np.array([1.0, 0, 1, 0, 7])
    assert win_classes(strong, weak).tolist() == [3, 2, 1, 0, 2]


def test_a_file_of_another_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "bad.npz"
    np.savez(path, meta=np.frombuffer(b'{"format": "other", "version": 1}', dtype=np.uint8))
    with pytest.raises(RouterFileError):
        LearnedRouter.load(path)
