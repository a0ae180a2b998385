"""`harness calibrate SUITE.yaml`: measure and store this machine's noise floor."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, RESULTS, console


def calibrate(
    suite_file: Path = typer.Argument(..., help="suite YAML whose speed metrics to calibrate"),
    runs: int = typer.Option(8, "--runs", "-r", min=2, max=100,
                             help="worker processes per timed cell (each one whole run)"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
) -> None:
    """Measure how far identical runs of each speed and latency metric drift apart here.

    Runs the suite's timed cells in R interleaved worker processes and stores, in this
    machine's hardware profile, the coefficient of variation (cv) of the R per-process
    medians of each metric. Printed per metric: cv; the minimum detectable effect of one
    run against one run, MDE = (z(1 - a/2) + z(0.9)) * sqrt(2) * cv, a being the suite's
    regression false_alarm rate (0.01 unless set), at 90 % power; and the threshold that
    `auto` resolves to, median:(K * cv)% with K = z(1 - a/2) * sqrt(2) (at least 1 %)."""
    from harness.config import load_plan
    from harness.matrix import expand
    from harness.regression.noise import floors_of_run, store_noise_floor
    from harness.results.query import load_run

    plan = load_plan(suite_file)
    matrix = expand(plan)
    summary = _run(plan, matrix, results_dir, profiles_dir, runs)
    cells = load_run(summary.dir)
    floors = floors_of_run(cells)
    if not floors:
        from harness.errors import UsageError

        raise UsageError(f"{suite_file}: no speed or latency metric was measured in two or "
                         "more processes (run " + summary.run_id + "); fix: calibrate a suite "
                         "with timed suites (throughput, serving) whose cells succeed")
    path = store_noise_floor(profiles_dir, summary.profile_id, plan.name, floors)
    _print(floors, plan.regression.false_alarm, summary.run_id)
    for cell in cells:
        if cell.contended:
            from harness.results.identity import label

            console.print(f"warning: {label(cell)} was contended during calibration: its "
                          "floor is too high; run harness calibrate again on a quiet "
                          "machine (harness doctor)", highlight=False, markup=False)
    console.print(f"noise floor of plan {plan.name} -> {path}", highlight=False, markup=False)


def _run(plan, matrix, results_dir: Path, profiles_dir: Path, runs: int):
    from harness.cli.progress import make_observer
    from harness.cli.run_cmd import preflight_for
    from harness.runner.runner import run_plans

    observer = make_observer()
    try:
        with observer.progress:
            return run_plans([(plan, matrix)], results_dir, profiles_dir, observer=observer,
                             processes=runs, preflight=preflight_for(plan, matrix))[0]
    except KeyboardInterrupt:
        console.print("interrupted: nothing was stored in the profile", highlight=False,
                      markup=False)
        raise typer.Exit(130) from None


def _print(floors: dict, false_alarm: float, run_id: str) -> None:
    from rich.markup import escape
    from rich.table import Table

    from harness.regression.noise import minimum_detectable_effect
    from harness.thresholds import AUTO, auto_threshold, default_multiple

    k = default_multiple(false_alarm)
    table = Table(title=escape(f"noise floor from run {run_id}: false alarm "
                               f"{false_alarm * 100:g} %, power 90 %, auto = {k:.2f} x cv"))
    for col in ("cell", "metric", "runs", "cv", "MDE", "auto"):
        table.add_column(col)
    for (cell, metric), entry in sorted(floors.items()):
        cv = entry["cv"]
        table.add_row(escape(cell), escape(metric), str(entry["runs"]), f"{cv * 100:.2f}%",
                      f"{minimum_detectable_effect(cv, false_alarm) * 100:.1f}%",
                      auto_threshold(AUTO, cv, false_alarm).text)
    console.print(table)
