"""`harness nightly SUITE.yaml`: run, report, judge against this machine's recent history."""

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
    history: int = typer.Option(20, "--history", min=0,
                                help="earlier runs of the plan to judge speed against"),
    reference_python: Path = typer.Option(
        None, "--reference-python", help="interpreter of a pinned install to run the timed "
        "cells beside, in lockstep (overrides the suite's regression.reference.python)"),
    publish: Path = typer.Option(
        None, "--publish", metavar="DIR", help="then (re)build the static site in DIR from "
        "--results-dir, keeping the results DIR holds already (harness publish --merge)"),
) -> None:
    """Run a suite and judge it; exit 1 on a regression.

    Speed and latency are judged against the level of the recent clean runs of the same
    plan on this machine (steps detected; contended or failed nights left out), other
    metrics and failures against the pinned baseline. With no baseline for this machine's
    hardware profile yet, the run becomes it. A contended cell's speed verdicts are
    inconclusive: a busy night fails only on other metrics or newly failed cells. With
    --publish, the site is rebuilt whatever the verdict (before the exit status is set).
    """
    from harness.cli.run_cmd import execute, write_report
    from harness.config import load_plan
    from harness.matrix import expand
    from harness.regression.nightly import judge
    from harness.thresholds import Reference

    plan = load_plan(suite_file)
    if publish is not None:
        from harness.site.build import check_out

        check_out(publish)  # a folder it may not replace fails before the night runs
    reference = plan.regression.reference
    if reference_python is not None:
        reference = Reference(python=str(reference_python.expanduser().absolute()),
                              processes=reference.processes if reference else 5)
    if reference is None:
        summary = execute(plan, expand(plan), results_dir, profiles_dir)
    else:
        summary = _beside_reference(plan, reference, reference_python is not None,
                                    results_dir, profiles_dir)
    write_report(plan, summary, profiles_dir, report_dir, reporter)
    verdict = judge(summary.dir, summary.profile_id, summary.failed, results_dir,
                    plan.regression, profiles_dir=profiles_dir, history=history)
    _print_verdict(verdict, summary, report_dir, profiles_dir)
    if publish is not None:
        from harness.cli.publish_cmd import publish_site

        publish_site([results_dir], publish, [profiles_dir], merge=True)
    if verdict.regressed:
        raise typer.Exit(1)


def _print_verdict(verdict, summary, report_dir: Path, profiles_dir: Path) -> None:
    """The night's verdict on the console, and its comparison page beside its report."""
    from harness.cli.compare_cmd import print_comparison, write_comparison

    _print_contended(verdict)
    if verdict.comparison is None:
        if verdict.contended:
            console.print(f"no baseline for hardware profile {summary.profile_id}, and run "
                          f"{summary.run_id} was contended: not pinned; fix: run nightly "
                          "again on a quiet machine (harness doctor)", markup=False)
        else:
            console.print(f"no baseline for hardware profile {summary.profile_id}: run "
                          f"{summary.run_id} is now the baseline", markup=False)
        return
    print_comparison(verdict.comparison)
    print_history(verdict)
    write_comparison(verdict.comparison,
                     report_dir / f"{summary.run_id}-vs-{verdict.baseline_run}.html", None,
                     profiles_dir=profiles_dir)


def _beside_reference(plan, reference, from_option: bool, results_dir: Path,
                      profiles_dir: Path):
    """Run the reference's suites beside the reference install's, in lockstep, then the
    plan's other suites into the same run; link the night's run to the reference's; the
    night's RunSummary (its `failed` counting both parts)."""
    from harness.cli.run_cmd import execute, execute_together, print_outcome
    from harness.matrix import expand
    from harness.regression.reference import reference_plans
    from harness.results.store import read_manifest, write_manifest

    where = "--reference-python" if from_option else plan.file
    ref_plan, part = reference_plans(plan, reference, where)
    ref, night = execute_together([(ref_plan, expand(ref_plan)), (part, expand(part))],
                                  results_dir, profiles_dir, reference.processes)
    write_manifest(night.dir, {**read_manifest(night.dir), "reference_run": ref.run_id})
    console.print(f"reference: {reference.python}, {reference.processes} processes per "
                  f"cell of {', '.join(part.suites)} in lockstep with the night's",
                  highlight=False, markup=False, soft_wrap=True)
    print_outcome(ref, profiles_dir)
    if part.suites == plan.suites:
        print_outcome(night, profiles_dir)
        return night
    rest = execute(plan, expand(plan), results_dir, profiles_dir, resume=night.run_id)
    rest.failed += night.failed
    return rest


def _print_contended(verdict) -> None:
    if not verdict.contended:
        return
    console.print(f"contended night: {len(verdict.contended_cells)} cells shared the machine; "
                  "their speed and latency verdicts are inconclusive and they do not enter "
                  "the history", highlight=False, markup=False, soft_wrap=True)
    for line in verdict.contended_cells:
        console.print(f"  contended: {line}", highlight=False, markup=False, soft_wrap=True)


def print_history(verdict) -> None:
    """The rows judged against history: the level, its spread and the steps found."""
    from rich.markup import escape
    from rich.table import Table

    from harness.regression.history import MIN_POINTS

    runs = len(verdict.history_runs)
    if verdict.method == "reference":
        console.print(f"judged by reference: speed and latency as ratios to the reference run "
                      f"beside this night, against the level of those ratios over {runs} "
                      f"earlier runs of this plan (1 until {MIN_POINTS} have one); the rest "
                      f"against baseline {verdict.baseline_run}", highlight=False,
                      markup=False, soft_wrap=True)
    elif verdict.method == "baseline":
        console.print(f"judged against baseline {verdict.baseline_run}: no speed or latency "
                      f"metric has 3 clean earlier runs of this plan yet ({runs} runs)",
                      highlight=False, markup=False)
    else:
        console.print(f"judged by {verdict.method}: speed and latency against the level of "
                      f"{runs} earlier runs of this plan, the rest against baseline "
                      f"{verdict.baseline_run}", highlight=False, markup=False)
    if not verdict.history_rows:
        return
    table = Table(title=escape(f"{verdict.run_id} vs its history"))
    for col in ("verdict", "cell", "metric", "history", "level", "sd", "night", "change",
                "limit", "steps"):
        table.add_column(col)
    style = {"regressed": "bold red", "improved": "green", "inconclusive": "yellow",
             "unchanged": "dim"}
    for row in verdict.history_rows:
        pct = (lambda x: f"{x * 100:+.1f}%") if row.relative else (lambda x: f"{x:+.4g}")
        steps = ", ".join(f"{row.runs[s.index][:15]} {s.change * 100:+.0f}%"
                          for s in row.steps) or "-"
        table.add_row(f"[{style[row.verdict]}]{row.verdict}[/]", escape(row.cell),
                      escape(row.metric), f"{row.segment} of {len(row.values)}",
                      f"{row.level:.4g}", f"{row.sd:.3g}", f"{row.night:.4g}",
                      pct(row.change), f"±{pct(row.half)[1:]}", escape(steps))
    console.print(table)
