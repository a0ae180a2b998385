"""`harness baseline set RUN` / `harness baseline show`: one baseline per hardware profile."""

from __future__ import annotations

from pathlib import Path

import typer

from harness.cli.options import RESULTS, console

baseline_app = typer.Typer(no_args_is_help=True, help="Pin or show per-profile baselines.")


@baseline_app.command("set")
def baseline_set(run: str = typer.Argument(..., help="run id, run folder or 'latest'"),
                 results_dir: Path = RESULTS) -> None:
    """Pin RUN as the baseline of the hardware profile it ran on."""
    from harness.results.query import resolve_run, set_baseline

    run_dir = resolve_run(run, results_dir)
    profile = set_baseline(results_dir, run_dir)
    console.print(f"baseline for {profile}: {run_dir.name}", markup=False)


@baseline_app.command("show")
def baseline_show(results_dir: Path = RESULTS) -> None:
    """List the pinned baselines."""
    from harness.results.query import read_baselines

    baselines = read_baselines(results_dir)
    if not baselines:
        console.print(f"no baselines under {results_dir}; set one with: harness baseline set "
                      "RUN", markup=False)
    for profile, entry in sorted(baselines.items()):
        console.print(f"{profile}: {entry['run_id']} (set {entry.get('set_at', '?')})",
                      markup=False)
