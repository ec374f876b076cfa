"""The failover benchmark's results (one row per scenario and gateway) and how they are shown: a rich table
on the console, Markdown and JSON files in bench/results/."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from _failover_ctx import Scenario
from rich.console import Console
from rich.table import Table

LABEL = {"switchyard": "Switchyard", "litellm": "LiteLLM"}


@dataclass
class Row:
    target: str
    key: str
    title: str
    expect: str
    saw: str = ""
    calls: dict[str, int] = field(default_factory=dict)
    latency_s: float | None = None
    added_ms: float | None = None
    verdict: str = "ERROR"
    failed: list[str] = field(default_factory=list)
    checks: list[dict[str, Any]] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    setup: dict[str, Any] = field(default_factory=dict)
    litellm_unmapped: list[str] = field(default_factory=list)
    error: str = ""


@dataclass
class TargetResult:
    target: str
    version: str = ""
    rows: list[Row] = field(default_factory=list)
    baselines: list[dict[str, float]] = field(default_factory=list)
    gateways: int = 0
    seconds: float = 0.0
    error: str = ""

    def baseline(self) -> dict[str, float]:
        if not self.baselines:
            return {}
        return {mode: statistics.median(b[mode] for b in self.baselines) for mode in ("plain", "stream")}


# --- output ---------------------------------------------------------------------------------------------------


def calls_text(calls: dict[str, int]) -> str:
    return " · ".join(f"{name} {n}" for name, n in calls.items())


def _ms(row: Row | None) -> str:
    if row is None or row.latency_s is None:
        return "–"
    added = "" if row.added_ms is None else f" ({row.added_ms:+.0f})"
    return f"{row.latency_s * 1000:.0f}{added}"


def columns(targets: list[str]) -> list[str]:
    cols = ["scenario", "expected"]
    for t in targets:
        label = LABEL[t] if len(targets) > 1 else ""
        prefix = f"{label}: " if label else ""
        cols += [f"{prefix}client saw", f"{prefix}upstream calls", f"{prefix}ms (added)", f"{prefix}verdict"]
    return cols


def table_rows(results: list[TargetResult], scenarios: list[Scenario]) -> list[list[str]]:
    by_target = {r.target: {row.key: row for row in r.rows} for r in results}
    out = []
    for s in scenarios:
        line = [s.title, s.expect]
        for r in results:
            row = by_target[r.target].get(s.key)
            if row is None:
                line += ["not run", "", "", "–"]
            else:
                line += [row.saw or "–", calls_text(row.calls) or "–", _ms(row), row.verdict]
        out.append(line)
    return out


def print_table(console: Console, results: list[TargetResult], scenarios: list[Scenario]) -> None:
    targets = [r.target for r in results]
    table = Table(title="Failover scenarios", show_lines=True)
    for col in columns(targets):
        table.add_column(col, overflow="fold")
    for line in table_rows(results, scenarios):
        styled = [f"[green]{c}[/]" if c == "PASS" else f"[red]{c}[/]" if c in ("FAIL", "ERROR") else c for c in line]
        table.add_row(*styled)
    console.print(table)
    for r in results:
        passed = sum(row.verdict == "PASS" for row in r.rows)
        base = r.baseline()
        console.print(
            f"{LABEL[r.target]} ({r.version}): {passed}/{len(r.rows)} PASS; healthy baseline "
            f"{base.get('plain', 0) * 1000:.1f} ms plain, {base.get('stream', 0) * 1000:.1f} ms stream; "
            f"{r.gateways} gateway process(es), {r.seconds:.0f} s"
        )
        for row in r.rows:
            if row.verdict != "PASS":
                console.print(f"  [red]{row.verdict}[/] {row.key}: " + "; ".join(row.failed))


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown(results: list[TargetResult], scenarios: list[Scenario], stamp: str) -> str:
    cols = columns([r.target for r in results])
    lines = [
        f"# Failover scenarios ({stamp})",
        "",
        "Run with `.venv/bin/python bench/failover.py --target "
        + ("both" if len(results) > 1 else results[0].target)
        + "`. Latency is the client's time for the scenario's main request in ms, with the difference to the "
        "same gateway's healthy baseline in brackets.",
        "",
    ]
    for r in results:
        base = r.baseline()
        passed = sum(row.verdict == "PASS" for row in r.rows)
        lines.append(
            f"- **{LABEL[r.target]}** ({r.version}): {passed}/{len(r.rows)} PASS; healthy baseline "
            f"{base.get('plain', 0) * 1000:.1f} ms plain, {base.get('stream', 0) * 1000:.1f} ms stream"
            + (f"; error: {r.error}" if r.error else "")
        )
    lines += ["", "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for line in table_rows(results, scenarios):
        cells = [f"**{c}**" if c in ("PASS", "FAIL", "ERROR") else _md_cell(c) for c in line]
        lines.append("| " + " | ".join(cells) + " |")
    failures = [(r, row) for r in results for row in r.rows if row.verdict != "PASS"]
    if failures:
        lines += ["", "Why each non-PASS verdict:", ""]
        for r, row in failures:
            lines.append(f"- {LABEL[r.target]}, `{row.key}`: " + _md_cell("; ".join(row.failed)))
    return "\n".join(lines) + "\n"


def write(results: list[TargetResult], scenarios: list[Scenario], out_dir: Path, stamp: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md_path = out_dir / f"failover-{stamp}.md"
    json_path = out_dir / f"failover-{stamp}.json"
    md_path.write_text(markdown(results, scenarios, stamp))
    payload = {
        "timestamp": stamp,
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0], "cpus": os.cpu_count()},
        "deadline_rule": "setting ≤ t ≤ setting × 1.1 + 0.15 s",
        "targets": [
            {
                "target": r.target,
                "version": r.version,
                "baseline_s": r.baseline(),
                "gateway_processes": r.gateways,
                "seconds": round(r.seconds, 1),
                "error": r.error or None,
                "scenarios": [asdict(row) for row in r.rows],
            }
            for r in results
        ],
    }
    json_path.write_text(json.dumps(payload, indent=2, default=str))
    return md_path, json_path
