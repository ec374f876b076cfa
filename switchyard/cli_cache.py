"""``switchyard eval cache`` and ``switchyard train cache``: the semantic cache measured and tuned offline.

Both read ``<data>/gptcache_qqp`` (default ``<repo>/../shared/data``) and split its 20,000 QQP pairs by question
group with ``--seed``: 80 % to fit (the verifier, its threshold, the cosine threshold), 20 % to report on. The
packaged verifier was trained with seed 0, so only seed 0 reports on pairs it never saw. Needs the ``semantic``
extra (the model) and, for training, scikit-learn. ``cli.py`` mounts the two commands on ``eval`` and ``train``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

DataOption = Annotated[
    Optional[Path],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option("--data", help="data folder [default: <repo>/../shared/data]"),
]
TargetOption = Annotated[float, typer.Option("--target-precision", min=0.5, max=1.0, help="precision to tune for")]
SeedOption = Annotated[int, typer.Option("--seed", help="fit/report split seed (the packaged model used 0)")]
LimitOption = Annotated[
    Optional[int],  # noqa: UP045
    typer.Option("--limit", min=50, help="use only the first N pairs of each file (a quick look)"),
]
COSINE_GRID = (0.80, 0.85, 0.88, 0.90, 0.92, 0.94, 0.95, 0.96, 0.97, 0.98, 0.99)
VERIFIER_GRID = (0.50, 0.60, 0.70, 0.75, 0.80, 0.85, 0.90, 0.95)
CROSS = "cosine + verifier + cross-encoder"


@contextmanager
def _progress() -> Iterator[Callable[[str, int], Callable[[int], None]]]:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:

        def task(description: str, total: int) -> Callable[[int], None]:
            handle = bar.add_task(description, total=total)
            return lambda n: bar.advance(handle, n)

        yield task


def _data(data: Path | None) -> Path:
    from switchyard.eval.data import default_data_dir

    folder = data or default_data_dir()
    if not (folder / "gptcache_qqp" / "qqp_pairs_dev.json").is_file():
        typer.echo(f"error: {folder}/gptcache_qqp/qqp_pairs_dev.json not found (pass --data DIR)", err=True)
        raise typer.Exit(2)
    return folder


def _vectors(texts: list[str], task: Callable[[str, int], Callable[[int], None]]) -> dict[str, Any]:
    from switchyard.cache.embed import cache_embedder
    from switchyard.eval.cache_data import embed_texts

    unique = sorted(set(texts))
    matrix = embed_texts(cache_embedder(threads=2), unique, task("embedding questions", len(unique)))
    return dict(zip(unique, matrix, strict=True))


def train_cache(
    data: DataOption = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="model file [default: the packaged one]")] = None,  # noqa: UP045
    target: TargetOption = 0.90,
    seed: SeedOption = 0,
    limit: LimitOption = None,
) -> None:
    """Train the pair verifier on the fit part and write it as an npz file (no pickle)."""
    from switchyard.cache.embed import CACHE_TUNING
    from switchyard.cache.verifier import MODEL_PATH, PairVerifier
    from switchyard.eval.cache import at_threshold, roc_auc
    from switchyard.eval.cache_data import load_qqp, pair_cosines, split_groups
    from switchyard.eval.cache_train import embedder_unseen, save, train_verifier

    pairs = load_qqp(_data(data), limit)
    report = split_groups(pairs, 0.2, seed)
    fit, held = pairs.subset(~report), pairs.subset(report)
    unseen = embedder_unseen(fit, CACHE_TUNING)
    with _progress() as task:
        vectors = _vectors(pairs.a + pairs.b, task)
        advance = task("training verifier", 6)
        trained = train_verifier(
            fit, vectors, target_precision=target, seed=seed, calibrate=unseen, step=lambda _: advance(1)
        )
    path = out or MODEL_PATH
    save(trained, {}, path)
    held_cos = pair_cosines(held, vectors)
    scores = _verify(PairVerifier(path), held, vectors)
    point = at_threshold(scores, held.label, trained.threshold)
    metrics = {
        "report_pairs": float(len(held)), "fit_pairs": float(len(fit)), "seed": float(seed),
        "calibration_pairs": float(len(fit) if unseen is None else int(unseen.sum())), "target_precision": target,
        "report_auc": roc_auc(scores, held.label), "report_cosine_auc": roc_auc(held_cos, held.label),
        "report_precision": point.precision, "report_recall": point.recall,
        "report_wrong_hit_rate": point.wrong_hit_rate,
    }
    save(trained, metrics, path)
    typer.echo(f"wrote {path}: threshold {trained.threshold:.4f} (cosine-only {trained.cosine_threshold:.4f})")
    typer.echo(
        f"on {len(held)} held-out pairs: AUC {metrics['report_auc']:.3f} (cosine {metrics['report_cosine_auc']:.3f}),"
        f" precision {point.precision:.3f}, recall {point.recall:.3f}, wrong-hit rate {point.wrong_hit_rate:.4f}"
    )


def eval_cache(
    data: DataOption = None,
    seed: SeedOption = 0,
    limit: LimitOption = None,
    sizes: Annotated[str, typer.Option("--sizes", help="index sizes for the latency table; empty: skip")] = (
        "10000,100000,1000000"
    ),
    markdown: Annotated[Optional[Path], typer.Option("--markdown", help="also write the tables here")] = None,  # noqa: UP045
    threads: Annotated[int, typer.Option("--threads", min=1, max=8, help="embedding threads for latency")] = 1,
) -> None:
    """Replay the paraphrase pairs: precision, recall, wrong-hit rate and F1 per threshold, the packaged thresholds
    (chosen by ``train cache`` for its target precision) on the held-out pairs, a replay of mock_data.json, and
    lookup latency by index size."""
    from switchyard.cache.verifier import PairVerifier
    from switchyard.eval.cache import at_threshold, roc_auc, table
    from switchyard.eval.cache_data import load_mock, load_qqp, pair_cosines, split_groups
    from switchyard.eval.cache_report import Report

    folder = _data(data)
    pairs, mock = load_qqp(folder, limit), load_mock(folder, limit)
    held_mask = split_groups(pairs, 0.2, seed)
    fit, held = pairs.subset(~held_mask), pairs.subset(held_mask)
    verifier, cross = PairVerifier(), _cross_encoder()
    out = Report()
    if seed != int(verifier.metrics.get("seed", 0)):
        out.note("warning: the packaged verifier was fitted with another split; its report pairs are not held out")
    with _progress() as task:
        vectors = _vectors(pairs.a + pairs.b + mock.a + mock.b, task)
        held_cos = pair_cosines(held, vectors)
        step = task("verifying held-out pairs", 1)
        scores = _verify(verifier, held, vectors)
        cross_scores = None if cross is None else _cross_verify(cross, held, scores)
        step(1)
        # Both thresholds are the packaged file's, chosen by `train cache` on the fit pairs the embedder was not
        # tuned on (on the others the tuned cosine is flattering).
        cos_threshold = verifier.cosine_threshold
        cross_auc = None if cross_scores is None else roc_auc(cross_scores, held.label)
        out.pairs_header(len(fit), len(held), int(held.label.sum()), roc_auc(held_cos, held.label),
                         roc_auc(scores, held.label), cross_auc)
        out.threshold_table("cosine only", table(held_cos, held.label, COSINE_GRID))
        out.threshold_table("cosine + verifier", table(scores, held.label, VERIFIER_GRID))
        recommended = [
            ("cosine only", at_threshold(held_cos, held.label, cos_threshold)),
            ("cosine + verifier", at_threshold(scores, held.label, verifier.threshold)),
        ]
        if cross is not None and cross_scores is not None:
            out.threshold_table(CROSS, table(cross_scores, held.label, VERIFIER_GRID))
            recommended.append((CROSS, at_threshold(cross_scores, held.label, cross.threshold)))
        out.recommended(float(verifier.metrics.get("target_precision", 0.90)), recommended)
        out.replays(_replays(verifier, cross, vectors, mock, held, task))
        size_list = [int(s) for s in sizes.split(",") if s.strip()]
        if size_list:
            out.latency(_latency(verifier, cross, vectors, pairs, size_list, task, threads))
    out.print()
    if markdown is not None:
        markdown.write_text(out.markdown())
        typer.echo(f"wrote {markdown}")


def _verify(verifier: Any, pairs: Any, vectors: dict[str, Any]) -> Any:
    import numpy as np

    a = np.stack([vectors[t] for t in pairs.a])
    b = np.stack([vectors[t] for t in pairs.b])
    return verifier.score(list(zip(pairs.a, pairs.b, strict=True)), a, b)


def _cross_encoder() -> Any:
    from switchyard.cache.cross_encoder import MODEL_PATH, CrossEncoder

    return CrossEncoder(MODEL_PATH, threads=2) if MODEL_PATH.is_file() else None


def _cross_verify(cross: Any, pairs: Any, verifier_scores: Any) -> Any:
    """As the cache runs it: the cross-encoder scores a pair only when the verifier passes it through the gate."""
    import numpy as np

    scores = np.zeros(len(pairs))
    gated = np.flatnonzero(verifier_scores >= cross.gate)
    scores[gated] = cross.score([(pairs.a[i], pairs.b[i]) for i in gated], verifier_scores[gated])
    return scores


def _replays(
    verifier: Any, cross: Any, vectors: dict[str, Any], mock: Any, held: Any, task: Any
) -> list[tuple[str, Any]]:
    import numpy as np

    from switchyard.cache.embed import DIMENSIONS
    from switchyard.cache.semantic import SemanticCache
    from switchyard.eval.cache import replay

    class _NoEmbedder:  # replays pass vectors in; nothing is embedded
        dimensions = DIMENSIONS
        model_id = "precomputed"

        async def embed(self, texts: Any) -> Any:
            raise AssertionError("replay embeds nothing")

    def run(name: str, data: Any, use: Any, second: Any, others_wrong: bool) -> Any:
        stored = sorted(set(data.a))
        position = {t: i for i, t in enumerate(stored)}
        cache = SemanticCache(_NoEmbedder(), verifier=use, cross_encoder=second, max_entries=len(stored) + 1,
                              cosine_threshold=verifier.cosine_threshold)
        matrix = np.stack([vectors[t] for t in stored]) if stored else np.zeros((0, DIMENSIONS), np.float32)
        asked = np.stack([vectors[t] for t in data.b]) if data.b else np.zeros((0, DIMENSIONS), np.float32)
        partner = [position[a] for a in data.a]
        progress = task(name, len(data.b))
        return name, replay(cache, stored, matrix, data.b, asked, partner, list(data.label), others_wrong,
                            step=progress)

    # The index holds every first question; each second question is asked. mock_data's originals are all
    # different statements, so a hit on another one is wrong; QQP questions repeat across pairs, so it is unknown.
    results = []
    stages = [("cosine only", None, None), ("cosine + verifier", verifier, None)]
    if cross is not None:
        stages.append((CROSS, verifier, cross))
    for label, use, second in stages:
        results.append(run(f"mock_data, {label}", mock, use, second, True))
        results.append(run(f"QQP held-out, {label}", held, use, second, False))
    return results


def _latency(
    verifier: Any, cross: Any, vectors: dict[str, Any], pairs: Any, sizes: list[int], task: Any, threads: int
) -> list[Any]:
    import numpy as np

    from switchyard.cache.embed import cache_embedder
    from switchyard.eval.cache_latency import measure

    texts = sorted(vectors)
    pool = np.stack([vectors[t] for t in texts])
    embedder = cache_embedder(threads=threads)
    questions = [f"{t} (asked again)" for t in pairs.b[:300]]
    step = task("latency by index size", len(sizes))
    results = []
    for size in sizes:
        results.append(measure(embedder, verifier, size, pool, texts, questions, cross))
        step(1)
    return results
