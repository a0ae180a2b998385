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
    wait_quiet: float = typer.Option(0.0, "--wait-quiet", min=0, metavar="SECONDS",
                                     help="before timed cells, wait up to this long for a "
                                          "quiet machine (see harness doctor)"),
    require_quiet: bool = typer.Option(False, "--require-quiet",
                                       help="refuse to run timed cells on a busy machine "
                                            "instead of marking them contended"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    report: bool = typer.Option(True, "--report/--no-report", help="write a report"),
    report_dir: Path = REPORTS,
    reporter: str = typer.Option("html", "--reporter",
                                 help="run reporter (harness list reporters)"),
    executor: str = typer.Option("local", "--executor",
                                 help="local (this machine) or ray (a Ray cluster; "
                                      "pip install -e '.[ray]')"),
    address: str = typer.Option(None, "--address", help="with --executor ray: the cluster's "
                                "head (host:port); default: a one-node cluster of this "
                                "machine"),
) -> None:
    """Run a suite file's matrix of models x formats x backends x suites."""
    from harness.config import load_plan
    from harness.matrix import expand

    _check_flags(suite_file, resume, run_id, retry_failed, executor, address)
    plan = load_plan(suite_file)
    matrix = expand(plan, model, format, backend, suite)
    if report:
        _run_reporter(reporter, profiles_dir)  # a bad name fails before any cell runs
    if dry_run:
        _print_matrix(matrix)
        return
    resumed = (run_id or "latest") if resume else None
    if executor == "ray":
        summary = execute_on_ray(plan, matrix, results_dir, profiles_dir, address, resumed,
                                 retry_failed, not no_lock)
    else:
        check_local_hardware(plan, profiles_dir)
        checked = preflight_for(plan, matrix, wait_quiet, require_quiet)
        summary = execute(plan, matrix, results_dir, profiles_dir, resume=resumed,
                          retry_failed=retry_failed, lock=not no_lock, preflight=checked)
    if report:
        write_report(plan, summary, profiles_dir, report_dir, reporter)
    if summary.failed:
        raise typer.Exit(1)


def _check_flags(suite_file: Path, resume: bool, run_id: str | None, retry_failed: bool,
                 executor: str, address: str | None) -> None:
    from harness.errors import UsageError

    for flag, given in (("--run-id", run_id is not None), ("--retry-failed", retry_failed)):
        if given and not resume:
            raise UsageError(f"{flag}: only means something with --resume; fix: add --resume "
                             f"(harness run {suite_file} --resume {flag} ...)")
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor {executor}: unknown; fix: give local or ray")
    if address and executor != "ray":
        raise UsageError("--address: only means something with --executor ray; fix: add "
                         "--executor ray")
    if executor == "ray":
        from harness.fleet.executor import import_ray

        import_ray()  # not installed: the install command, before anything else


def check_local_hardware(plan, profiles_dir: Path) -> None:
    """A suite whose `hardware:` this machine does not match is refused before it runs."""
    if plan.hardware == ["any"]:
        return
    from harness.fleet.nodes import advertised, facts_of
    from harness.fleet.placement import matching_profiles
    from harness.hardware.profile import current_profile, load_profile

    _, path, _ = current_profile(profiles_dir)
    matching_profiles(plan, [facts_of(advertised(load_profile(path)))])


def execute_on_ray(plan, matrix, results_dir: Path, profiles_dir: Path, address: str | None,
                   resume: str | None, retry_failed: bool, lock: bool):
    """The matrix on a Ray cluster (harness.fleet), with a progress display."""
    from harness.cli.progress import make_observer
    from harness.fleet.executor import run_on_ray

    observer = make_observer(fleet=True)
    try:
        with observer.progress:
            summary = run_on_ray(plan, matrix, results_dir, profiles_dir, address, resume,
                                 retry_failed, observer, lock)
    except KeyboardInterrupt:
        run = f" (run {observer.run_id})" if observer.run_id else ""
        console.print(f"interrupted: every task is cancelled; finished cells are stored "
                      f"under {results_dir}/{run}; continue with: harness run {plan.file} "
                      "--executor ray --resume", highlight=False, markup=False)
        raise typer.Exit(130) from None
    print_outcome(summary, profiles_dir)
    return summary


