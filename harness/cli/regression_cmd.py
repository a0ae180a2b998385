"""`harness compare`, `harness baseline`, `harness nightly`, `harness trend`, `harness export`.

Exit codes: 0 clean, 1 something regressed, 2 usage error (HarnessError's own code).
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from harness.errors import UsageError
from harness.regression.baselines import (
    baseline_for,
    load_run,
    read_baselines,
    resolve_run,
    set_baseline,
)
from harness.regression.compare import Comparison, compare_runs
from harness.regression.thresholds import RegressionConfig, parse_threshold
from harness.store import RunStore

console = Console()
RESULTS = typer.Option(Path("results"), "--results-dir", help="result store root")
REPORTS = typer.Option(Path("reports"), "--report-dir", help="where HTML reports go")

baseline_app = typer.Typer(no_args_is_help=True, help="Pin or show per-profile baselines.")
export_app = typer.Typer(no_args_is_help=True, help="Write stored runs in other tools' formats.")


def compare(
    baseline: str = typer.Argument(..., help="run id, run folder, 'latest' or 'baseline'"),
    candidate: str = typer.Argument("latest", help="run id, run folder, 'latest' or 'baseline'"),
    results_dir: Path = RESULTS,
    suite_file: Path = typer.Option(None, help="take thresholds from this suite file's "
                                               "regression: section (default: the candidate's)"),
    threshold: list[str] = typer.Option([], "--threshold", "-t",
                                        help="METRIC=EXPR, e.g. decode_tokens_per_s=median:5%"),
    html_out: Path = typer.Option(None, "--html", help="also write the comparison as HTML"),
    json_out: Path = typer.Option(None, "--json", help="also write the comparison as JSON"),
    show_all: bool = typer.Option(False, "--all", help="list unchanged metrics too"),
) -> None:
    """Compare two runs cell by cell; exit 1 when a metric regressed."""
    cand_dir = resolve_run(candidate, results_dir)
    base_dir = resolve_run(baseline, results_dir, _manifest(cand_dir).get("profile_id"))
    config = _config(cand_dir, suite_file, threshold)
    comparison = compare_runs(load_run(base_dir), load_run(cand_dir), config)
    print_comparison(comparison, show_all)
    _write(comparison, html_out, json_out)
    if comparison.regressed:
        raise typer.Exit(1)


def nightly(
    suite_file: Path = typer.Argument(..., help="suite YAML to run and compare"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = typer.Option(Path("hardware_profiles"), help="hardware profiles"),
    report_dir: Path = REPORTS,
) -> None:
    """Run a suite, compare with this machine's baseline, exit 1 on a regression.

    With no baseline for this machine's hardware profile yet, the run becomes it.
    """
    from harness.cli.run_cmd import execute, write_report
    from harness.config import load_plan
    from harness.matrix import expand

    plan = load_plan(suite_file)
    summary = execute(plan, expand(plan), results_dir, profiles_dir)
    write_report(plan, summary, profiles_dir, report_dir)
    base_id = baseline_for(results_dir, summary.profile_id)
    if base_id is None:
        if summary.failed:
            raise UsageError(f"no baseline for {summary.profile_id} and {summary.failed} cells "
                             "failed; fix: make the suite pass, then run nightly again")
        set_baseline(results_dir, summary.dir)
        console.print(f"no baseline for hardware profile {summary.profile_id}: run "
                      f"{summary.run_id} is now the baseline")
        return
    comparison = compare_runs(load_run(resolve_run(base_id, results_dir)),
                              load_run(summary.dir), plan.regression)
    print_comparison(comparison)
    _write(comparison, report_dir / f"{summary.run_id}-vs-{base_id}.html", None)
    if comparison.regressed:
        raise typer.Exit(1)


@baseline_app.command("set")
def baseline_set(run: str = typer.Argument(..., help="run id, run folder or 'latest'"),
                 results_dir: Path = RESULTS) -> None:
    """Pin RUN as the baseline of the hardware profile it ran on."""
    run_dir = resolve_run(run, results_dir)
    profile = set_baseline(results_dir, run_dir)
    console.print(f"baseline for {profile}: {run_dir.name}")


@baseline_app.command("show")
def baseline_show(results_dir: Path = RESULTS) -> None:
    """List the pinned baselines."""
    baselines = read_baselines(results_dir)
    if not baselines:
        console.print(f"no baselines under {results_dir}; set one with: harness baseline set RUN")
    for profile, entry in sorted(baselines.items()):
        console.print(f"{profile}: {entry['run_id']} (set {entry.get('set_at', '?')})")


def trend(
    out: Path = typer.Option(..., "-o", "--out", help="output file, e.g. reports/trend.html"),
    profile: str = typer.Option(None, help="hardware profile id (default: the latest run's)"),
    results_dir: Path = RESULTS,
) -> None:
    """Chart every metric over all stored runs of one hardware profile."""
    from harness.reports.trend import render_trend

    profile = profile or _manifest(resolve_run("latest", results_dir))["profile_id"]
    path = render_trend(results_dir, profile, out)
    console.print(f"trend -> {path}")


@export_app.command("pytest-benchmark")
def export_pytest_benchmark(
    run: str = typer.Argument(..., help="run id, run folder, 'latest' or 'baseline'"),
    out: Path = typer.Option(..., "-o", "--out", help="output JSON file"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = typer.Option(Path("hardware_profiles"), help="hardware profiles"),
) -> None:
    """Write RUN's time-like metrics as a pytest-benchmark JSON file."""
    from harness.hardware.profile import load_profile
    from harness.regression.export import to_pytest_benchmark

    run_dir = resolve_run(run, results_dir)
    manifest = _manifest(run_dir)
    profile_path = profiles_dir / f"{manifest.get('profile_id')}.yaml"
    profile = load_profile(profile_path) if profile_path.is_file() else None
    data = to_pytest_benchmark(load_run(run_dir), manifest, profile)
    if not data["benchmarks"]:
        raise UsageError(f"{run_dir.name} has no time-like metrics to export; fix: export a "
                         "run of a throughput, serving or latency suite")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=4))
    console.print(f"{len(data['benchmarks'])} benchmarks -> {out}")


