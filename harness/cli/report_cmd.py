"""`harness report RESULTS... -o reports/NAME.html`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from harness.errors import UsageError
from harness.registry import registry
from harness.store import load_frame

console = Console()


def report(
    results: list[Path] = typer.Argument(..., help="run folders, cells.jsonl files or results/"),
    out: Path = typer.Option(..., "-o", "--out", help="output file, e.g. reports/NAME.html"),
    reporter: str = typer.Option("html", help="reporter name (harness list reporters)"),
    title: str = typer.Option(None, help="report title"),
    profiles_dir: Path = typer.Option(Path("hardware_profiles"),
                                      help="hardware profiles (for the roofline)"),
) -> None:
    """Render stored results to one self-contained report."""
    frame = load_frame(results)
    if frame.empty:
        raise UsageError(f"{', '.join(map(str, results))}: no stored cells; fix: run a suite first")
    path = registry("reporters").get(reporter)(profiles_dir).render(frame, out,
                                                                     title or out.stem)
    console.print(f"report -> {path}")
