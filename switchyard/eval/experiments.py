"""One function per ``switchyard train|eval`` command: load data, split, replay, write Markdown and PNGs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from switchyard.eval import data as datasets
from switchyard.eval import report, runner, splits, twomodel
from switchyard.eval.cascade_run import run_cascades
from switchyard.routing.learned.embed_features import MiniLMFeatures
from switchyard.routing.learned.router import LearnedRouter
from switchyard.routing.learned.train import TrainSettings

Progress = Callable[[str], None]
PAIR_TASKS = {f"{task}-pair": task for task in datasets.ROUTERBENCH_TASKS}  # GPT-4 vs Mixtral columns
TWO_MODEL = ("mmlu", "mt-bench", "alpacaeval", *PAIR_TASKS)
MANY_MODEL = ("routerbench", *datasets.ROUTERBENCH_TASKS)


@dataclass(frozen=True)
class Output:
    markdown: Path
    images: list[Path]
    text: str


def load_pair(name: str, data_dir: Path) -> datasets.PairOutcomes:
    if name == "mmlu":
        return datasets.load_mmlu(data_dir)
    if name == "mt-bench":
        return datasets.load_mt_bench(data_dir)
    if name == "alpacaeval":
        return datasets.load_alpacaeval(data_dir)
    if name in PAIR_TASKS:
        return datasets.load_routerbench_pair(data_dir, PAIR_TASKS[name])
    raise ValueError(f"unknown two-model dataset {name!r}; choose from {', '.join(TWO_MODEL)}")


def load_many(name: str, data_dir: Path) -> datasets.MultiOutcomes:
    if name == "routerbench":
        return datasets.load_routerbench_all(data_dir)
    if name in datasets.ROUTERBENCH_TASKS:
        return datasets.load_routerbench(data_dir, name)
    raise ValueError(f"unknown many-model dataset {name!r}; choose from {', '.join(MANY_MODEL)}")


def make_folds(groups: list[str], k: int, seed: int, ood: bool) -> list[splits.Fold]:
    return splits.group_kfold(groups, k, seed) if ood else splits.kfold(len(groups), k, seed)


def _write(out_dir: Path, stem: str, text: str, images: list[Path]) -> Output:
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{stem}.md"
    body = text + "\n\n" + "\n".join(f"![{p.stem}]({p.name})" for p in images) + "\n"
    path.write_text(body)
    return Output(path, images, body)


def eval_router(
    dataset: str,
    data_dir: Path,
    kinds: list[str],
    *,
    folds: int = 5,
    ood: bool = False,
    bootstrap: int = 1000,
    seed: int = 0,
    out_dir: Path,
    progress: Progress,
    plots: bool = True,
    repeats: int = 1,
    sample: int = 0,
) -> Output:
    """Two models: one cross-validation with bootstrap intervals. Many models: ``repeats`` cross-validations with
    consecutive seeds (RouterBench's tasks are small, so one fold assignment is noisy); the first one is plotted."""
    settings = TrainSettings(seed=seed)
    split = "out of domain (whole groups held out)" if ood else "in domain"
    stem = f"{dataset}-{'ood' if ood else 'cv'}"
    if dataset in TWO_MODEL:
        pair = sample_pair(load_pair(dataset, data_dir), sample, seed)
        if sample:
            split, stem = f"{split}, seeded sample of {len(pair)} prompts", f"{stem}-sample{len(pair)}"
        fold_list = make_folds(pair.groups, folds, seed, ood)
        runs = runner.two_model(pair, kinds, fold_list, settings, bootstrap=bootstrap, progress=progress)
        title = f"{dataset}: {len(fold_list)}-fold cross-validation, {split}, seed {seed}"
        text = report.two_model_table(runs, title) + "\n\nPaper: " + report.PAPER_TWO_MODEL.get(dataset, "—")
        images = [report.plot_two_model(runs, pair.strong, pair.weak, title, out_dir / f"{stem}.png")] if plots else []
        return _write(out_dir, stem, text, images)
    multi = load_many(dataset, data_dir)
    seeds = [seed + r for r in range(max(1, repeats))]
    repeated = [
        runner.many_model(
            multi,
            kinds,
            make_folds(multi.groups, folds, s, ood),
            replace_svd(replace(settings, seed=s)),
            progress=progress,
        )
        for s in seeds
    ]
    many = repeated[0]
    title = f"{dataset}: {len(make_folds(multi.groups, folds, seed, ood))}-fold cross-validation, {split}, seed {seed}"
    images = []
    if plots:
        groups = np.array(multi.groups)
        for group in sorted(set(multi.groups)):
            rows = np.flatnonzero(groups == group)
            summaries = {run.router: run.summaries[group] for run in many}
            images.append(
                report.plot_pareto(
                    summaries,
                    multi.models,
                    multi.quality[rows],
                    multi.cost[rows],
                    f"{group} ({split})",
                    out_dir / f"{stem}-{group}.png",
                )
            )
    text = report.many_model_table(many, title)
    if len(seeds) > 1:
        text += "\n\n" + report.repeats_table(repeated, seeds)
    return _write(out_dir, stem, text, images)


def sample_pair(pair: datasets.PairOutcomes, sample: int, seed: int) -> datasets.PairOutcomes:
    """A seeded random subset (``sample`` > 0), so slow featurisers can be compared with others on the same prompts."""
    if sample <= 0 or sample >= len(pair):
        return pair
    return pair.subset(np.sort(np.random.default_rng(seed).permutation(len(pair))[:sample]))


def replace_svd(settings: TrainSettings) -> TrainSettings:
    """A 128-dim LSA is plenty for kNN and MF on a few thousand prompts (RouterBench, the transfer pools)."""
    return replace(settings, svd_dims=128)


def eval_cascade(
    dataset: str,
    data_dir: Path,
    *,
    folds: int = 5,
    seed: int = 0,
    out_dir: Path,
    progress: Progress,
    plots: bool = True,
) -> Output:
    multi = load_many(dataset, data_dir)
    runs = run_cascades(multi, splits.kfold(len(multi), folds, seed), seed=seed, progress=progress)
    title = f"{dataset}: cascade, {folds}-fold cross-validation, seed {seed}"
    images = []
    if plots:
        groups = np.array(multi.groups)
        for group in sorted(set(multi.groups)):
            rows = np.flatnonzero(groups == group)
            from switchyard.eval import pareto

            summaries = {
                f"cascade {r.scorer} ε={r.noise:.1f}": pareto.summarise(
                    "cascade",
                    [pareto.Point(p.chain, p.cost, p.quality) for p in r.points],
                    multi.models,
                    multi.quality[rows],
                    multi.cost[rows],
                )
                for r in runs
                if r.task == group and (r.scorer, r.noise) in {("learned", 0.0), ("learned", 0.2), ("oracle", 0.2)}
            }
            images.append(
                report.plot_pareto(
                    summaries,
                    multi.models,
                    multi.quality[rows],
                    multi.cost[rows],
                    f"{group}: cascades",
                    out_dir / f"cascade-{group}.png",
                )
            )
    text = report.cascade_table(runs, title) + (
        "\n\nFrugalGPT (2024 summary, other datasets): 57–94 % cheaper at the best single model's accuracy."
    )
    return _write(out_dir, f"cascade-{dataset}", text, images)


def eval_saved(router_path: Path, dataset: str, data_dir: Path, *, bootstrap: int, seed: int, out_dir: Path) -> Output:
    """Score a saved two-model router on a whole dataset it was not trained on (e.g. MMLU-trained → MT-Bench)."""
    router = LearnedRouter.load(router_path)
    pair = load_pair(dataset, data_dir)
    scores = router.score(pair.prompts)
    metrics = twomodel.evaluate(scores, pair.strong, pair.weak, bootstrap=bootstrap, seed=seed)
    shares = {s: twomodel.realised_share(scores, router.threshold(s)) for s in runner.SHARES}
    points = twomodel.sweep(scores, pair.strong, pair.weak)
    run = runner.TwoModelRun(router_path.stem, scores, points, metrics, shares, pair.strong, pair.weak)
    title = (
        f"{dataset}: saved router {router_path.name} ({router.kind}, trained on {router.settings.get('trained_on')})"
    )
    return _write(out_dir, f"{dataset}-{router_path.stem}", report.two_model_table([run], title), [])


def eval_transfer(
    data_dir: Path,
    kinds: list[str],
    router_files: list[Path],
    *,
    in_domain_kind: str,
    folds: int = 5,
    bootstrap: int = 1000,
    seed: int = 0,
    out_dir: Path,
    progress: Progress,
) -> Output:
    """Leave one benchmark out over the six GPT-4 vs Mixtral benchmarks, plus saved router files as they are."""
    from switchyard.eval import transfer

    pairs = {name: load_pair(name, data_dir) for name in transfer.BENCHMARKS}
    settings = replace_svd(TrainSettings(seed=seed))  # each training pool holds about 10k prompts
    rows: dict[str, transfer.Row] = {}
    if in_domain_kind:
        rows[f"{in_domain_kind}, in domain ({folds}-fold CV)"] = transfer.in_domain(
            pairs, in_domain_kind, settings, folds=folds, bootstrap=bootstrap, progress=progress
        )
    for kind, row in transfer.leave_one_out(pairs, kinds, settings, bootstrap=bootstrap, progress=progress).items():
        rows[f"{kind}, trained on the other five"] = row
    share_tables = []
    for path in router_files:
        progress(f"saved router {path.name}")
        router = LearnedRouter.load(path)
        scores = {name: router.score(pair.prompts) for name, pair in pairs.items()}
        rows[f"file {path.name}"] = transfer.saved(router, pairs, bootstrap=bootstrap, seed=seed, scores=scores)
        if router.calibration is not None:
            share_tables.append(transfer.share_table(path.name, transfer.shares(scores, router.threshold, seed=seed)))
    sizes = ", ".join(f"{name} {len(pair)}" for name, pair in pairs.items())
    title = f"Leave one benchmark out, GPT-4 vs Mixtral, APGR (95 % CI), seed {seed}"
    text = transfer.table(rows, list(pairs), title) + f"\n\nPrompts: {sizes}; training pools cap each benchmark at "
    text += f"{transfer.PER_BENCHMARK} seeded prompts. Random routing scores 0.5 in expectation."
    for shares in share_tables:
        text += f"\n\n{shares}\n\nStreams of {transfer.STREAM} requests drawn from each benchmark (and from all six,"
        text += f" mixed and in blocks); live: window {transfer.LIVE_WINDOW}, counted after a warm-up of "
        text += f"{transfer.LIVE_WARMUP}."
    return _write(out_dir, "transfer", text, [])


def decision_latency(router: LearnedRouter, prompts: list[str]) -> tuple[float, float]:
    """(p50, p99) milliseconds to score one prompt at a time, features included (the gateway's per-request path)."""
    import time

    timings = []
    for prompt in prompts:
        start = time.perf_counter()
        if router.target == "win":
            router.score([prompt])
        else:
            router.predict([prompt])
        timings.append((time.perf_counter() - start) * 1000.0)
    p50, p99 = np.percentile(timings, [50, 99])
    return float(p50), float(p99)


def train(dataset: str, kind: str, data_dir: Path, *, seed: int, out: Path) -> LearnedRouter:
    settings = TrainSettings(seed=seed)
    if dataset in TWO_MODEL:
        router = runner.train_default(load_pair(dataset, data_dir), kind, settings)
    else:
        router = runner.train_default(load_many(dataset, data_dir), kind, replace_svd(settings))
    router.settings["dataset"] = dataset
    sample = (load_pair(dataset, data_dir) if dataset in TWO_MODEL else load_many(dataset, data_dir)).prompts[:300]
    _drop_embedding_cache(router)  # time what the gateway runs: every prompt embedded, none read from the cache
    router.settings["latency_ms_p50_p99"] = list(decision_latency(router, sample))
    router.save(out)
    return router


def _drop_embedding_cache(router: LearnedRouter) -> None:
    if isinstance(router.features, MiniLMFeatures) and router.features.cache is not None:
        router.features = replace(router.features, cache=None)
    for member in router.members:
        _drop_embedding_cache(member)