def print_comparison(comparison: Comparison, show_all: bool = False) -> None:
    from harness.reports.comparison import format_change, format_interval

    for warning in comparison.warnings:
        console.print(f"[bold red]warning:[/bold red] {warning}", highlight=False)
    table = Table(title=f"{comparison.candidate_run} vs {comparison.baseline_run}")
    for col in ("verdict", "cell", "metric", "baseline", "candidate", "change", "interval", "p"):
        table.add_column(col)
    style = {"regressed": "bold red", "improved": "green", "inconclusive": "yellow",
             "unchanged": "dim"}
    for row in comparison.rows:
        if row.verdict == "unchanged" and not show_all:
            continue
        table.add_row(f"[{style[row.verdict]}]{row.verdict}[/]", row.cell, row.metric,
                      f"{row.base:.4g}", f"{row.cand:.4g}", format_change(row),
                      format_interval(row), "-" if row.p_value is None else f"{row.p_value:.3g}")
    console.print(table)
    for failure in comparison.newly_failed:
        console.print(f"[bold red]regressed[/bold red] (failed, ok in baseline): {failure}",
                      highlight=False)
    for side, cells in (("baseline", comparison.only_baseline),
                        ("candidate", comparison.only_candidate)):
        for cell in cells:
            console.print(f"only in the {side}: {cell}", highlight=False)
    counts = ", ".join(f"{n} {v}" for v, n in comparison.counts().items())
    console.print(f"{len(comparison.rows)} metrics compared: {counts}"
                  + (f"; {len(comparison.newly_failed)} cells newly failed"
                     if comparison.newly_failed else ""))


def _config(run_dir: Path, suite_file: Path | None, overrides: list[str]) -> RegressionConfig:
    if suite_file is not None:
        from harness.config import load_plan

        config = load_plan(suite_file).regression
    else:
        config = RegressionConfig.model_validate(_manifest(run_dir).get("regression") or {})
    thresholds = dict(config.thresholds)
    for item in overrides:
        name, sep, expr = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--threshold {item!r}: not METRIC=EXPR; fix: e.g. "
                             "--threshold decode_tokens_per_s=median:5%")
        try:
            parse_threshold(expr)
        except ValueError as exc:
            raise UsageError(f"--threshold {name}: {exc}") from None
        thresholds[name] = expr
    quality = {k: v for k, v in config.quality.items() if k not in thresholds}
    return config.model_copy(update={"thresholds": thresholds, "quality": quality})


def _manifest(run_dir: Path) -> dict:
    return RunStore(run_dir.parent, run_dir.name).manifest()


def _write(comparison: Comparison, html_out: Path | None, json_out: Path | None) -> None:
    if html_out is not None:
        from harness.reports.comparison import render_comparison

        console.print(f"comparison report -> {render_comparison(comparison, html_out)}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(comparison.to_dict(), indent=2))
        console.print(f"comparison json -> {json_out}")
