"""`harness export pytest-benchmark RUN -o FILE`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from harness.cli.options import PROFILES, RESULTS, console, manifest

export_app = typer.Typer(no_args_is_help=True, help="Write stored runs in other tools' formats.")


@export_app.command("pytest-benchmark")
def export_pytest_benchmark(
    run: str = typer.Argument(..., help="run id, run folder, 'latest' or 'baseline'"),
    out: Path = typer.Option(..., "-o", "--out", help="output JSON file"),
    results_dir: Path = RESULTS,
    profiles_dir: Path = PROFILES,
) -> None:
    """Write RUN's time-like metrics as a pytest-benchmark JSON file."""
    from harness.errors import UsageError
    from harness.hardware.profile import load_profile
    from harness.regression.export import to_pytest_benchmark
    from harness.results.query import load_run, resolve_run

    run_dir = resolve_run(run, results_dir)
    run_manifest = manifest(run_dir)
    profile_path = profiles_dir / f"{run_manifest.get('profile_id')}.yaml"
    profile = load_profile(profile_path) if profile_path.is_file() else None
    data = to_pytest_benchmark(load_run(run_dir), run_manifest, profile)
    if not data["benchmarks"]:
        raise UsageError(f"{run_dir.name} has no time-like metrics to export; fix: export a "
                         "run of a throughput, serving or latency suite")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=4))
    console.print(f"{len(data['benchmarks'])} benchmarks -> {out}", markup=False)
