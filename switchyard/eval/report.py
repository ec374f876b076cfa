"""Markdown tables and Pareto plots (matplotlib with the Agg backend, from the ``router`` extra) for one run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from switchyard.eval import pareto, twomodel
from switchyard.eval.cascade_run import CascadeRun
from switchyard.eval.runner import ManyModelRun, TwoModelRun

PAPER_TWO_MODEL = {
    "mmlu": "RouteLLM paper best (out of domain): APGR 0.603; TF-IDF logistic in-domain baseline: APGR 0.665, "
    "CPT(50%) 26 %",
    "mt-bench": "RouteLLM paper: see its Table 1 (routers trained on Arena data); not reproduced here",
}


def _ci(low_high: tuple[float, float], digits: int = 3) -> str:
    return f"[{low_high[0]:.{digits}f}, {low_high[1]:.{digits}f}]"


def two_model_table(runs: list[TwoModelRun], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| router | APGR (95 % CI) | CPT(50%) (95 % CI) | CPT(80%) (95 % CI) | realised share at 20/50/80 % target |",
        "| --- | --- | --- | --- | --- |",
    ]
    for run in sorted(runs, key=lambda r: -r.metrics.apgr):
        m = run.metrics
        shares = " / ".join(f"{100 * run.shares[s]:.1f}" for s in sorted(run.shares))
        lines.append(
            f"| {run.router} | {m.apgr:.3f} {_ci(m.apgr_ci)} | {m.cpt[0.5]:.1f} % {_ci(m.cpt_ci[0.5], 1)} "
            f"| {m.cpt[0.8]:.1f} % {_ci(m.cpt_ci[0.8], 1)} | {shares} |"
        )
    reference = next((r for r in runs if r.router == "linear-binary"), None)
    if reference is not None and runs:
        lines.append("")
        lines.append(
            "Difference to the TF-IDF baseline (linear-binary), paired bootstrap on the same prompts "
            "(CPT in points of strong-call share; negative is cheaper):"
        )
        lines.append("")
        strong, weak = reference.strong, reference.weak
        for run in runs:
            if run is reference:
                continue
            d = twomodel.paired_difference(run.scores, reference.scores, strong, weak, bootstrap=300)
            (a, (a_lo, a_hi)), (c, (c_lo, c_hi)) = d.apgr, d.cpt[0.5]
            lines.append(
                f"- {run.router}: APGR {a:+.3f} [{a_lo:+.3f}, {a_hi:+.3f}], "
                f"CPT(50%) {c:+.1f} [{c_lo:+.1f}, {c_hi:+.1f}]"
            )
    if runs:
        m = runs[0].metrics
        lines.append("")
        lines.append(f"n = {m.n} prompts; strong {m.strong_quality:.4f}, weak {m.weak_quality:.4f} mean quality.")
    return "\n".join(lines)


def many_model_table(runs: list[ManyModelRun], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| task | router | AIQ | Zero router AIQ | oracle AIQ | best single (acc, $/query) "
        "| cheapest router point ≥ best single | saving |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    groups = sorted({g for run in runs for g in run.summaries})
    for group in groups:
        for run in runs:
            s = run.summaries.get(group)
            if s is None:
                continue
            match = (
                "—" if s.cheapest_match is None else f"{s.cheapest_match.quality:.3f} @ ${s.cheapest_match.cost:.2e}"
            )
            saving = "—" if s.savings_at_best is None else f"{100 * s.savings_at_best:.0f} %"
            best = f"{s.best_single.label.split('/')[-1]} {s.best_single.quality:.3f} @ ${s.best_single.cost:.2e}"
            mark = " **>**" if s.aiq > s.zero_aiq else ""
            lines.append(
                f"| {group} | {run.router} | {s.aiq:.4f}{mark} | {s.zero_aiq:.4f} | {s.oracle_aiq:.4f} | {best} "
                f"| {match} | {saving} |"
            )
    return "\n".join(lines)


def repeats_table(repeats: list[list[ManyModelRun]], seeds: list[int]) -> str:
    """AIQ − Zero-router AIQ over repeated cross-validation (one fold assignment per seed)."""
    lines = [
        f"### AIQ over {len(seeds)} repeats of the cross-validation (seeds {', '.join(map(str, seeds))})",
        "",
        "| task | router | mean AIQ | mean Zero AIQ | mean Δ (min, max) | repeats beating Zero |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    groups = sorted({g for runs in repeats for run in runs for g in run.summaries})
    for group in groups:
        for index, run in enumerate(repeats[0]):
            rows = [runs[index].summaries[group] for runs in repeats if group in runs[index].summaries]
            aiqs = np.array([r.aiq for r in rows])
            zeros = np.array([r.zero_aiq for r in rows])
            delta = aiqs - zeros
            lines.append(
                f"| {group} | {run.router} | {aiqs.mean():.4f} | {zeros.mean():.4f} | {delta.mean():+.4f} "
                f"({delta.min():+.4f}, {delta.max():+.4f}) | {int((delta > 0).sum())}/{len(rows)} |"
            )
    return "\n".join(lines)


def cascade_table(runs: list[CascadeRun], title: str) -> str:
    lines = [
        f"### {title}",
        "",
        "| task | scorer | noise | scorer AUROC | AIQ (Zero) | best single | cheapest cascade ≥ best single | saving "
        "| saving at ≥ best − 1 pt |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        best = f"{run.best_single.label.split('/')[-1]} {run.best_single.quality:.3f} @ ${run.best_single.cost:.2e}"
        if run.savings is None:
            match, saving = "not reached", "—"
        else:
            point = min((p for p in run.points if abs(p.cost - run.savings[0]) < 1e-15), key=lambda p: p.cost)
            match, saving = f"{point.quality:.3f} @ ${point.cost:.2e} ({point.chain})", f"{100 * run.savings[1]:.0f} %"
        auroc = "—" if not np.isfinite(run.auroc) else f"{run.auroc:.3f}"
        close = "—" if run.savings_within_point is None else f"{100 * run.savings_within_point[1]:.0f} %"
        lines.append(
            f"| {run.task} | {run.scorer} | {run.noise:.1f} | {auroc} | {run.aiq:.4f} ({run.zero_aiq:.4f}) | {best} "
            f"| {match} | {saving} | {close} |"
        )
    return "\n".join(lines)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_two_model(runs: list[TwoModelRun], strong: np.ndarray, weak: np.ndarray, title: str, path: Path) -> Path:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=90)
    for run in runs:
        ax.plot(
            run.sweep.strong_pct, 100 * run.sweep.quality, marker=".", label=f"{run.router} ({run.metrics.apgr:.3f})"
        )
    shares = np.linspace(0, 1, 11)
    ax.plot(100 * shares, [100 * twomodel.optimal_quality(strong, weak, s) for s in shares], "k:", label="optimal")
    ax.axhline(100 * float(strong.mean()), color="red", ls="--", lw=0.8, label="strong")
    ax.axhline(100 * float(weak.mean()), color="grey", ls="--", lw=0.8, label="weak")
    ax.set_xlabel("strong model calls (%)")
    ax.set_ylabel("quality (×100)")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def plot_pareto(
    summaries: dict[str, pareto.ParetoSummary],
    models: list[str],
    quality: np.ndarray,
    cost: np.ndarray,
    title: str,
    path: Path,
) -> Path:
    """Single models, the Zero router's hull, the oracle, and every router's points and hull on one task."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.8, 4.4), dpi=90)
    singles = pareto.single_model_points(models, quality, cost)
    ax.scatter([p.cost for p in singles], [p.quality for p in singles], c="black", s=14, zorder=3)
    for p in singles:
        ax.annotate(p.label.split("/")[-1], (p.cost, p.quality), fontsize=6, xytext=(3, -6), textcoords="offset points")
    zero = pareto.zero_hull(models, quality, cost)
    first = next(iter(summaries.values()))
    ax.plot(*_dense(zero), color="grey", lw=1.5, label=f"Zero router (AIQ {first.zero_aiq:.3f})")
    ax.scatter([first.oracle.cost], [first.oracle.quality], marker="*", s=80, c="gold", ec="k", label="oracle")
    for name, s in summaries.items():
        (line,) = ax.plot(*_dense(s.hull), lw=1.5, label=f"{name} (AIQ {s.aiq:.3f})")
        ax.scatter([p.cost for p in s.points], [p.quality for p in s.points], s=6, color=line.get_color(), alpha=0.5)
    ax.set_xscale("log")
    ax.set_xlabel("mean $ per query (log)")
    ax.set_ylabel("accuracy")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    return _save(fig, plt, path)


def _dense(hull: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Hull segments sampled densely so a log cost axis shows the linear mixing between vertices as it is."""
    xs = np.concatenate([np.linspace(a, b, 40) for a, b in zip(hull[:-1, 0], hull[1:, 0], strict=True)] or [hull[:, 0]])
    return xs, np.interp(xs, hull[:, 0], hull[:, 1])


def _save(fig: Any, plt: Any, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
