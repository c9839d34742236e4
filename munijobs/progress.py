"""Progress of long commands (dedup, renormalise) on stderr: a bar on a terminal, a few lines in a log or a pipe."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

STEP = 0.1
"""Off a terminal, a stage prints a line at its start, at every tenth of its total and at its end."""


class LineProgress:
    """Progress as lines: `PREFIX: STAGE: DONE/TOTAL UNIT`, at most about a dozen a stage."""

    def __init__(self, prefix: str, unit: str = "") -> None:
        self.prefix, self.unit = prefix, unit
        self.printed: dict[str | None, int] = {}

    def __call__(self, stage: str | None, done: int, total: int) -> None:
        last = self.printed.get(stage)
        if last is not None and done < total and done - last < STEP * total:
            return
        self.printed[stage] = done
        where = f"{stage}: " if stage else ""
        print(f"{self.prefix}: {where}{done}/{total}{' ' + self.unit if self.unit else ''}", file=sys.stderr,
              flush=True)


@contextmanager
def progress_report(prefix: str, unit: str = "") -> Iterator:
    """A callable (stage, done, total) that shows progress: a rich bar per stage on a terminal, else lines."""
    if not sys.stderr.isatty():
        yield LineProgress(prefix, unit)
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    columns = (TextColumn(f"{prefix}: {{task.description}}"), BarColumn(), MofNCompleteColumn(),
               TextColumn(unit), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True)) as bar:
        tasks: dict[str | None, int] = {}

        def show(stage: str | None, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage or "", total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield show
