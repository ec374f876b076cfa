"""FrugalGPT-style cascades replayed on stored outcomes.

Definitions followed (stanford-futuredata/FrugalGPT, ``src/FrugalGPT/llmchain.py`` and ``optimizer.py``):

- A strategy is a chain of models with one threshold per stage but the last. ``predict_one``: call stage i, add its
  cost, and accept its answer when the scorer is confident enough (FrugalGPT: ``1 - score < thres``; here
  ``score >= threshold``); the last stage is always accepted. **The cost of a query counts every model called.**
- Thresholds are searched on the training rows as quantiles of each stage's scores among the rows that reach it
  (``quatile2thres``; FrugalGPT's brute-force grid), keeping the most accurate strategy whose mean training cost
  is within the budget (``optimize``). Chains of 1–3 models are enumerated (FrugalGPT's ``L_max``).
- **Savings at equal accuracy:** the cheapest budget whose *test* accuracy reaches the best single model's test
  accuracy, as ``1 - cost / cost_of_best_single`` (how the FrugalGPT summary's headline savings are derived).
- **Scorer noise:** RouterBench's cascading router (``routers/run_cascading_router.py``) flips each accept/reject
  decision with probability ``evaluator_error_rate``; :func:`run_strategy` does the same with ``noise``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import combinations, product

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
QUANTILE_LEVELS = np.linspace(0.0, 1.0, 11)
OPTION = re.compile(r"^\(?([A-E])(?:[).:,\s]|$)")


@dataclass(frozen=True)
class Strategy:
    chain: tuple[int, ...]  # model indices, cheapest first
    thresholds: tuple[float, ...]  # one per stage but the last (inf: never accept, the stage only votes)

    def describe(self, models: list[str]) -> str:
        return " → ".join(models[m].split("/")[-1] for m in self.chain)


def answer_codes(responses: list[list[str]]) -> NDArray[np.intp]:
    """(prompts × models) ids such that two models' answers to a prompt are equal iff their ids are.

    Multiple-choice answers are reduced to their option letter ("D", "D)", "D. …" → "D"); anything else is
    compared as whitespace-normalised lowercase text.
    """
    codes = np.zeros((len(responses), len(responses[0]) if responses else 0), dtype=np.intp)
    for row, answers in enumerate(responses):
        seen: dict[str, int] = {}
        for col, answer in enumerate(answers):
            key = _normalise(answer)
            codes[row, col] = seen.setdefault(key, len(seen))
    return codes


def _normalise(answer: str) -> str:
    text = answer.strip()
    match = OPTION.match(text)
    return match.group(1) if match else " ".join(text.lower().split())


def stage_scores(chain: tuple[int, ...], scores: FloatArray, codes: NDArray[np.intp] | None) -> list[FloatArray]:
    """Acceptance score of each stage but the last: the answer scorer's P(correct), plus (from the second stage)
    the share of earlier answers in the chain that agree with this one (answer consistency, 0..1)."""
    out = []
    for stage, model in enumerate(chain[:-1]):
        value = scores[:, model].copy()
        if stage > 0 and codes is not None:
            agree = np.mean([codes[:, model] == codes[:, prev] for prev in chain[:stage]], axis=0)
            value += agree
        out.append(value)
    return out


def run_strategy(
    strategy: Strategy,
    scores: FloatArray,
    quality: FloatArray,
    cost: FloatArray,
    *,
    codes: NDArray[np.intp] | None = None,
    noise: float = 0.0,
    rng: np.random.Generator | None = None,
) -> tuple[FloatArray, FloatArray]:
    """Per-row (quality of the accepted answer, cost of every model called)."""
    n = len(quality)
    done = np.zeros(n, dtype=bool)
    out_q = np.zeros(n)
    out_c = np.zeros(n)
    generator = rng or np.random.default_rng(0)
    stages = stage_scores(strategy.chain, scores, codes)
    for stage, model in enumerate(strategy.chain):
        active = ~done
        out_c[active] += cost[active, model]
        if stage == len(strategy.chain) - 1:
            accept = active
        else:
            decision = stages[stage] >= strategy.thresholds[stage]
            if noise > 0.0:
                decision ^= generator.random(n) < noise
            accept = active & decision
        out_q[accept] = quality[accept, model]
        done |= accept
    return out_q, out_c


def enumerate_strategies(
    scores: FloatArray,
    quality: FloatArray,
    cost: FloatArray,
    codes: NDArray[np.intp] | None = None,
    max_len: int = 3,
) -> tuple[list[Strategy], FloatArray, FloatArray]:
    """Every chain (models in increasing mean cost) × threshold grid, with its training accuracy and mean cost.

    Vectorised over the grid: a 3-model chain is evaluated for all (τ₀, τ₁) pairs in one broadcast.
    """
    order = [int(i) for i in np.argsort(cost.mean(axis=0))]
    strategies: list[Strategy] = []
    accs: list[FloatArray] = []
    costs: list[FloatArray] = []
    for length in range(1, max_len + 1):
        for chain in combinations(order, length):
            stages = stage_scores(chain, scores, codes)
            grids = [_grid(values) for values in stages]
            acc, mean_cost = _evaluate_grid(chain, stages, grids, quality, cost)
            for combo in product(*grids):
                strategies.append(Strategy(chain, tuple(float(t) for t in combo)))
            accs.append(acc.ravel())
            costs.append(mean_cost.ravel())
    return strategies, np.concatenate(accs), np.concatenate(costs)


def _grid(values: FloatArray) -> FloatArray:
    return np.append(np.unique(np.quantile(values, QUANTILE_LEVELS)), np.inf)


def _evaluate_grid(
    chain: tuple[int, ...], stages: list[FloatArray], grids: list[FloatArray], quality: FloatArray, cost: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Mean quality and cost for every threshold combination (array shaped like the grid product)."""
    shape = tuple(len(g) for g in grids)
    n = len(quality)
    q = np.broadcast_to(quality[:, chain[-1]], (*shape, n)).copy()
    c = np.broadcast_to(cost[:, chain[-1]], (*shape, n)).copy()
    for stage in range(len(chain) - 2, -1, -1):  # fold from the last stage backwards
        accept = stages[stage][None, :] >= grids[stage][:, None]  # (grid_k, n)
        expand = tuple(slice(None) if axis == stage else None for axis in range(len(shape)))
        accept_b = accept[(*expand, slice(None))]
        model = chain[stage]
        q = np.where(accept_b, quality[:, model], q)
        c = cost[:, model] + np.where(accept_b, 0.0, c)
    return q.mean(axis=-1), c.mean(axis=-1)