def preflight_for(plan, matrix, wait_s: float = 0.0, require: bool = False) -> dict | None:
    """The quiet-machine preflight before timed cells (None when no cell is timed): waits
    up to `wait_s` for a quiet machine, refuses a busy one when `require`, else warns."""
    from harness.errors import UsageError
    from harness.hardware.quiet import busy_line, preflight, wait_quiet
    from harness.registry import registry

    suites = registry("suites")
    if not any(suites.get(cell.suite).timed() for cell in matrix.cells):
        return None
    limits = plan.health.model_dump()
    if wait_s > 0:
        def told(pf: dict) -> None:
            console.print(f"waiting up to {wait_s:g} s for a quiet machine: {busy_line(pf)}",
                          highlight=False, markup=False, soft_wrap=True)

        checked = wait_quiet(wait_s, limits, on_wait=told)
    else:
        checked = preflight(limits=limits)
    if checked["quiet"]:
        return checked
    if require:
        waited = f" after waiting {wait_s:g} s" if wait_s > 0 else ""
        raise UsageError(f"machine busy{waited}: {busy_line(checked)}; fix: stop them (see harness "
                         "doctor) or run without --require-quiet, and cells will be marked "
                         "contended")
    console.print(f"warning: machine busy: {busy_line(checked)}; timed cells measured now "
                  "are marked contended (harness doctor says what to change; harness run "
                  "--wait-quiet SECONDS waits)", highlight=False, markup=False, soft_wrap=True)
    return checked


def execute(plan, matrix, results_dir: Path, profiles_dir: Path, resume: str | None = None,
            retry_failed: bool = False, lock: bool = True, preflight: dict | None = None):
    """Run the matrix with a progress display; print the outcome; return the RunSummary.
    Without `preflight`, the machine is checked here (warn and mark, as `harness run`
    does without flags), so every caller's timed cells get one."""
    import inspect

    from harness.cli.progress import make_observer
    from harness.runner.runner import run_matrix

    if preflight is None:
        preflight = preflight_for(plan, matrix)
    observer = make_observer()
    extra = {"preflight": preflight} \
        if "preflight" in inspect.signature(run_matrix).parameters else {}
    try:
        with observer.progress:
            summary = run_matrix(plan, matrix, results_dir, profiles_dir, resume=resume,
                                 observer=observer, retry_failed=retry_failed, lock=lock,
                                 **extra)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished cells are stored under {results_dir}/ (run "
                      f"{observer.run_id}); continue with: harness run {plan.file} --resume",
                      highlight=False, markup=False)
        raise typer.Exit(130) from None
    print_outcome(summary, profiles_dir)
    return summary


def execute_together(jobs: list, results_dir: Path, profiles_dir: Path, processes: int,
                     lockstep: bool = True) -> list:
    """Several plans' matrices in one job, timed cells in `processes` processes each, in
    lockstep or interleaved (harness ab; a nightly beside its reference); their
    RunSummaries in order."""
    from harness.cli.progress import make_observer
    from harness.runner.runner import run_plans

    observer = make_observer()
    try:
        with observer.progress:
            return run_plans(jobs, results_dir, profiles_dir, observer=observer,
                             processes=processes, preflight=preflight_for(*jobs[0]),
                             lockstep=lockstep)
    except KeyboardInterrupt:
        console.print(f"interrupted: finished cells are stored under {results_dir}/",
                      highlight=False, markup=False)
        raise typer.Exit(130) from None


def print_outcome(summary, profiles_dir: Path) -> None:
    """The run's one-line outcome and its failures."""
    from rich.text import Text

    if summary.profile_captured:
        console.print(f"captured hardware profile {summary.profile_id} in {profiles_dir}/")
    kept = f" ({summary.kept_failed} failed kept)" if summary.kept_failed else ""
    console.print(f"run {summary.run_id}: {summary.ok} ok, {summary.failed} failed"
                  + (f", {summary.already_done} already stored{kept}"
                     if summary.already_done else "")
                  + (f", {summary.retried} retried" if summary.retried else "")
                  + (f", {summary.contended} contended" if summary.contended else "")
                  + f" -> {', '.join(map(str, summary.folders()))}", highlight=False,
                  markup=False,
                  soft_wrap=True)
    for failure in summary.failures:
        # Text, not markup: an error may hold "[/x]", which Rich would take for a tag
        console.print(Text.assemble(("failed", "red"), f" {failure}"), highlight=False)


def write_report(plan, summary, profiles_dir: Path, report_dir: Path,
                 reporter: str = "html") -> Path:
    from harness.results.frame import load_frame

    page = _run_reporter(reporter, profiles_dir)
    out = page.render(load_frame(summary.folders()), report_dir / f"{summary.run_id}{page.suffix}",
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
