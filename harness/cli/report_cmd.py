"""`harness report RESULTS... -o reports/NAME.html`."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import PROFILES, console


def report(
    results: list[Path] = typer.Argument(..., help="run folders, cells.jsonl files or results/"),
    out: Path = typer.Option(..., "-o", "--out", help="output file, e.g. reports/NAME.html"),
    reporter: str = typer.Option("html", help="run reporter (harness list reporters)"),
    title: str = typer.Option(None, help="report title"),
    profiles_dir: Path = PROFILES,
) -> None:
    """Render stored results to one self-contained report."""
    from harness.errors import UsageError
    from harness.reports.base import RunReporter
    from harness.reports.base import reporter as get_reporter
    from harness.results.frame import load_frame

    page = get_reporter(reporter, RunReporter, profiles_dir)
    frame = load_frame(results)
    if frame.empty:
        raise UsageError(f"{', '.join(map(str, results))}: no stored cells; fix: run a suite first")
    console.print(f"report -> {page.render(frame, out, title or out.stem)}", markup=False)
