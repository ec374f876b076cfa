"""``switchyard train router`` and ``switchyard eval router|cascade|transfer|shadow``: offline replays.

No LLM is called: every answer, correctness and cost comes from the data folder (default ``<repo>/../shared/data``).
The lead wires these in ``cli.py`` with ``app.add_typer(train_app, name="train")`` and
``app.add_typer(eval_app, name="eval")``. Needs the ``router`` extra (numpy, scikit-learn, matplotlib).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

if TYPE_CHECKING:
    from switchyard.accounting.pricing import Price
    from switchyard.config.schema import Config
    from switchyard.routing.learned.traffic import Traffic

train_app = typer.Typer(no_args_is_help=True, help="Train routers offline from stored outcomes.")
eval_app = typer.Typer(no_args_is_help=True, help="Evaluate routers and cascades offline on stored outcomes.")

DataOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--data", help="data folder [default: <repo>/../shared/data]"),
]
OutOption = Annotated[Path, typer.Option("--out", help="output folder for Markdown and PNG files")]
SeedOption = Annotated[int, typer.Option("--seed", help="seed for splits, bootstrap and training")]
FoldsOption = Annotated[int, typer.Option("--folds", min=2, help="cross-validation folds")]
KINDS_HELP = (
    "comma-separated router kinds: linear, linear-binary, knn, mf, ensemble, random, length; over MiniLM embeddings "
    "(semantic extra): linear-minilm, knn-minilm, mf-minilm, mlp-minilm"
)


def _data_dir(data: Path | None) -> Path:
    from switchyard.eval.data import default_data_dir

    folder = data or default_data_dir()
    if not folder.is_dir():
        typer.echo(f"error: data folder {folder} not found (pass --data DIR)", err=True)
        raise typer.Exit(2)
    return folder


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar advanced once per training fold (the callback gets the step's description)."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), transient=False) as bar:
        task = bar.add_task("starting", total=total)

        def step(description: str) -> None:
            bar.update(task, description=description, advance=1)

        yield step
        bar.update(task, description="done", completed=total)


def _kinds(value: str) -> list[str]:
    from switchyard.routing.learned.train import EMBED_KINDS, TRAIN_KINDS

    KINDS = (*TRAIN_KINDS, *EMBED_KINDS)

    kinds = [k.strip() for k in value.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown or not kinds:
        typer.echo(f"error: unknown router kind(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(KINDS)}")
        raise typer.Exit(2)
    return kinds


@train_app.command("router")
def train_router(
    dataset: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="mmlu, mt-bench (two models) or routerbench, arc, mbpp, winogrande"),
    ] = None,
    kind: Annotated[str, typer.Option(help=KINDS_HELP.replace("comma-separated router kinds: ", "one of "))] = "linear",
    out: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--out", help="router file [default: bench/results/routers/<dataset>-<kind>.npz]"),
    ] = None,
    data: DataOption = None,
    seed: SeedOption = 0,
    from_logs: Annotated[
        bool, typer.Option("--from-logs", help="retrain a router group from request logs + feedback instead")
    ] = False,
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="--from-logs: the gateway's config (its database_url, or data_dir)"),
    ] = None,
    data_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="--from-logs: the gateway's data_dir [default: the config's, else .switchyard]"),
    ] = None,
    group: Annotated[str, typer.Option(help="--from-logs: the router group whose traffic to learn from")] = "auto",
    members: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(help="--from-logs: CHEAP,STRONG [default: the members seen in the logged decisions]"),
    ] = None,
) -> None:
    """Train one router on a whole dataset (less a 10 % calibration slice) and save it as a .npz file;
    with --from-logs, retrain a router group from its logged prompts and the feedback on its answers."""
    if from_logs:
        _train_from_logs(_load(config) if config else None, data_dir, group, members, out)
        return
    if dataset is None:
        typer.echo("error: pass --dataset, or --from-logs", err=True)
        raise typer.Exit(2)
    from switchyard.eval import experiments

    target = out or Path("bench/results/routers") / f"{dataset}-{_kinds(kind)[0]}.npz"
    with _progress(1) as step:
        router = experiments.train(dataset, kind, _data_dir(data), seed=seed, out=target)
        step(f"trained {kind} on {dataset}")
    size = target.stat().st_size / 1024
    typer.echo(
        f"wrote {target} ({size:.0f} KiB): {router.kind} router, target {router.target}, "
        f"{len(router.models)} models, trained on {router.settings.get('trained_on')} prompts, "
        f"calibrated on {router.settings.get('calibrated_on')}; decision p50/p99 "
        f"{'/'.join(f'{v:.2f}' for v in router.settings.get('latency_ms_p50_p99', []))} ms (features included)"
    )


@train_app.command("scorer")
def train_scorer(
    dataset: Annotated[str, typer.Option(help="routerbench, arc, mbpp or winogrande")] = "routerbench",
    out: Annotated[Path, typer.Option("--out", help="scorer file")] = Path("bench/results/routers/scorer.npz"),
    data: DataOption = None,
    seed: SeedOption = 0,
) -> None:
    """Train the cascade's answer scorer (one head per model) on stored answers; print held-out AUROC per model."""
    import numpy as np

    from switchyard.eval.cascade import auroc
    from switchyard.eval.experiments import load_many
    from switchyard.routing.learned.scorer import fit_scorer

    rows = load_many(dataset, _data_dir(data))
    order = np.random.default_rng(seed).permutation(len(rows))
    held, train = np.sort(order[: len(order) // 5]), np.sort(order[len(order) // 5 :])
    with _progress(1) as step:
        part = rows.subset(train)
        scorer = fit_scorer(part.prompts, part.responses, part.quality, rows.models)
        step(f"trained {len(rows.models)} answer heads on {len(train)} prompts")
    for column, model in enumerate(rows.models):
        scores = [scorer.score(model, rows.prompts[i], rows.responses[i][column], None) for i in held]
        labels = (rows.quality[held, column] >= 0.5).astype(float)
        typer.echo(f"{model}: held-out AUROC {auroc(labels, np.asarray(scores)):.3f} on {len(held)} prompts")
    scorer.save(out)
    typer.echo(f"wrote {out} ({out.stat().st_size / 1024:.0f} KiB)")


def _train_from_logs(
    settings: Config | None, data_dir: Path | None, group: str, members: str | None, out: Path | None
) -> None:
    import json

    from switchyard.routing.learned.from_logs import join, train_from_logs

    traffic, folder = _read_traffic(settings, data_dir, group)
    records = traffic.records
    out = out or folder / f"router-{group}.npz"
    outcomes, prompts = join(records, traffic.feedback, group)
    if members:
        chosen = [m.strip() for m in members.split(",") if m.strip()]
    else:
        seen = [json.loads(r.decision or "{}").get("candidates") or [] for r in records]
        chosen = max(seen, key=len, default=[])
    try:
        router = train_from_logs(outcomes, prompts, chosen)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    router.save(out)
    typer.echo(
        f"wrote {out}: quality router for {group!r} ({' < '.join(chosen)}), {len(outcomes)} requests with feedback "
        f"{router.settings['per_member']}, calibrated on {len(prompts)} logged prompts"
    )


@eval_app.command("router")
def eval_router(
    dataset: Annotated[
        str,
        typer.Option(
            help="two models: mmlu, mt-bench, alpacaeval, arc-pair, mbpp-pair, winogrande-pair (GPT-4 vs Mixtral); "
            "many models: routerbench, arc, mbpp, winogrande"
        ),
    ] = "mmlu",
    routers: Annotated[str, typer.Option(help=KINDS_HELP)] = "random,length,linear-binary,linear,knn,mf",
    router_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--router-file", help="evaluate this saved two-model router on the whole dataset instead"),
    ] = None,
    folds: FoldsOption = 5,
    ood: Annotated[bool, typer.Option("--ood", help="hold out whole groups (subjects / tasks) per fold")] = False,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for the confidence intervals")] = 1000,
    repeats: Annotated[int, typer.Option(min=1, help="many-model only: repeat the CV with seeds seed..seed+N-1")] = 1,
    data: DataOption = None,
    out: OutOption = Path("bench/results"),
    seed: SeedOption = 0,
    plots: Annotated[bool, typer.Option(help="write PNG plots (needs matplotlib)")] = True,
    sample: Annotated[int, typer.Option(min=0, help="two-model only: a seeded random sample of N prompts")] = 0,
) -> None:
    """Cross-validated router evaluation: RouteLLM's APGR/CPT (two models) or RouterBench's AIQ (many models)."""
    from switchyard.eval import experiments

    folder = _data_dir(data)
    if router_file is not None:
        result = experiments.eval_saved(router_file, dataset, folder, bootstrap=bootstrap, seed=seed, out_dir=out)
    else:
        kinds = _kinds(routers)
        many = dataset not in experiments.TWO_MODEL
        with _progress(len(kinds) * folds * (repeats if many else 1)) as step:
            result = experiments.eval_router(
                dataset,
                folder,
                kinds,
                folds=folds,
                ood=ood,
                bootstrap=bootstrap,
                seed=seed,
                out_dir=out,
                progress=step,
                plots=plots,
                repeats=repeats,
                sample=sample,
            )
    typer.echo(result.text)
    typer.echo(f"wrote {result.markdown}" + "".join(f", {p}" for p in result.images))


@eval_app.command("transfer")
def eval_transfer(
    routers: Annotated[str, typer.Option(help=KINDS_HELP)] = "random,length,linear,stats,ensemble",
    router_file: Annotated[
        Optional[list[Path]],  # noqa: UP045
        typer.Option("--router-file", help="also score this saved two-model router file (repeatable)"),
    ] = None,
    in_domain: Annotated[
        str, typer.Option("--in-domain", help="router kind cross-validated inside each benchmark ('' to skip)")
    ] = "linear",
    folds: FoldsOption = 5,
    bootstrap: Annotated[int, typer.Option(help="bootstrap resamples for the confidence intervals")] = 1000,
    data: DataOption = None,
    out: OutOption = Path("bench/results"),
    seed: SeedOption = 0,
) -> None:
    """Leave one benchmark out (MMLU, MT-Bench, AlpacaEval, ARC, MBPP, Winogrande; GPT-4 vs Mixtral): does a router
    trained on the other five rank the prompts of the sixth?"""
    from switchyard.eval import experiments, transfer

    kinds = _kinds(routers)
    if in_domain and len(_kinds(in_domain)) != 1:
        typer.echo("error: --in-domain takes one router kind")
        raise typer.Exit(2)
    files = router_file or []
    steps = len(kinds) * len(transfer.BENCHMARKS) + (folds * len(transfer.BENCHMARKS) if in_domain else 0) + len(files)
    with _progress(steps) as step:
        result = experiments.eval_transfer(
            _data_dir(data),
            kinds,
            files,
            in_domain_kind=in_domain,
            folds=folds,
            bootstrap=bootstrap,
            seed=seed,
            out_dir=out,
            progress=step,
        )
    typer.echo(result.text)
    typer.echo(f"wrote {result.markdown}")


@eval_app.command("cascade")
def eval_cascade(
    dataset: Annotated[str, typer.Option(help="routerbench, arc, mbpp or winogrande")] = "routerbench",
    folds: FoldsOption = 5,
    data: DataOption = None,
    out: OutOption = Path("bench/results"),
    seed: SeedOption = 0,
    plots: Annotated[bool, typer.Option(help="write PNG plots (needs matplotlib)")] = True,
) -> None:
    """FrugalGPT-style cascades with a learned answer scorer: accuracy vs cost of every model called."""
    from switchyard.eval import experiments

    with _progress(folds) as step:
        result = experiments.eval_cascade(
            dataset, _data_dir(data), folds=folds, seed=seed, out_dir=out, progress=step, plots=plots
        )
    typer.echo(result.text)
    typer.echo(f"wrote {result.markdown}" + "".join(f", {p}" for p in result.images))


@eval_app.command("shadow")
def eval_shadow(
    group: Annotated[str, typer.Option(help="the router group that runs in shadow mode")] = "auto",
    config: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--config", "-c", help="the gateway's config: members' prices, where its log is"),
    ] = None,
    data_dir: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(help="the gateway's data_dir [default: the config's, else .switchyard]"),
    ] = None,
) -> None:
    """Shadow mode read back from the request log: what the router would have chosen, how often that agrees with
    what was served, and what the traffic would have cost (no model is called)."""
    from switchyard.eval.shadow import render, shadow_report

    prices: dict[str, Price] = {}
    settings = None
    if config is not None:
        settings = _load(config)
        prices = _member_prices(settings, config, group)
    traffic, _ = _read_traffic(settings, data_dir, group)
    typer.echo(render(shadow_report(traffic.records, traffic.feedback, group, prices)))


