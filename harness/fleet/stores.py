"""A fleet run's store: one run folder per hardware profile, all under one run id.

`results/<profile>/<run_id>/` holds the cells that ran on that profile, so every other
command (report, trend, compare, baselines, nightly) sees an ordinary run of one
machine; the manifests say `executor: ray`, and `--resume` finds the run by its id in
every profile's folder. The driver is the only writer: nodes send records back.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from harness import __version__
from harness.config import Plan
from harness.errors import UsageError
from harness.results.query import list_runs
from harness.results.store import RunStore, new_run_id, read_manifest, write_manifest
from harness.runner.locks import Lock, lock_run
from harness.schema import CellResult

EXECUTOR = "ray"


class FleetStore:
    """The run folders of one fleet run, opened (and locked) as cells arrive."""

    def __init__(self, plan: Plan, root: Path, run_id: str, commit: str, lock: bool) -> None:
        self.plan, self.root, self.run_id = plan, Path(root), run_id
        self.commit, self.lock = commit, lock
        self.stores: dict[str, RunStore] = {}
        self.locks: list[Lock] = []
        for folder in sorted(self.root.glob(f"*/{run_id}")):
            if folder.is_dir():
                self._open(folder)

    @classmethod
    def open(cls, plan: Plan, root: Path, commit: str, resume: str | None,
             lock: bool = True) -> FleetStore:
        """A new fleet run, or the one `resume` names ("latest" or a run id)."""
        if not resume:
            run_id = base = new_run_id(plan.name)
            for attempt in range(2, 1000):
                if not any(Path(root).glob(f"*/{run_id}")):
                    break
                run_id = f"{base}-{attempt}"
            return cls(plan, root, run_id, commit, lock)
        runs = [r for r in list_runs(root, plan_name=plan.name)
                if r.manifest.get("executor") == EXECUTOR
                and (resume == "latest" or r.run_id == resume)]
        if not runs:
            raise UsageError(f"--resume: no Ray run '{resume}' of plan '{plan.name}' under "
                             f"{root}; fix: run without --resume first")
        return cls(plan, root, runs[-1].run_id, commit, lock)

    def stored(self) -> dict[str, str]:
        """cell key -> status of every cell stored so far, over all profiles."""
        out = {}
        for store in self.stores.values():
            out.update({r.cell_key: r.status for r in store.results()})
        return out

    def store_for(self, profile_id: str) -> RunStore:
        if profile_id not in self.stores:
            folder = self.root / profile_id / self.run_id
            folder.mkdir(parents=True, exist_ok=True)
            if not (folder / "run.json").is_file():
                write_manifest(folder, self._manifest(profile_id))
            self._open(folder)
        return self.stores[profile_id]

    def put(self, result: CellResult, superseding: bool) -> RunStore:
        store = self.store_for(result.profile_id)
        (store.supersede if superseding else store.append)(result)
        return store

    def dirs(self) -> list[Path]:
        return [store.dir for store in self.stores.values()]

    def release(self) -> None:
        for held in self.locks:
            held.release()

    def _open(self, folder: Path) -> None:
        manifest = read_manifest(folder)  # a damaged run.json: the error names it
        self.locks.append(lock_run(folder, self.run_id))
        self.stores[manifest.get("profile_id") or folder.parent.name] = RunStore(folder)

    def _manifest(self, profile_id: str) -> dict:
        plan = self.plan
        return {"run_id": self.run_id, "plan_name": plan.name, "plan_file": plan.file,
                "profile_id": profile_id, "harness_version": __version__,
                "git_commit": self.commit, "executor": EXECUTOR,
                "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "machine_lock": self.lock, "regression": plan.regression.model_dump(),
                "processes": plan.processes, "preflight": None}
