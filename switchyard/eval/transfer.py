"""Leave one benchmark out: does a router rank the prompts of a benchmark it never saw?

The issue asks this of the shipped router (it must generalise to tasks it was not trained on); here it is asked of
every router kind. Each kind is trained on the pooled prompts of all benchmarks but one and scored on the held-out
one with RouteLLM's APGR. Beside that, the same benchmark in domain (k-fold CV) says whether there is any signal in
its prompts to find, and saved router files are scored as they are. All benchmarks pair GPT-4-1106 with
Mixtral-8x7B (on AlpacaEval, its "concise" prompting variant), so "the strong model wins here" means much the same
on each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from switchyard.eval import runner, splits, twomodel
from switchyard.eval.data import PairOutcomes
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings, train_router

FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]
BENCHMARKS = ("mmlu", "mt-bench", "alpacaeval", "arc-pair", "mbpp-pair", "winogrande-pair")
# MMLU's 14k prompts would otherwise be three quarters of every training pool and decide what "hard" means.
PER_BENCHMARK = 2000


@dataclass(frozen=True)
class Cell:
    apgr: float
    ci: tuple[float, float]
    note: str = ""  # e.g. the router was trained on this benchmark, so the cell is not a transfer result


Row = dict[str, Cell]  # benchmark -> cell


def pool(pairs: list[PairOutcomes], cap: int, seed: int) -> tuple[list[str], FloatArray]:
    """Prompts and [strong, weak] qualities of several benchmarks, at most ``cap`` seeded prompts from each.

    Qualities stay on their own scales (0/1 correctness, 1-10 judge scores, win probabilities): the two-model
    routers learn which answer is better, which is the same question on every scale."""
    rng = np.random.default_rng(seed)
    prompts: list[str] = []
    quality: list[FloatArray] = []
    for pair in pairs:
        index = np.arange(len(pair)) if len(pair) <= cap else np.sort(rng.permutation(len(pair))[:cap])
        prompts.extend(pair.prompts[i] for i in index)
        quality.append(np.column_stack([pair.strong, pair.weak])[index])
    return prompts, np.vstack(quality)


def _cell(scores: FloatArray, pair: PairOutcomes, bootstrap: int, seed: int, note: str = "") -> Cell:
    metrics = twomodel.evaluate(scores, pair.strong, pair.weak, bootstrap=bootstrap, seed=seed, levels=(0.5,))
    return Cell(metrics.apgr, metrics.apgr_ci, note)


def leave_one_out(
    pairs: dict[str, PairOutcomes],
    kinds: list[str],
    settings: TrainSettings,
    *,
    bootstrap: int,
    progress: Progress,
) -> dict[str, Row]:
    """kind -> benchmark -> APGR on that benchmark of the router trained on all the others."""
    rows: dict[str, Row] = {kind: {} for kind in kinds}
    for held, test in pairs.items():
        others = [pair for name, pair in pairs.items() if name != held]
        prompts, quality = pool(others, PER_BENCHMARK, settings.seed)
        for kind in kinds:
            progress(f"{kind}: trained without {held}")
            router = train_router(kind, prompts, quality, ["strong", "weak"], target="win", settings=settings)
            rows[kind][held] = _cell(router.score(test.prompts), test, bootstrap, settings.seed)
    return rows


def in_domain(
    pairs: dict[str, PairOutcomes],
    kind: str,
    settings: TrainSettings,
    *,
    folds: int,
    bootstrap: int,
    progress: Progress,
) -> Row:
    """The same kind cross-validated inside each benchmark: the signal a router could find there at best-effort."""
    row: Row = {}
    for name, pair in pairs.items():
        fold_list = splits.kfold(len(pair), folds, settings.seed)
        run = runner.two_model(pair, [kind], fold_list, settings, bootstrap=0, progress=progress)[0]
        row[name] = _cell(run.scores, pair, bootstrap, settings.seed, "in domain")
    return row


def saved(router: LearnedRouter, pairs: dict[str, PairOutcomes], *, bootstrap: int, seed: int) -> Row:
    """A router file scored on every benchmark as it is; cells of the benchmark it was trained on are marked."""
    # ``train router`` records the dataset's name; the shipped files describe it in words
    described = str(router.settings.get("trained_on_dataset", ""))
    trained_on = {str(router.settings.get("dataset", "")), *described.split()}
    return {
        name: _cell(router.score(pair.prompts), pair, bootstrap, seed, "trained on it" if name in trained_on else "")
        for name, pair in pairs.items()
    }


def table(rows: dict[str, Row], benchmarks: list[str], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| router | " + " | ".join(benchmarks) + " |",
        "| --- |" + " --- |" * len(benchmarks),
    ]
    for label, row in rows.items():
        cells = []
        for name in benchmarks:
            cell = row.get(name)
            if cell is None:
                cells.append("—")
                continue
            text = f"{cell.apgr:.3f} [{cell.ci[0]:.3f}, {cell.ci[1]:.3f}]"
            cells.append(f"*{text}* ({cell.note})" if cell.note == "trained on it" else text)
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)

