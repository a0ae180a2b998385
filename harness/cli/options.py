"""Options and the console shared by several commands (no heavy imports here)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

console = Console(emoji=False)  # a plan name such as "name:label:" is not an emoji code

RESULTS = typer.Option(Path("results"), "--results-dir", help="result store root")
PROFILES = typer.Option(Path("hardware_profiles"), "--profiles-dir", help="hardware profiles")
REPORTS = typer.Option(Path("reports"), "--report-dir", help="where reports go")


def manifest(run_dir: Path) -> dict:
    from harness.results.store import read_manifest

    return read_manifest(run_dir)
