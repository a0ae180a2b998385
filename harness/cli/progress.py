"""What `harness run` shows while cells run: in a terminal, the run with its ETA and the
current cell; elsewhere (CI, nightly jobs, `| tee`), one plain line per finished cell."""

from __future__ import annotations

from contextlib import nullcontext

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.cli.options import console


def make_observer(fleet: bool = False):
    """The RunObserver (harness.runner.runner) for this stdout: bars in a terminal, plain
    lines otherwise. Either has `progress`, a context manager around the run. `fleet`:
    cells run on several machines (harness.fleet), so each cell's lines name its hardware
    profile."""
    return RunProgress(fleet) if console.is_terminal else PlainProgress(fleet)


class RunProgress:
    """A RunObserver: the whole run, and the current cell with an ETA from similar cells."""

    def __init__(self, fleet: bool = False) -> None:
        self.fleet = fleet
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
        if self.overall is None:
            self.run_id = run_id
            self.overall = self.progress.add_task(f"run {run_id}", total=total)
            self.current = self.progress.add_task("", total=None)
            return
        # several plans run as one job (harness ab): one bar over all their cells
        self.run_id = f"{self.run_id} + {run_id}"
        task = self.progress.tasks[self.overall]
        self.progress.update(self.overall, total=(task.total or 0) + total,
                             description=f"runs {self.run_id}")

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
        from rich.text import Text

        self.progress.advance(self.overall)
        if result is None:
            return
        name = _named(result, self.fleet)
        # Text, not markup: an error or a reason may hold "[/x]", which Rich takes for a tag
        if result.status == "failed":
            self.progress.console.print(Text.assemble(("failed", "red"),
                                                      f" {name}: {result.error}"),
                                        highlight=False)
        if contended(result):
            reasons = result.health.get("reasons") or ["beyond the plan's health limits"]
            self.progress.console.print(Text.assemble(
                ("contended", "yellow"), f" {name}: {reasons[0]}"), highlight=False)


class PlainProgress:
    """A RunObserver for logs: a line per finished cell (cell, status, headline metric,
    health mark), warnings and messages as lines; no bars, nothing per tick."""

    def __init__(self, fleet: bool = False) -> None:
        self.progress = nullcontext()
        self.run_id = ""
        self.fleet = fleet
        self.total = 0
        self.finished = 0

    def run_started(self, run_id: str, total: int, skipped: int) -> None:
        self.run_id = f"{self.run_id} + {run_id}" if self.run_id else run_id
        self.total += total
        extra = f" ({skipped} combinations skipped)" if skipped else ""
        _line(f"run {run_id}: {total} cells{extra}")

    def step(self, text: str, estimate_s: float | None) -> None: ...
    def tick(self, elapsed_s: float) -> None: ...

    def message(self, text: str) -> None:
        _line(text)

    def cell_finished(self, result) -> None:
        self.finished += 1
        if result is not None:  # a cell the resumed run holds: counted, not shown
            _line(f"[{self.finished}/{self.total}] {cell_line(result, self.fleet)}")


def _named(result, fleet: bool) -> str:
    """The cell's label; on a fleet, `<label> on <profile>`."""
    from harness.results.identity import label

    return f"{label(result)} on {result.profile_id}" if fleet else label(result)


def cell_line(result, fleet: bool = False) -> str:
    """`model format backend suite: ok  <headline metric>  <health mark>`, or the error
    (`... suite on <profile>: ...` on a fleet)."""
    parts = [f"{_named(result, fleet)}: {result.status}"]
    if result.status == "failed":
        parts.append(str(result.error))
    elif (metric := headline(result)) is not None:
        value = metric.median if metric.median is not None else metric.mean
        shown = "n/a" if value is None else _number(value)
        parts.append(f"{metric.name} {shown} {metric.unit}")
    if contended(result):
        reasons = result.health.get("reasons") or []
        parts.append(f"contended ({reasons[0]})" if reasons else "contended")
    elif result.health:
        parts.append("quiet")
    return "  ".join(parts)


def headline(result):
    """The cell's first speed metric, else its first metric (None without metrics)."""
    speed = [m for m in result.metrics if m.kind == "speed"]
    return (speed or result.metrics or [None])[0]


def contended(result) -> bool:
    return bool(result is not None and result.health and result.health.get("contended"))


def _number(value: float) -> str:
    return f"{value:.1f}" if abs(value) >= 100 else f"{value:.4g}"


def _line(text: str) -> None:
    # soft_wrap: a log line is never broken at the console's guessed width
    console.print(text, highlight=False, markup=False, soft_wrap=True)
    console.file.flush()  # a piped stdout is block-buffered: a CI log shows it now
