"""`harness trend -o FILE`: every run of one hardware profile over time."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, RESULTS, console, manifest


def trend(
    out: Path = typer.Option(..., "-o", "--out", help="output file, e.g. reports/trend.html"),
    profile: str = typer.Option(None, help="hardware profile id (default: the latest run's)"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
    reporter: str = typer.Option("trend-html", "--reporter",
                                 help="trend reporter (harness list reporters)"),
) -> None:
    """Chart every metric over all stored runs of one hardware profile."""
    from harness.regression.trend import build_trend
    from harness.reports.base import TrendReporter
    from harness.reports.base import reporter as get_reporter
    from harness.results.query import resolve_run

    page = get_reporter(reporter, TrendReporter, profiles_dir)
    profile = profile or manifest(resolve_run("latest", results_dir))["profile_id"]
    path = page.render(build_trend(results_dir, profile, profiles_dir), out, f"Trend: {profile}")
    console.print(f"trend -> {path}", markup=False)
