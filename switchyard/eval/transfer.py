"""Leave one benchmark out: does a router rank the prompts of a benchmark it never saw?

The issue asks this of the shipped router (it must generalise to tasks it was not trained on); here it is asked of
every router kind. Each kind is trained on the pooled prompts of all benchmarks but one and scored on the held-out
one with RouteLLM's APGR. Beside that, the same benchmark in domain (k-fold CV) says whether there is any signal in
its prompts to find, and saved router files are scored as they are. All benchmarks pair GPT-4-1106 with
Mixtral-8x7B (on AlpacaEval, its "concise" prompting variant), so "the strong model wins here" means much the same
on each.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from switchyard.eval import runner, splits, twomodel
from switchyard.eval.data import PairOutcomes
from switchyard.routing.learned.live_share import LiveShare, passes
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings, train_router

FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]
BENCHMARKS = ("mmlu", "mt-bench", "alpacaeval", "arc-pair", "mbpp-pair", "winogrande-pair")
# MMLU's 14k prompts would otherwise be three quarters of every training pool and decide what "hard" means.
PER_BENCHMARK = 2000
# Strong-call share under shift: targets, and the gateway's default live window on a replayed stream of requests.
SHARE_TARGETS = (0.2, 0.5, 0.8)
LIVE_WINDOW, LIVE_WARMUP, STREAM = 2000, 200, 4000


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


def saved(
    router: LearnedRouter,
    pairs: dict[str, PairOutcomes],
    *,
    bootstrap: int,
    seed: int,
    scores: dict[str, FloatArray] | None = None,
) -> Row:
    """A router file scored on every benchmark as it is; cells of the benchmark it was trained on are marked.
    ``scores``: the file's scores of each benchmark's prompts, when already computed."""
    # ``train router`` records the dataset's name; the shipped files describe it in words
    described = str(router.settings.get("trained_on_dataset", ""))
    trained_on = {str(router.settings.get("dataset", "")), *described.split()}
    scores = scores or {name: router.score(pair.prompts) for name, pair in pairs.items()}
    return {
        name: _cell(scores[name], pair, bootstrap, seed, "trained on it" if name in trained_on else "")
        for name, pair in pairs.items()
    }


Shares = dict[str, dict[float, tuple[float, float]]]  # traffic -> target -> (file, live) realised strong share


@dataclass(frozen=True)
class ShareReplay:
    shares: Shares
    # In the mixed stream, with live calibration at the middle target: the strong share of each source's requests,
    # with one window for all, and with a window per source (``calibration_scope``, a source being a team or key).
    mixed_by_source: dict[str, float]
    mixed_per_source_window: dict[str, float]


def shares(scores: dict[str, FloatArray], file_threshold: Callable[[float], float], *, seed: int) -> ShareReplay:
    """The strong-call share a router realises on traffic drawn from each benchmark, from all of them mixed
    equally, and from all of them in blocks (one benchmark after another, so the mix shifts): with the file's
    calibrated threshold, and with the gateway's live calibration (``LiveShare``, counted after its warm-up). Each
    stream is ``STREAM`` requests sampled with replacement, in a seeded order."""
    rng = np.random.default_rng(seed)
    names = list(scores)
    streams = {name: s[rng.integers(0, len(s), STREAM)] for name, s in scores.items()}
    stacked = np.vstack(list(streams.values()))  # benchmark x request
    requests = np.arange(STREAM)
    mixed_source = rng.integers(0, len(names), STREAM)
    streams["mixed"] = stacked[mixed_source, requests]
    streams["in blocks"] = stacked[requests * len(names) // STREAM, requests]
    result: Shares = {}
    for name, stream in streams.items():
        result[name] = {
            target: (float(np.mean(stream >= file_threshold(target))), float(np.nanmean(_live(stream, target, seed))))
            for target in SHARE_TARGETS
        }
    middle = SHARE_TARGETS[len(SHARE_TARGETS) // 2]
    shared = _live(streams["mixed"], middle, seed)
    own = _live(streams["mixed"], middle, seed, mixed_source)
    by_source = {name: float(np.nanmean(shared[mixed_source == i])) for i, name in enumerate(names)}
    per_window = {name: float(np.nanmean(own[mixed_source == i])) for i, name in enumerate(names)}
    return ShareReplay(result, by_source, per_window)


def _live(stream: FloatArray, target: float, seed: int, sources: NDArray[np.int64] | None = None) -> FloatArray:
    """1.0 where a request went strong, 0.0 cheap, NaN while the window warmed up (the file's threshold served).
    ``sources``: one window per source instead of one for the whole stream."""
    windows: dict[int, LiveShare] = {}
    ties = random.Random(seed)
    chosen = np.full(len(stream), np.nan)
    for i, score in enumerate(stream.tolist()):
        source = 0 if sources is None else int(sources[i])
        if source not in windows:
            windows[source] = LiveShare(LIVE_WINDOW, LIVE_WARMUP)
        live = windows[source]
        cut = live.cut(target)
        if cut is not None:
            chosen[i] = passes(score, *cut, ties)
        live.observe(score)
    return chosen


def share_table(label: str, replay: ShareReplay) -> str:
    found = replay.shares
    targets = " / ".join(f"{t:.0%}" for t in SHARE_TARGETS)
    lines = [
        f"### Realised strong share of {label} at {targets} targets: the file's threshold → live calibration",
        "",
        "| traffic | file | live |",
        "| --- | --- | --- |",
    ]
    for name, row in found.items():
        file = " / ".join(f"{row[t][0]:.1%}" for t in SHARE_TARGETS)
        live = " / ".join(f"{row[t][1]:.1%}" for t in SHARE_TARGETS)
        lines.append(f"| {name} | {file} | {live} |")
    middle = SHARE_TARGETS[len(SHARE_TARGETS) // 2]
    split = ", ".join(f"{name} {share:.1%}" for name, share in replay.mixed_by_source.items())
    own = ", ".join(f"{name} {share:.1%}" for name, share in replay.mixed_per_source_window.items())
    lines += [
        "",
        f"Mixed stream, live at {middle:.0%}: the strong share of each source's requests: {split}; "
        f"with a window per source: {own}.",
    ]
    return "\n".join(lines)


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
