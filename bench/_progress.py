"""A rich progress bar over a bench's phases, drawn on stderr so stdout keeps only the final tables.

``begin(description)`` marks the next phase as started (and the previous one done); leaving the block
completes the bar. On a non-terminal stderr (CI logs) rich prints nothing but the lines the bench logs itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class Phases:
    def __init__(self, bar: Progress, total: int) -> None:
        self._bar = bar
        self._task = bar.add_task("starting", total=total)
        self._begun = False

    def begin(self, description: str) -> None:
        self._bar.update(self._task, description=description, advance=1 if self._begun else 0)
        self._begun = True


@contextmanager
def phases(total: int) -> Iterator[Phases]:
    columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=Console(stderr=True)) as bar:
        tracker = Phases(bar, total)
        yield tracker
        bar.update(tracker._task, description="done", completed=total)
