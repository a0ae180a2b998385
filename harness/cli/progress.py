"""What `harness run` shows while cells run: the run with its ETA, and the current cell."""

from __future__ import annotations

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.cli.options import console


class RunProgress:
    """A RunObserver (harness.runner.runner): the whole run, and the current cell with an
    ETA from similar cells."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console,
            refresh_per_second=2,
        )
        self.overall = None
        self.current = None
        self.estimate = None
        self.run_id = ""

    def run_started(self, run_id: str, total: int, skipped: int) -> None:
        self.run_id = run_id
        self.overall = self.progress.add_task(f"run {run_id}", total=total)
        self.current = self.progress.add_task("", total=None)

    def step(self, text: str, estimate_s: float | None) -> None:
        self.estimate = estimate_s
        self.progress.reset(self.current, description=f"  {text}",
                            total=round(estimate_s) if estimate_s else None, completed=0)

    def tick(self, elapsed_s: float) -> None:
        if self.estimate:
            self.progress.update(self.current, completed=min(elapsed_s, self.estimate))

    def message(self, text: str) -> None:
        self.progress.console.print(text, highlight=False, markup=False)

    def cell_finished(self, result) -> None:
        self.progress.advance(self.overall)
        if result is not None and result.status == "failed":
            from rich.text import Text

            from harness.results.identity import label

            # Text, not markup: an error may hold "[/x]", which Rich would take for a tag
            self.progress.console.print(Text.assemble(("failed", "red"),
                                                      f" {label(result)}: {result.error}"),
                                        highlight=False)