def _read_traffic(settings: Config | None, data_dir: Path | None, group: str) -> tuple[Traffic, Path]:
    """The group's logged decisions and all feedback, from PostgreSQL when the config has ``server.database_url``,
    else from the SQLite files in the data dir (``--data-dir``, else the config's, else ``.switchyard``)."""
    from switchyard.routing.learned.traffic import TrafficUnavailableError, read_traffic

    folder = data_dir or Path(settings.server.data_dir if settings is not None else ".switchyard")
    url = settings.server.database_url if settings is not None else None
    try:
        return read_traffic(url.get_secret_value() if url is not None else None, folder, group), folder
    except TrafficUnavailableError as exc:  # its message never holds the DSN
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _load(path: Path) -> Config:
    from switchyard.config import load_config
    from switchyard.errors import ConfigError

    try:
        return load_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _member_prices(settings: Config, path: Path, group: str) -> dict[str, Price]:
    """Each member's price: its first deployment that has one (configured, or in the built-in table)."""
    from switchyard.accounting.pricing import price_for

    spec = settings.model_groups.get(group)
    if spec is None or spec.router is None:
        typer.echo(f"error: {group!r} is not a router group in {path}", err=True)
        raise typer.Exit(2)
    prices: dict[str, Price] = {}
    for member in spec.router.members:
        found = (price_for(d) for d in settings.model_groups[member].deployments)
        price = next((p for p in found if p is not None), None)
        if price is not None:
            prices[member] = price
    return prices
