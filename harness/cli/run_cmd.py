"""`harness run SUITE.yaml`: expand the plan, run the cells, store, report."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from harness.config import load_plan
from harness.matrix import expand
from harness.schema import CellResult

console = Console()


def run(
    suite_file: Path = typer.Argument(..., help="suite YAML, e.g. suites/demo.yaml"),
    model: list[str] = typer.Option([], "--model", "-m", help="only these models"),
    format: list[str] = typer.Option([], "--format", "-f", help="only these formats"),
    backend: list[str] = typer.Option([], "--backend", "-b", help="only these backends"),
    suite: list[str] = typer.Option([], "--suite", "-s", help="only these suites"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the expanded matrix, run nothing"),
    resume: bool = typer.Option(False, "--resume", help="continue the latest run of this plan"),
    run_id: str = typer.Option(None, "--run-id", help="with --resume: the run to continue"),
    results_dir: Path = typer.Option(Path("results"), help="result store root"),
    profiles_dir: Path = typer.Option(Path("hardware_profiles"), help="hardware profiles"),
    report: bool = typer.Option(True, "--report/--no-report", help="write an HTML report"),
    report_dir: Path = typer.Option(Path("reports"), help="where the HTML report goes"),
) -> None:
    """Run a suite file's matrix of models x formats x backends x suites."""
    plan = load_plan(suite_file)
    matrix = expand(plan, model, format, backend, suite)
    if dry_run:
        _print_matrix(matrix)
        return
    summary = execute(plan, matrix, results_dir, profiles_dir,
                      resume=(run_id or "latest") if resume else None)
    if report:
        write_report(plan, summary, profiles_dir, report_dir)
    if summary.failed:
        raise typer.Exit(1)


def execute(plan, matrix, results_dir: Path, profiles_dir: Path, resume: str | None = None):
    """Run the matrix with a progress display; print the outcome; return the RunSummary."""
    from harness.runner.runner import run_matrix

    observer = _Progress()
    try:
        with observer.progress:
            summary = run_matrix(plan, matrix, results_dir, profiles_dir, resume=resume,
                                 observer=observer)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished cells are stored under {results_dir}/"
                      f"{observer.run_id}; continue with: harness run {plan.file} --resume")
        raise typer.Exit(130) from None
    if summary.profile_captured:
        console.print(f"captured hardware profile {summary.profile_id} in {profiles_dir}/")
    console.print(f"run {summary.run_id}: {summary.ok} ok, {summary.failed} failed"
                  + (f", {summary.already_done} already stored" if summary.already_done else "")
                  + f" -> {summary.dir}")
    for failure in summary.failures:
        console.print(f"[red]failed[/red] {failure}", highlight=False)
    return summary


def write_report(plan, summary, profiles_dir: Path, report_dir: Path) -> Path:
    from harness.reports.html import HtmlReporter
    from harness.store import load_frame

    out = HtmlReporter(profiles_dir).render(load_frame([summary.dir]), report_dir /
                                            f"{summary.run_id}.html",
                                            f"{plan.name}: {summary.run_id}")
    console.print(f"report -> {out}")
    return out


def _print_matrix(matrix) -> None:
    table = Table(title=f"{len(matrix.cells)} cells")
    for col in ("#", "model", "format", "backend", "suite"):
        table.add_column(col)
    for i, cell in enumerate(matrix.cells, 1):
        table.add_row(str(i), cell.model, cell.format, cell.backend, cell.suite)
    console.print(table)
    unloadable = [s for s in matrix.skipped if "does not load" in s]
    for skipped in matrix.skipped:
        if skipped not in unloadable or len(unloadable) <= 3:
            console.print(f"skipped: {skipped}", highlight=False, markup=False)
    if len(unloadable) > 3:
        console.print(f"skipped: {len(unloadable)} format x backend pairs whose backend does "
                      "not load that format's files", highlight=False)
    console.print(f"{len(matrix.cells)} cells")


class _Progress:
    """Rich progress: the whole run (with ETA) and the current cell (ETA from similar cells)."""

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

    def cell_finished(self, result: CellResult | None) -> None:
        self.progress.advance(self.overall)
        if result is not None and result.status == "failed":
            self.progress.console.print(f"[red]failed[/red] {result.model} {result.format} "
                                        f"{result.backend} {result.suite}: {result.error}",
                                        highlight=False)
