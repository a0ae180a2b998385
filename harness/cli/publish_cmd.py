"""`harness publish RESULTS... -o site/`: a static site of stored results (harness.site)."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import console


def publish(
    results: list[Path] = typer.Argument(..., help="results folders (as harness run writes "
                                         "them, or one <profile_id>/ folder or run folder "
                                         "of one), e.g. results/ or several machines' copies"),
    out: Path = typer.Option(..., "-o", "--out", help="site folder to (re)build, e.g. site/"),
    profiles_dir: list[Path] = typer.Option(
        [], "--profiles-dir", help="hardware profiles to show (repeatable; default: the "
        "hardware_profiles/ folder beside each results folder)"),
    merge: bool = typer.Option(False, "--merge", help="keep the results the site holds "
                               "already (its data/) beside the given ones"),
    title: str = typer.Option("Benchmark results", "--title", help="the index page's title"),
) -> None:
    """Build a static site: an index of hardware profiles and runs, each run's report,
    comparisons with baselines and across profiles, trends and one page per model."""
    publish_site(results, out, profiles_dir, merge, title)


def publish_site(results: list[Path], out: Path, profiles_dirs: list[Path], merge: bool,
                 title: str = "Benchmark results") -> None:
    """Build the site and print what it holds (also `harness nightly --publish`)."""
    from harness.site.build import publish as build_site

    built, catalog = build_site(results, out, profiles_dirs, merge, title)
    runs, profiles = len(built.runs), len(catalog.profiles())
    console.print(f"site -> {out / 'index.html'}: {runs} run{'s' * (runs != 1)} on "
                  f"{profiles} hardware profile{'s' * (profiles != 1)}, {built.pages()} pages",
                  highlight=False, markup=False, soft_wrap=True)
    for why in built.skipped:
        console.print(f"left out: {why}", highlight=False, markup=False, soft_wrap=True)
