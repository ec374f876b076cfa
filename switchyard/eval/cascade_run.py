"""Cross-validated cascade replay on RouterBench rows: learned answer scorer, budgets, savings, noise robustness."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from switchyard.eval import cascade, pareto
from switchyard.eval.data import MultiOutcomes
from switchyard.eval.splits import Fold, kfold

FloatArray = NDArray[np.float64]
NOISE_LEVELS = (0.0, 0.1, 0.2)


@dataclass(frozen=True)
class BudgetPoint:
    budget: float
    cost: float
    quality: float
    chain: str  # the strategy chosen most often across folds


@dataclass(frozen=True)
class CascadeRun:
    task: str
    scorer: str  # "learned" or "oracle"
    noise: float
    points: list[BudgetPoint]
    best_single: pareto.Point
    savings: tuple[float, float] | None  # (cost, 1 - cost / best single cost) at equal accuracy
    savings_within_point: tuple[float, float] | None  # the same at accuracy >= best single - 0.01
    aiq: float
    zero_aiq: float
    auroc: float  # mean over models of the scorer's test AUROC


Scorer = Callable[[NDArray[np.intp]], FloatArray]


def fit_scorer(
    prompts: list[str], responses: list[list[str]], quality: FloatArray, train: NDArray[np.intp], seed: int
) -> Scorer:
    """Per-model logistic answer scorers on TF-IDF(prompt) ⊕ TF-IDF(answer) ⊕ log answer length (training only)."""
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    prompt_vec = TfidfVectorizer(sublinear_tf=True, min_df=2, max_features=20000).fit([prompts[i] for i in train])
    answers = [r for i in train for r in responses[i]]
    # single-character tokens too: multiple-choice answers are often one letter
    answer_vec = TfidfVectorizer(
        sublinear_tf=True, min_df=1, ngram_range=(1, 2), max_features=20000, token_pattern=r"(?u)\b\w+\b"
    ).fit(answers)
    m = quality.shape[1]

    def features(rows: NDArray[np.intp], model: int) -> object:
        texts = [responses[i][model] for i in rows]
        length = np.log1p([[len(t)] for t in texts]) / 10.0
        prompt_part = prompt_vec.transform([prompts[i] for i in rows])
        return sp.hstack([prompt_part, answer_vec.transform(texts), length]).tocsr()

    heads = []
    for model in range(m):
        y = (quality[train, model] >= 0.5).astype(int)
        if y.min() == y.max():
            heads.append(float(y[0]))
            continue
        heads.append(LogisticRegression(C=1.0, max_iter=2000, random_state=seed).fit(features(train, model), y))

    def score(rows: NDArray[np.intp]) -> FloatArray:
        out = np.zeros((len(rows), m))
        for model, head in enumerate(heads):
            out[:, model] = head if isinstance(head, float) else head.predict_proba(features(rows, model))[:, 1]
        return out

    return score


def _oof_train_scores(data: MultiOutcomes, train: NDArray[np.intp], seed: int) -> FloatArray:
    """Scores for the training rows from scorers not fitted on them (inner 2-fold), for fitting thresholds."""
    out = np.zeros((len(train), data.quality.shape[1]))
    for inner in kfold(len(train), 2, seed, calibrate_share=0.0):
        scorer = fit_scorer(data.prompts, data.responses, data.quality, train[inner.train], seed)
        out[inner.test] = scorer(train[inner.test])
    return out


def budgets_for(cost: FloatArray, count: int = 24) -> FloatArray:
    means = cost.mean(axis=0)
    return np.logspace(np.log10(means.min()), np.log10(means.max()), count)


def run_cascades(
    data: MultiOutcomes,
    folds: list[Fold],
    *,
    seed: int = 0,
    progress: Callable[[str], None] = lambda _: None,
) -> list[CascadeRun]:
    """Learned-scorer cascades at several budgets and noise levels, plus RouterBench's noisy-oracle scorer.

    The answer scorers are trained on all training rows; chains and thresholds are fitted per task (group), as
    FrugalGPT fits one strategy per dataset.
    """
    n, m = data.quality.shape
    groups = np.array(data.groups)
    budgets = {g: budgets_for(data.cost[groups == g]) for g in sorted(set(data.groups))}
    test_scores = np.zeros((n, m))
    codes = cascade.answer_codes(data.responses)
    chosen: dict[str, list[tuple[NDArray[np.intp], cascade.Strategy]]] = {}
    for number, fold in enumerate(folds):
        progress(f"{data.name}: cascade fold {number + 1}/{len(folds)}")
        train = np.concatenate([fold.train, fold.calibrate])
        train_scores = _oof_train_scores(data, train, seed + number)
        test_scores[fold.test] = fit_scorer(data.prompts, data.responses, data.quality, train, seed)(fold.test)
        for group, group_budgets in budgets.items():
            inside = groups[train] == group
            rows = train[inside]
            test = fold.test[groups[fold.test] == group]
            for scorer_name, fit_scores in (("learned", train_scores[inside]), ("oracle", data.quality[rows])):
                table = cascade.enumerate_strategies(fit_scores, data.quality[rows], data.cost[rows], codes[rows])
                for b in group_budgets:
                    strategy = cascade.best_under_budget(*table, budget=float(b))
                    chosen.setdefault(f"{group}|{scorer_name}|{b}", []).append((test, strategy))
    aurocs = [cascade.auroc(data.quality[:, j], test_scores[:, j]) for j in range(m)]
    runs = []
    for group, group_budgets in budgets.items():
        rows = np.flatnonzero(groups == group)
        for scorer_name, scores in (("learned", test_scores), ("oracle", data.quality)):
            for noise in NOISE_LEVELS:
                if scorer_name == "oracle" and noise == 0.0:
                    continue
                runs.append(
                    _replay(data, rows, group, scorer_name, scores, codes, chosen, group_budgets, noise, seed, aurocs)
                )
    return runs


def _replay(
    data: MultiOutcomes,
    rows: NDArray[np.intp],
    group: str,
    scorer_name: str,
    scores: FloatArray,
    codes: NDArray[np.intp],
    chosen: dict[str, list[tuple[NDArray[np.intp], cascade.Strategy]]],
    budgets: FloatArray,
    noise: float,
    seed: int,
    aurocs: list[float],
) -> CascadeRun:
    rng = np.random.default_rng(seed)
    in_group = np.zeros(len(data), dtype=bool)
    in_group[rows] = True
    points = []
    for b in budgets:
        q_sum = c_sum = 0.0
        names: Counter[str] = Counter()
        for test, strategy in chosen[f"{group}|{scorer_name}|{b}"]:
            idx = test[in_group[test]]
            q, c = cascade.run_strategy(strategy, scores[idx], data.quality[idx], data.cost[idx], noise=noise, rng=rng)
            q_sum, c_sum = q_sum + float(q.sum()), c_sum + float(c.sum())
            names[strategy.describe(data.models)] += 1
        points.append(BudgetPoint(float(b), c_sum / len(rows), q_sum / len(rows), names.most_common(1)[0][0]))
    q, c = data.quality[rows], data.cost[rows]
    summary = pareto.summarise("cascade", [pareto.Point(p.chain, p.cost, p.quality) for p in points], data.models, q, c)
    best = summary.best_single
    pairs = [(p.cost, p.quality) for p in points]
    savings = cascade.savings_at_equal_accuracy(pairs, best.cost, best.quality)
    close = cascade.savings_at_equal_accuracy(pairs, best.cost, best.quality - 0.01)
    valid = [a for a in aurocs if np.isfinite(a)]
    return CascadeRun(
        group,
        scorer_name,
        noise,
        points,
        best,
        savings,
        close,
        summary.aiq,
        summary.zero_aiq,
        float(np.mean(valid)) if scorer_name == "learned" and valid else float("nan"),
    )
