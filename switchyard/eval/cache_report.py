"""The tables ``switchyard eval cache`` prints, kept as rows so they print with rich and write as Markdown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from switchyard.eval.cache import Operating, Replay
from switchyard.eval.cache_latency import Latency


@dataclass
class _Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)


@dataclass
class Report:
    notes: list[str] = field(default_factory=list)
    tables: list[_Table] = field(default_factory=list)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def pairs_header(
        self, fit: int, held: int, duplicates: int, cosine_auc: float, verifier_auc: float,
        cross_auc: float | None = None,
    ) -> None:
        cross = "" if cross_auc is None else f", + cross-encoder {cross_auc:.3f}"
        self.note(
            f"QQP pairs: {fit} to fit, {held} held out ({duplicates} duplicates); held-out ROC-AUC: cosine"
            f" {cosine_auc:.3f}, cosine + verifier {verifier_auc:.3f}{cross}"
        )

    def threshold_table(self, name: str, points: Sequence[Operating]) -> None:
        table = _Table(f"Held-out QQP pairs, {name}", ["threshold", "hits", "precision", "recall",
                                                        "wrong-hit rate", "F1"])
        table.rows = [_operating(p) for p in points]
        self.tables.append(table)

    def recommended(self, target: float, points: Sequence[tuple[str, Operating]]) -> None:
        table = _Table(
            f"Recommended for precision >= {target:.2f} (chosen on the fit pairs, measured on the held-out ones)",
            ["stage", "threshold", "hits", "precision", "recall", "wrong-hit rate", "F1"],
        )
        table.rows = [[name, *_operating(p)] for name, p in points]
        self.tables.append(table)

    def replays(self, results: Sequence[tuple[str, Replay]]) -> None:
        table = _Table(
            "Replay through the index at the recommended thresholds",
            ["replay", "questions", "correct hits", "wrong hits", "unlabelled hits", "misses", "precision"],
        )
        table.rows = [
            [name, str(r.queries), str(r.correct), str(r.wrong), str(r.unlabelled), str(r.missed),
             f"{r.precision:.3f}"]
            for name, r in results
        ]
        self.tables.append(table)

    def latency(self, results: Sequence[Latency]) -> None:
        table = _Table(
            "Lookup latency (one question at a time: embed + search + every stage; then with the vector given)",
            ["entries", "synthetic", "build s", "lookup p50 ms", "lookup p99 ms", "no-embed p50 ms", "no-embed p99 ms"],
        )
        table.rows = [
            [f"{r.entries:,}", f"{r.synthetic:,}", f"{r.build_s:.1f}", f"{r.p50_ms:.2f}", f"{r.p99_ms:.2f}",
             f"{r.index_p50_ms:.3f}", f"{r.index_p99_ms:.3f}"]
            for r in results
        ]
        self.tables.append(table)

    def print(self) -> None:
        from rich.console import Console
        from rich.table import Table

        console = Console()
        for note in self.notes:
            console.print(note)
        for t in self.tables:
            table = Table(title=t.title, title_justify="left")
            for column in t.columns:
                table.add_column(column, justify="left" if column in ("stage", "replay") else "right")
            for row in t.rows:
                table.add_row(*row)
            console.print(table)

    def markdown(self) -> str:
        lines: list[str] = [f"{n}\n" for n in self.notes]
        for t in self.tables:
            lines += [f"**{t.title}**\n", "| " + " | ".join(t.columns) + " |",
                      "|" + "---|" * len(t.columns)]
            lines += ["| " + " | ".join(row) + " |" for row in t.rows]
            lines.append("")
        return "\n".join(lines)


def _operating(p: Operating) -> list[str]:
    return [f"{p.threshold:.4f}", str(p.hits), f"{p.precision:.3f}", f"{p.recall:.3f}", f"{p.wrong_hit_rate:.4f}",
            f"{p.f1:.3f}"]


