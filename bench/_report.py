"""Results of a bench run: added latency against the direct runs, goal checks, and rich / Markdown / JSON output."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from _wrk import WrkResult
from rich.console import Console
from rich.table import Table


@dataclass
class Run:
    target: str
    mode: str
    conc: int
    wrk: WrkResult
    cpu_ms_per_req: float | None = None
    peak_rss_mb: float | None = None
    added_p50_ms: float | None = None
    added_p99_ms: float | None = None
    other_load_pct: float | None = None  # CPU time on the gateway's CPU not used by the target, % of the run
    load_cpu_busy_pct: float | None = None  # how busy the CPU of nginx and wrk was, % of the run
    notes: list[str] = field(default_factory=list)
    raw_output: str = ""

    @property
    def valid(self) -> bool:
        return self.wrk.valid


@dataclass
class Startup:
    target: str
    version: str = ""
    idle_rss_mb: float | None = None
    first_answer_s: float | None = None
    error: str = ""


@dataclass
class Goal:
    """One line of the issue's targets for Switchyard, checked against a measured value (lower or higher is better)."""

    name: str
    limit: float
    unit: str
    higher_is_better: bool
    measure: Callable[[str], float | None]

    def text(self) -> str:
        return f"{'≥' if self.higher_is_better else '≤'} {_num(self.limit)} {self.unit}"

    def verdict(self, value: float | None) -> str:
        if value is None:
            return "n/a"
        ok = value >= self.limit if self.higher_is_better else value <= self.limit
        return "ok" if ok else "MISSED"


def add_direct_baseline(runs: list[Run]) -> None:
    """added latency = target minus direct, at the same mode and concurrency (both runs valid)."""
    direct = {(r.mode, r.conc): r for r in runs if r.target == "direct" and r.valid}
    for run in runs:
        base = direct.get((run.mode, run.conc))
        if run.target == "direct" or base is None or not run.valid:
            continue
        assert run.wrk.p50_ms is not None and run.wrk.p99_ms is not None
        assert base.wrk.p50_ms is not None and base.wrk.p99_ms is not None
        run.added_p50_ms = run.wrk.p50_ms - base.wrk.p50_ms
        run.added_p99_ms = run.wrk.p99_ms - base.wrk.p99_ms


def goals(runs: list[Run], startups: list[Startup], fixed_rate: bool) -> list[Goal]:
    def pick(target: str, mode: str) -> Run | None:
        """The valid run at 16 connections, else at the concurrency closest to 16."""
        found = [r for r in runs if r.target == target and r.mode == mode and r.valid]
        return min(found, key=lambda r: abs(r.conc - 16), default=None)

    def from_run(mode: str, attr: str) -> Callable[[str], float | None]:
        def measure(target: str) -> float | None:
            run = pick(target, mode)
            value = getattr(run, attr) if run is not None else None
            return float(value) if value is not None else None

        return measure

    def best_rps(target: str) -> float | None:
        found = [r.wrk.rps for r in runs if r.target == target and r.mode == "plain" and r.valid]
        return max(found) if found and not fixed_rate else None

    def startup(attr: str) -> Callable[[str], float | None]:
        def measure(target: str) -> float | None:
            value = next((getattr(s, attr) for s in startups if s.target == target), None)
            return float(value) if value is not None else None

        return measure

    return [
        Goal("CPU per plain request (16 conn)", 0.5, "ms", False, from_run("plain", "cpu_ms_per_req")),
        Goal("CPU per streamed request (16 conn)", 1.0, "ms", False, from_run("stream", "cpu_ms_per_req")),
        Goal("plain throughput (best conc)", 2000, "req/s", True, best_rps),
        Goal("added p50, plain (16 conn)", 0.5, "ms", False, from_run("plain", "added_p50_ms")),
        Goal("added p99, plain (16 conn)", 2.0, "ms", False, from_run("plain", "added_p99_ms")),
        Goal("idle RSS", 80, "MB", False, startup("idle_rss_mb")),
        Goal("time to first answer", 1.5, "s", False, startup("first_answer_s")),
    ]


def goal_json(checks: list[Goal], targets: list[str]) -> list[dict[str, object]]:
    return [
        {
            "goal": g.name,
            "limit": g.limit,
            "unit": g.unit,
            "higher_is_better": g.higher_is_better,
            "measured": {t: g.measure(t) for t in targets},
            "switchyard_verdict": g.verdict(g.measure("switchyard")) if "switchyard" in targets else "n/a",
        }
        for g in checks
    ]


