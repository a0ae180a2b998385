"""What a site's `data/results/` holds: run folders, the runs they make up, and which run
each is compared with.

A run is every folder that shares a run id: one folder normally, one per hardware profile
for a run the Ray executor spread over several machines (`executor: "ray"` in run.json;
each profile's rows in `<profile_id>/<run_id>/`). A folder whose cells cannot be read is
left out and named in `skipped`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.hardware.profile import load_profile
from harness.results.query import StoredRun, list_runs, read_baselines
from harness.schema import CellResult
from harness.site.gather import profile_of

log = logging.getLogger(__name__)
NO_PLAN = "unnamed"


@dataclass(frozen=True)
class Folder:
    """One run folder: one hardware profile's part of a run."""

    stored: StoredRun
    profile_id: str
    cells: tuple[CellResult, ...]

    @property
    def dir(self) -> Path:
        return self.stored.dir

    @property
    def run_id(self) -> str:
        return self.stored.run_id

    @property
    def manifest(self) -> dict:
        return self.stored.manifest

    @property
    def plan(self) -> str:
        return str(self.manifest.get("plan_name") or NO_PLAN)

    def counts(self) -> dict[str, int]:
        ok = [c for c in self.cells if c.status == "ok"]
        return {"ok": len(ok), "failed": len(self.cells) - len(ok),
                "contended": sum(1 for c in ok if c.contended)}


@dataclass(frozen=True)
class Run:
    """Every folder of one run id."""

    run_id: str
    folders: tuple[Folder, ...]

    @property
    def plan(self) -> str:
        return self.folders[0].plan

    @property
    def profiles(self) -> list[str]:
        return sorted({f.profile_id for f in self.folders})

    @property
    def started(self) -> str:
        """The earliest start of its folders, as `YYYY-MM-DD HH:MM UTC` ('' when unknown)."""
        stamps = [s for f in self.folders if (s := _when(f.manifest.get("started_at")))]
        return min(stamps).strftime("%Y-%m-%d %H:%M UTC") if stamps else ""

    def counts(self) -> dict[str, int]:
        out = {"ok": 0, "failed": 0, "contended": 0}
        for folder in self.folders:
            for key, n in folder.counts().items():
                out[key] += n
        return out


@dataclass
class Catalog:
    root: Path
    """The results root (a site's data/results)."""
    profiles_dir: Path
    folders: list[Folder]
    """Oldest first (run ids start with their UTC start)."""
    skipped: list[str] = field(default_factory=list)
    baselines: dict[str, dict] = field(default_factory=dict)
    """Pinned baselines by profile id (results.query's baselines.json)."""

    @classmethod
    def load(cls, root: Path, profiles_dir: Path) -> Catalog:
        folders, skipped = [], []
        for stored in list_runs(root):
            try:
                cells = tuple(stored.cells())
            except UsageError as exc:
                skipped.append(str(exc))
                continue
            folders.append(Folder(stored, profile_of(stored.dir, stored.manifest), cells))
        return cls(Path(root), Path(profiles_dir), folders, skipped, read_baselines(root))

    def runs(self) -> list[Run]:
        grouped: dict[str, list[Folder]] = {}
        for folder in self.folders:
            grouped.setdefault(folder.run_id, []).append(folder)
        return [Run(run_id, tuple(found)) for run_id, found in grouped.items()]

    def profiles(self) -> list[str]:
        return sorted({f.profile_id for f in self.folders})

    def plans(self) -> list[str]:
        return sorted({f.plan for f in self.folders})

    def models(self) -> list[str]:
        return sorted({c.model for f in self.folders for c in f.cells})

    def history(self, profile_id: str, plan: str) -> list[Folder]:
        return [f for f in self.folders if (f.profile_id, f.plan) == (profile_id, plan)]

    def latest(self, plan: str) -> dict[str, Folder]:
        """The newest folder of `plan` on each profile that ran it."""
        out: dict[str, Folder] = {}
        for folder in self.folders:
            if folder.plan == plan and folder.cells:
                out[folder.profile_id] = folder
        return dict(sorted(out.items()))

    def hardware(self, profile_id: str) -> dict:
        """The profile's YAML as a dict ({} when the site has none or cannot read it)."""
        path = self.profiles_dir / f"{profile_id}.yaml"
        if Path(profile_id).name != profile_id or not path.is_file():
            return {}
        try:
            facts = load_profile(path)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            log.warning("%s: not readable (%s); the site shows the id alone", path, exc)
            return {}
        return facts if isinstance(facts, dict) else {}

    def reference(self, folder: Folder) -> tuple[Folder, str] | None:
        """What `folder` is compared with: its profile's pinned baseline when that is an
        earlier run of the same plan, else the plan's previous run on the profile."""
        earlier = [f for f in self.history(folder.profile_id, folder.plan)
                   if f.run_id < folder.run_id and f.cells]
        pinned = (self.baselines.get(folder.profile_id) or {}).get("run_id")
        for candidate in earlier:
            if candidate.run_id == pinned:
                return candidate, "baseline"
        return (earlier[-1], "previous run") if earlier else None


def _when(value) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return stamp.astimezone(timezone.utc) if stamp.tzinfo else stamp.replace(tzinfo=timezone.utc)
