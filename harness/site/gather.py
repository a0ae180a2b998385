"""Results folders -> a site's `data/` folder: one results root the pages are built from.

Each run folder given (`<root>/<profile_id>/<run_id>/`, an older flat `<root>/<run_id>/`, a
`<root>/<profile_id>/` folder a runner uploaded, or one run folder) is copied to
`data/results/<profile_id>/<run_id>/` (its run.json and cells.jsonl; logs stay behind).
With `merge`, what `data/` held already is kept and the given folders replace their own
copies (a resumed run brings its new cells). The baselines of those roots are merged into
`data/results/baselines.json`, and the hardware profiles the runs name are copied to
`data/hardware_profiles/` from the profile folders given, else from a `hardware_profiles/`
folder beside a results root. `data/` is replaced whole at the end, never left half-built.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.results.query import BASELINES_FILE, read_baselines
from harness.results.store import CELLS_FILE, RUN_FILE, read_cells, read_manifest
from harness.site.urls import slug

RESULTS, PROFILES = "results", "hardware_profiles"
_SAFE = re.compile(r"[A-Za-z0-9_.-]+")


@dataclass
class Gathered:
    copied: int = 0
    """Run folders copied from the given results."""
    skipped: list[str] = field(default_factory=list)
    """'<file>: <why>' for each run folder given that could not be read (not copied)."""


def run_folders(path: Path) -> list[Path]:
    """The run folders in a results path; a UsageError naming the path when it has none."""
    path = Path(path)
    fix = ("fix: give a results folder as `harness run` writes it (--results-dir, default "
           "results/), one of its <profile_id>/ folders, or one run folder")
    if not path.is_dir():
        raise UsageError(f"{path}: no such folder; {fix}")
    if (path / RUN_FILE).is_file():
        return [path]
    found = {p.parent for p in [*path.glob(f"*/{RUN_FILE}"), *path.glob(f"*/*/{RUN_FILE}")]}
    if not found:
        raise UsageError(f"{path}: not a results folder (no run.json in it, in <run_id>/ or "
                         f"in <profile_id>/<run_id>/ below it); {fix}")
    return sorted(found)


def gather(sources: dict[Path, list[Path]], profile_dirs: list[Path], data: Path,
           merge: bool) -> Gathered:
    """Build `data` from the run folders of each source path (`run_folders`); with `merge`,
    on top of what `data` holds."""
    staging = data.with_name(f".{data.name}.new")
    shutil.rmtree(staging, ignore_errors=True)
    if merge and data.is_dir():
        shutil.copytree(data, staging)
    (staging / RESULTS).mkdir(parents=True, exist_ok=True)
    (staging / PROFILES).mkdir(parents=True, exist_ok=True)
    done = Gathered()
    baselines = read_baselines(staging / RESULTS)
    profiles: set[str] = set()
    for source, folders in sources.items():
        copied: dict[str, set[str]] = {}
        for folder in folders:
            profile = _copy_run(folder, staging / RESULTS, done)
            if profile is not None:
                copied.setdefault(profile, set()).add(folder.name)
        baselines.update(_baselines(source, copied))
        profiles |= set(copied)
    if baselines:
        (staging / RESULTS / BASELINES_FILE).write_text(json.dumps(baselines, indent=2,
                                                                   sort_keys=True))
    _copy_profiles([*_beside(sources), *profile_dirs], profiles, staging / PROFILES)
    _swap(staging, data)
    return done


def profile_of(folder: Path, manifest: dict) -> str:
    """The hardware profile a run folder belongs to: its manifest's, else its cells'."""
    if manifest.get("profile_id"):
        return str(manifest["profile_id"])
    try:
        with open(folder / CELLS_FILE, encoding="utf-8") as handle:
            first = json.loads(handle.readline() or "{}")
    except (OSError, ValueError):
        first = {}
    found = first.get("profile_id") if isinstance(first, dict) else None
    return str(found) if found else "unknown-profile"


def _copy_run(folder: Path, results: Path, done: Gathered) -> str | None:
    try:
        manifest = read_manifest(folder)
        for _ in read_cells(folder / CELLS_FILE):  # a damaged line: named, left out
            pass
    except UsageError as exc:
        done.skipped.append(str(exc))
        return None
    profile = profile_of(folder, manifest)
    dest = results / _dir_name(profile) / folder.name
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in (RUN_FILE, CELLS_FILE):
        if (folder / name).is_file():
            shutil.copyfile(folder / name, dest / name)
    done.copied += 1
    return profile


def _dir_name(profile: str) -> str:
    """A stored profile id as a folder name (ids `harness profile` writes are kept)."""
    return profile if _SAFE.fullmatch(profile) and profile not in (".", "..") else slug(profile)


def _baselines(source: Path, copied: dict[str, set[str]]) -> dict[str, dict]:
    """The baselines pinned in a results root (or the root above a profile folder) for
    the profiles and runs taken from it."""
    out: dict[str, dict] = {}
    for root in (source.parent, source):
        if not (root / BASELINES_FILE).is_file():
            continue
        for profile, entry in read_baselines(root).items():
            if isinstance(entry, dict) and entry.get("run_id") in copied.get(profile, ()):
                out[profile] = entry
    return out


def _beside(sources: dict[Path, list[Path]]) -> list[Path]:
    """`hardware_profiles/` folders beside the given results roots (or above a profile
    folder), where `harness run` writes profiles by default."""
    found = []
    for source in sources:
        for parent in (source.parent, source.parent.parent):
            if (parent / PROFILES).is_dir() and parent / PROFILES not in found:
                found.append(parent / PROFILES)
    return found


def _copy_profiles(folders: list[Path], profiles: set[str], dest: Path) -> None:
    """`<id>.yaml` of each profile in `profiles`, from the last folder that has it (an id
    that is no file name has no profile file)."""
    for folder in folders:
        for profile in sorted(p for p in profiles if Path(p).name == p and p not in ("", "..")):
            path = folder / f"{profile}.yaml"
            if path.is_file():
                shutil.copyfile(path, dest / path.name)


def _swap(staging: Path, data: Path) -> None:
    old = data.with_name(f".{data.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if data.exists():
        data.rename(old)
    staging.rename(data)
    shutil.rmtree(old, ignore_errors=True)