def _num(value: float | None, digits: int = 2) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


RUN_COLUMNS = ["target", "mode", "conc", "req/s", "p50 ms", "p99 ms", "added p50 ms", "added p99 ms", "CPU ms/req",
               "peak RSS MB", "notes"]  # fmt: skip
STARTUP_COLUMNS = ["target", "idle RSS MB", "time to first answer s", "version"]


def run_rows(runs: list[Run]) -> list[list[str]]:
    rows = []
    for r in runs:
        notes = "; ".join(r.notes)
        if not r.valid:
            problems = "; ".join(r.wrk.problems)
            rows.append([r.target, r.mode, str(r.conc), f"INVALID: {problems}", *["–"] * 6, notes])
            continue
        rows.append(
            [r.target, r.mode, str(r.conc), _num(r.wrk.rps, 0), _num(r.wrk.p50_ms), _num(r.wrk.p99_ms),
             _num(r.added_p50_ms), _num(r.added_p99_ms), _num(r.cpu_ms_per_req, 3), _num(r.peak_rss_mb, 1), notes]
        )  # fmt: skip
    return rows


def startup_rows(startups: list[Startup]) -> list[list[str]]:
    return [
        [
            s.target,
            _num(s.idle_rss_mb, 1),
            _num(s.first_answer_s),
            s.version if not s.error else f"FAILED: {s.error[:300]}",
        ]
        for s in startups
    ]


CLOSED_LOOP_NOTE = (
    "Closed loop: wrk keeps every connection busy, so a gateway whose CPU is saturated queues requests and its "
    "added latency includes that queueing (about connections x CPU per request). "
    "For added latency at a steady load below saturation, run with --rate (e.g. --rate 1000)."
)


def goal_rows(checks: list[Goal], targets: list[str]) -> tuple[list[str], list[list[str]]]:
    header = ["Switchyard goal", "target", *targets, "verdict"]
    rows = []
    for goal in checks:
        values = [goal.measure(t) for t in targets]
        verdict = goal.verdict(goal.measure("switchyard")) if "switchyard" in targets else "n/a"
        rows.append([goal.name, goal.text(), *[_num(v, 3 if goal.unit == "ms" else 2) for v in values], verdict])
    return header, rows


def print_tables(
    console: Console,
    title: str,
    runs: list[Run],
    startups: list[Startup],
    goal_table: tuple[list[str], list[list[str]]],
    footnote: str = "",
) -> None:
    for heading, columns, rows in (
        (title, RUN_COLUMNS, run_rows(runs)),
        ("Start-up", STARTUP_COLUMNS, startup_rows(startups)),
        ("Targets from the issue (Switchyard)", *goal_table),
    ):
        table = Table(title=heading, title_justify="left")
        for i, column in enumerate(columns):
            numeric = column not in ("target", "mode", "notes", "version", "Switchyard goal", "verdict")
            table.add_column(column, justify="right" if numeric and i > 0 else "left", overflow="fold")
        for row in rows:
            style = "red" if any(cell.startswith(("INVALID", "FAILED", "MISSED")) for cell in row) else None
            table.add_row(*row, style=style)
        console.print(table)
    if footnote:
        console.print(footnote, style="dim")


def markdown(
    title: str,
    meta: dict[str, object],
    runs: list[Run],
    startups: list[Startup],
    goal_table: tuple[list[str], list[list[str]]],
    footnote: str = "",
) -> str:
    def table(columns: list[str], rows: list[list[str]]) -> list[str]:
        lines = ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]
        return lines + ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]

    out = [f"# {title}", ""]
    out += [f"- {key}: {value}" for key, value in meta.items()]
    out += [
        "",
        *table(RUN_COLUMNS, run_rows(runs)),
        "",
        "## Start-up",
        "",
        *table(STARTUP_COLUMNS, startup_rows(startups)),
    ]
    out += ["", "## Targets from the issue", "", *table(*goal_table), ""]
    if footnote:
        out += [footnote, ""]
    return "\n".join(out)


def write(directory: Path, stamp: str, payload: dict[str, object], md: str) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / f"overhead-{stamp}.json"
    md_path = directory / f"overhead-{stamp}.md"
    json_path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    md_path.write_text(md)
    return json_path, md_path
