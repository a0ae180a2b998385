"""`harness nightly SUITE.yaml`: run, report, judge against this machine's baseline."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, REPORTS, RESULTS, console


def nightly(
    suite_file: Path = typer.Argument(..., help="suite YAML to run and compare"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    report_dir: Path = REPORTS,
    reporter: str = typer.Option("html", "--reporter", help="run reporter "
                                 "(harness list reporters)"),
) -> None:
    """Run a suite, compare with this machine's baseline, exit 1 on a regression.

    With no baseline for this machine's hardware profile yet, the run becomes it.
    """
    from harness.cli.compare_cmd import print_comparison, write_comparison
    from harness.cli.run_cmd import execute, write_report
    from harness.config import load_plan
    from harness.matrix import expand
    from harness.regression.nightly import judge

    plan = load_plan(suite_file)
    summary = execute(plan, expand(plan), results_dir, profiles_dir)
    write_report(plan, summary, profiles_dir, report_dir, reporter)
    verdict = judge(summary.dir, summary.profile_id, summary.failed, results_dir,
                    plan.regression)
    if verdict.comparison is None:
        console.print(f"no baseline for hardware profile {summary.profile_id}: run "
                      f"{summary.run_id} is now the baseline", markup=False)
        return
    print_comparison(verdict.comparison)
    write_comparison(verdict.comparison,
                     report_dir / f"{summary.run_id}-vs-{verdict.baseline_run}.html", None,
                     profiles_dir=profiles_dir)
    if verdict.regressed:
        raise typer.Exit(1)