def best_under_budget(strategies: list[Strategy], accs: FloatArray, costs: FloatArray, budget: float) -> Strategy:
    """FrugalGPT's ``optimize``: the most accurate strategy whose mean training cost is within the budget."""
    allowed = np.flatnonzero(costs <= budget)
    if len(allowed) == 0:
        return strategies[int(np.argmin(costs))]
    best = allowed[np.lexsort((costs[allowed], -accs[allowed]))[0]]
    return strategies[int(best)]


def auroc(labels: FloatArray, scores: FloatArray) -> float:
    """Area under the ROC curve (Mann-Whitney U with average ranks for ties)."""
    positive = labels >= 0.5
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    i = 0
    while i < len(scores):
        j = i
        while j + 1 < len(scores) and sorted_scores[j + 1] == sorted_scores[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2.0 + 1.0
        i = j + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def savings_at_equal_accuracy(
    points: list[tuple[float, float]], best_cost: float, best_quality: float
) -> tuple[float, float] | None:
    """(cost, savings) of the cheapest (cost, quality) point with quality ≥ the best single model's."""
    matching = [c for c, q in points if q >= best_quality - 1e-12]
    if not matching or best_cost <= 0:
        return None
    cheapest = min(matching)
    return cheapest, 1.0 - cheapest / best_cost
