"""Pinned baselines (one per hardware profile) and naming runs on the command line.

Baselines live next to the runs, in `<results>/baselines.json`, so a results folder
copied between machines or CI jobs carries its baselines with it.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import UsageError
from harness.schema import CellResult
from harness.store import CELLS_FILE, RUN_FILE, RunStore, read_cells

BASELINES_FILE = "baselines.json"


def read_baselines(results_root: Path) -> dict[str, dict]:
    path = Path(results_root) / BASELINES_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg}); fix: repair it or delete it and "
                         "set the baseline again with `harness baseline set RUN`") from None


def set_baseline(results_root: Path, run_dir: Path) -> str:
    """Pin the run in `run_dir` as the baseline of its hardware profile; returns the profile."""
    manifest = RunStore(run_dir.parent, run_dir.name).manifest()
    profile = manifest["profile_id"]
    baselines = read_baselines(results_root)
    baselines[profile] = {"run_id": run_dir.name, "plan_name": manifest.get("plan_name"),
                          "set_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = Path(results_root) / BASELINES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(baselines, indent=2, sort_keys=True))
    tmp.replace(path)
    return profile


def baseline_for(results_root: Path, profile_id: str) -> str | None:
    entry = read_baselines(results_root).get(profile_id)
    return entry["run_id"] if entry else None


def runs(results_root: Path) -> list[str]:
    """Run ids under `results_root`, oldest first (ids start with a UTC timestamp)."""
    root = Path(results_root)
    return sorted(p.name for p in root.glob("*") if (p / RUN_FILE).is_file())


def resolve_run(ref: str, results_root: Path, profile_id: str | None = None) -> Path:
    """A run folder from `latest`, `baseline`, a run id under `results_root` or a path.

    `baseline` is the baseline of `profile_id` (by default that of the latest run).
    """
    root = Path(results_root)
    if ref == "latest":
        ids = runs(root)
        if not ids:
            raise UsageError(f"latest: no runs under {root}; fix: run a suite first, or pass "
                             "--results-dir")
        return root / ids[-1]
    if ref == "baseline":
        profile = profile_id or _profile_of(resolve_run("latest", root))
        run_id = baseline_for(root, profile)
        if run_id is None:
            raise UsageError(f"baseline: no baseline for hardware profile {profile} in "
                             f"{root / BASELINES_FILE}; fix: harness baseline set RUN")
        return resolve_run(run_id, root)
    for candidate in (root / ref, Path(ref)):
        if (candidate / RUN_FILE).is_file() or (candidate / CELLS_FILE).is_file():
            return candidate
    known = runs(root)
    hint = f"one of {', '.join(known[-3:])}" if known else "run a suite first"
    raise UsageError(f"{ref}: no such run under {root}; fix: give a run id, a run folder, "
                     f"'latest' or 'baseline' ({hint})")


def load_run(run_dir: Path) -> list[CellResult]:
    return list(read_cells(Path(run_dir) / CELLS_FILE))


def _profile_of(run_dir: Path) -> str:
    return RunStore(run_dir.parent, run_dir.name).manifest()["profile_id"]
