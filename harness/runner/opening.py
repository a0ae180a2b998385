"""Which run folder a `harness run` writes: a new one, or the run `--resume` names.

A run whose `run.json` is damaged is never resumed by guesswork: `--resume` of it is an
error naming the file, even when it is only the newest run of the plan (`latest`).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from harness import __version__
from harness.config import Plan
from harness.errors import UsageError
from harness.results.query import latest, resolve_run
from harness.results.store import RunStore, new_run_id, read_manifest, write_manifest


def open_store(plan: Plan, results_root: Path, profile_id: str, commit: str,
               resume: str | None, lock: bool = True, preflight: dict | None = None,
               processes: int = 1) -> RunStore:
    """The store to write: the run `resume` names ("latest" or a run id), else a new one.
    `lock: False` is recorded in the manifest (its cells ran without the machine lock), and
    so are the quiet-machine `preflight` and the worker `processes` per timed cell (a
    resumed run keeps the ones it started with)."""
    if not resume:
        return RunStore.create(results_root, {
            "run_id": new_run_id(plan.name), "plan_name": plan.name, "plan_file": plan.file,
            "profile_id": profile_id, "harness_version": __version__, "git_commit": commit,
            "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "machine_lock": lock, "regression": plan.regression.model_dump(),
            "processes": processes, "preflight": preflight})
    directory = _resumed_dir(plan, results_root, profile_id, resume)
    manifest = read_manifest(directory)  # a damaged run.json: the error names it
    if manifest.get("plan_name") not in (None, plan.name):
        raise UsageError(f"--run-id {resume}: that run is of plan '{manifest['plan_name']}', "
                         f"not '{plan.name}'; fix: give a run of {plan.file}")
    if not lock and manifest.get("machine_lock", True):
        write_manifest(directory, {**manifest, "machine_lock": False})
    return RunStore(directory)


def _resumed_dir(plan: Plan, results_root: Path, profile_id: str, resume: str) -> Path:
    if resume == "latest":
        _refuse_damaged_newest(plan, results_root, profile_id)
        found = latest(results_root, profile_id, plan.name)
        directory = found.dir if found else None
    elif (Path(results_root) / profile_id / resume).is_dir():  # even with a damaged run.json
        directory = Path(results_root) / profile_id / resume
    else:
        try:
            directory = resolve_run(resume, results_root, profile_id)
        except UsageError:
            directory = None
    if directory is None:
        raise UsageError(f"--resume: no run '{resume}' of plan '{plan.name}' on hardware "
                         f"profile {profile_id} under {results_root}; fix: run without "
                         "--resume first")
    return directory


def _refuse_damaged_newest(plan: Plan, results_root: Path, profile_id: str) -> None:
    """`latest` skips runs whose manifest cannot be read; resuming an older run in place
    of a damaged newer one would run its cells again, so that is an error instead."""
    pattern = re.compile(r"\d{8}T\d{6}Z-" + re.escape(plan.name) + r"(-\d+)?")
    folders = sorted(p for p in (Path(results_root) / profile_id).glob("*")
                     if p.is_dir() and pattern.fullmatch(p.name))
    if folders:
        read_manifest(folders[-1])
