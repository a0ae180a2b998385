"""`harness run SUITE.yaml`: expand the plan, run the cells, store, report."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, REPORTS, RESULTS, console


def run(
    suite_file: Path = typer.Argument(..., help="suite YAML, e.g. suites/demo.yaml"),
    model: list[str] = typer.Option([], "--model", "-m", help="only these models"),
    format: list[str] = typer.Option([], "--format", "-f", help="only these formats"),
    backend: list[str] = typer.Option([], "--backend", "-b", help="only these backends"),
    suite: list[str] = typer.Option([], "--suite", "-s", help="only these suites"),
    dry_run: bool = typer.Option(False, "--dry-run", help="print the expanded matrix, run nothing"),
    resume: bool = typer.Option(False, "--resume", help="continue the latest run of this plan"),
    run_id: str = typer.Option(None, "--run-id", help="with --resume: the run to continue"),
    retry_failed: bool = typer.Option(False, "--retry-failed",
                                      help="with --resume: run the failed cells again"),
    no_lock: bool = typer.Option(False, "--no-lock",
                                 help="do not wait for other runs' cells on this machine "
                                      "(timings may disturb each other; the run records it)"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    report: bool = typer.Option(True, "--report/--no-report", help="write a report"),
    report_dir: Path = REPORTS,
    reporter: str = typer.Option("html", "--reporter",
                                 help="run reporter (harness list reporters)"),
) -> None:
    """Run a suite file's matrix of models x formats x backends x suites."""
    from harness.config import load_plan
    from harness.errors import UsageError
    from harness.matrix import expand

    for flag, given in (("--run-id", run_id is not None), ("--retry-failed", retry_failed)):
        if given and not resume:
            raise UsageError(f"{flag}: only means something with --resume; fix: add --resume "
                             f"(harness run {suite_file} --resume {flag} ...)")
    plan = load_plan(suite_file)
    matrix = expand(plan, model, format, backend, suite)
    if report:
        _run_reporter(reporter, profiles_dir)  # a bad name fails before any cell runs
    if dry_run:
        _print_matrix(matrix)
        return
    summary = execute(plan, matrix, results_dir, profiles_dir,
                      resume=(run_id or "latest") if resume else None,
                      retry_failed=retry_failed, lock=not no_lock)
    if report:
        write_report(plan, summary, profiles_dir, report_dir, reporter)
    if summary.failed:
        raise typer.Exit(1)


def execute(plan, matrix, results_dir: Path, profiles_dir: Path, resume: str | None = None,
            retry_failed: bool = False, lock: bool = True):
    """Run the matrix with a progress display; print the outcome; return the RunSummary."""
    from rich.text import Text

    from harness.cli.progress import RunProgress
    from harness.runner.runner import run_matrix

    observer = RunProgress()
    try:
        with observer.progress:
            summary = run_matrix(plan, matrix, results_dir, profiles_dir, resume=resume,
                                 observer=observer, retry_failed=retry_failed, lock=lock)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished cells are stored under {results_dir}/ (run "
                      f"{observer.run_id}); continue with: harness run {plan.file} --resume",
                      highlight=False, markup=False)
        raise typer.Exit(130) from None
    if summary.profile_captured:
        console.print(f"captured hardware profile {summary.profile_id} in {profiles_dir}/")
    kept = f" ({summary.kept_failed} failed kept)" if summary.kept_failed else ""
    console.print(f"run {summary.run_id}: {summary.ok} ok, {summary.failed} failed"
                  + (f", {summary.already_done} already stored{kept}"
                     if summary.already_done else "")
                  + (f", {summary.retried} retried" if summary.retried else "")
                  + f" -> {summary.dir}", highlight=False, markup=False)
    for failure in summary.failures:
        # Text, not markup: an error may hold "[/x]", which Rich would take for a tag
        console.print(Text.assemble(("failed", "red"), f" {failure}"), highlight=False)
    return summary


def write_report(plan, summary, profiles_dir: Path, report_dir: Path,
                 reporter: str = "html") -> Path:
    from harness.results.frame import load_frame

    page = _run_reporter(reporter, profiles_dir)
    out = page.render(load_frame([summary.dir]), report_dir / f"{summary.run_id}{page.suffix}",
                      f"{plan.name}: {summary.run_id}")
    console.print(f"report -> {out}")
    return out


def _run_reporter(name: str, profiles_dir: Path):
    from harness.reports.base import RunReporter, reporter

    return reporter(name, RunReporter, profiles_dir)


def _print_matrix(matrix) -> None:
    from rich.table import Table

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
