"""Finding stored runs: listing (per hardware profile), `latest`, `baseline`, run ids and
paths on the command line, and the pinned baselines.

Baselines live next to the runs, in `<results>/baselines.json` (one per hardware
profile), so a results folder copied between machines or CI jobs carries them along.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import UsageError
from harness.results.store import CELLS_FILE, RUN_FILE, read_cells, read_manifest
from harness.schema import CellResult

log = logging.getLogger(__name__)
BASELINES_FILE = "baselines.json"


@dataclass(frozen=True)
class StoredRun:
    dir: Path
    manifest: dict

    @property
    def run_id(self) -> str:
        return self.dir.name

    @property
    def profile_id(self) -> str | None:
        return self.manifest.get("profile_id")

    def cells(self) -> list[CellResult]:
        return load_run(self.dir)


def list_runs(root: Path, profile_id: str | None = None,
              plan_name: str | None = None) -> list[StoredRun]:
    """Runs under `root` (both `<profile>/<run>/` and older flat `<run>/` folders), oldest
    first (run ids start with a UTC timestamp); a run whose manifest cannot be read is
    skipped with a warning naming it."""
    root = Path(root)
    found = []
    for manifest_path in [*root.glob(f"*/{RUN_FILE}"), *root.glob(f"*/*/{RUN_FILE}")]:
        try:
            manifest = read_manifest(manifest_path.parent)
        except UsageError as exc:
            log.warning("skipped: %s", exc)
            continue
        run = StoredRun(manifest_path.parent, manifest)
        if profile_id is not None and run.profile_id != profile_id:
            continue
        if plan_name is not None and manifest.get("plan_name") != plan_name:
            continue
        found.append(run)
    return sorted(found, key=lambda r: (r.run_id, str(r.dir)))


def latest(root: Path, profile_id: str | None = None,
           plan_name: str | None = None) -> StoredRun | None:
    runs = list_runs(root, profile_id, plan_name)
    return runs[-1] if runs else None


def resolve_run(ref: str, root: Path, profile_id: str | None = None) -> Path:
    """A run folder from `latest`, `baseline`, a run id under `root` or a path.

    `latest` is the newest run (of `profile_id` when given); `baseline` is the baseline of
    `profile_id` (by default the profile of the newest run).
    """
    root = Path(root)
    if ref == "latest":
        run = latest(root, profile_id)
        if run is None:
            scope = f" of hardware profile {profile_id}" if profile_id else ""
            raise UsageError(f"latest: no runs{scope} under {root}; fix: run a suite first, or "
                             "pass --results-dir")
        return run.dir
    if ref == "baseline":
        profile = profile_id or read_manifest(resolve_run("latest", root)).get("profile_id")
        run_id = baseline_for(root, profile)
        if run_id is None:
            raise UsageError(f"baseline: no baseline for hardware profile {profile} in "
                             f"{root / BASELINES_FILE}; fix: harness baseline set RUN")
        return resolve_run(run_id, root, profile)
    for candidate in (root / ref, Path(ref)):
        if (candidate / RUN_FILE).is_file() or (candidate / CELLS_FILE).is_file():
            return candidate
    matches = [r for r in list_runs(root) if r.run_id == ref
               and (profile_id is None or r.profile_id == profile_id)]
    if matches:
        return matches[-1].dir
    known = [r.run_id for r in list_runs(root)]
    hint = f"one of {', '.join(known[-3:])}" if known else "run a suite first"
    raise UsageError(f"{ref}: no such run under {root}; fix: give a run id, a run folder, "
                     f"'latest' or 'baseline' ({hint})")


def load_run(directory: Path) -> list[CellResult]:
    return list(read_cells(Path(directory) / CELLS_FILE))


def result_files(paths) -> list[Path]:
    """Run folders, cells.jsonl files or a results root -> the cells.jsonl files in them."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif (path / CELLS_FILE).is_file():
            files.append(path / CELLS_FILE)
        elif path.is_dir() and (nested := sorted([*path.glob(f"*/{CELLS_FILE}"),
                                                  *path.glob(f"*/*/{CELLS_FILE}")])):
            files += nested
        else:
            raise UsageError(f"{path}: no results here; fix: give a run folder under results/ "
                             "or its cells.jsonl")
    return files


def read_baselines(root: Path) -> dict[str, dict]:
    path = Path(root) / BASELINES_FILE
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path}: not valid JSON ({exc.msg}); fix: repair it or delete it and "
                         "set the baseline again with `harness baseline set RUN`") from None


def set_baseline(root: Path, directory: Path) -> str:
    """Pin the run in `directory` as the baseline of its hardware profile; the profile."""
    manifest = read_manifest(directory)
    profile = manifest.get("profile_id")
    if not profile:
        raise UsageError(f"{directory}: its run.json names no hardware profile; fix: pin a "
                         "run made by `harness run`")
    baselines = read_baselines(root)
    baselines[profile] = {"run_id": Path(directory).name, "plan_name": manifest.get("plan_name"),
                          "set_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = Path(root) / BASELINES_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(baselines, indent=2, sort_keys=True))
    tmp.replace(path)
    return profile


def baseline_for(root: Path, profile_id: str | None) -> str | None:
    entry = read_baselines(root).get(profile_id) if profile_id else None
    return entry["run_id"] if entry else None
