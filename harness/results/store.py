"""Append-only result store: `results/<profile_id>/<run_id>/` holds `cells.jsonl` and
`run.json` (runs of older versions sit flat in `results/<run_id>/` and still read).

A cell's line is written, flushed and fsynced the moment the cell ends, so an
interrupted run loses nothing that finished.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import UsageError
from harness.schema import CellResult

CELLS_FILE = "cells.jsonl"
RUN_FILE = "run.json"


def new_run_id(plan_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{plan_name}"


def run_dir(root: Path, profile_id: str, run_id: str) -> Path:
    """Where a new run of `profile_id` lives."""
    return Path(root) / profile_id / run_id


class RunStore:
    """One run's folder. Opening an existing run appends to it (resume)."""

    def __init__(self, directory: Path) -> None:
        self.dir = Path(directory)
        self.run_id = self.dir.name

    @classmethod
    def create(cls, root: Path, manifest: dict) -> RunStore:
        """A new run folder under `root` for `manifest` (which names run_id, profile_id)."""
        store = cls(run_dir(root, manifest["profile_id"], manifest["run_id"]))
        store.dir.mkdir(parents=True, exist_ok=False)
        write_manifest(store.dir, manifest)
        return store

    def manifest(self) -> dict:
        return read_manifest(self.dir)

    def append(self, result: CellResult) -> None:
        line = result.model_dump_json() + "\n"
        with open(self.dir / CELLS_FILE, "a", encoding="utf-8") as handle:
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())

    def results(self) -> list[CellResult]:
        return list(read_cells(self.dir / CELLS_FILE))

    def finished_keys(self, include_failed: bool = True) -> set[str]:
        return {r.cell_key for r in self.results() if include_failed or r.status == "ok"}


def write_manifest(directory: Path, manifest: dict) -> None:
    """Write `run.json` whole or not at all (temporary file, fsync, rename)."""
    path = Path(directory) / RUN_FILE
    tmp = path.with_name(f".{RUN_FILE}.tmp")
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(manifest, indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    tmp.replace(path)


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / RUN_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: not a readable run manifest ({exc}); fix: restore it or "
                         "delete that run folder") from None


def read_cells(path: Path) -> Iterable[CellResult]:
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            yield CellResult.model_validate_json(line)
        except ValueError:
            # a last line cut short by a hard kill mid-write is dropped; anything else is damage
            if lineno < len(lines):
                raise UsageError(
                    f"{path}:{lineno}: not a result line; fix: remove that line") from None
