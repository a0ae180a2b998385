"""Append-only result store: results/<run_id>/cells.jsonl plus run.json.

A cell's line is written, flushed and fsynced the moment the cell ends, so an
interrupted run loses nothing that finished. Loading gives one long DataFrame:
one row per (cell, metric), cell fields repeated.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from harness.errors import UsageError
from harness.schema import CellResult

CELLS_FILE = "cells.jsonl"
RUN_FILE = "run.json"


def new_run_id(plan_name: str) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return f"{stamp}-{plan_name}"


class RunStore:
    """One run's folder. Opening an existing run appends to it (resume)."""

    def __init__(self, root: Path, run_id: str) -> None:
        self.dir = Path(root) / run_id
        self.run_id = run_id

    def create(self, manifest: dict) -> None:
        self.dir.mkdir(parents=True, exist_ok=False)
        (self.dir / RUN_FILE).write_text(json.dumps(manifest, indent=2))

    def manifest(self) -> dict:
        return json.loads((self.dir / RUN_FILE).read_text())

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


def latest_run(root: Path, plan_name: str | None = None) -> str | None:
    runs = sorted(p.name for p in Path(root).glob("*") if (p / RUN_FILE).is_file())
    if plan_name:
        runs = [r for r in runs if RunStore(root, r).manifest().get("plan_name") == plan_name]
    return runs[-1] if runs else None


def resolve_results(paths: Iterable[str | Path]) -> list[Path]:
    """Run folders, cells.jsonl files or a results root -> the cells.jsonl files in them."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            files.append(path)
        elif (path / CELLS_FILE).is_file():
            files.append(path / CELLS_FILE)
        elif path.is_dir() and list(path.glob(f"*/{CELLS_FILE}")):
            files += sorted(path.glob(f"*/{CELLS_FILE}"))
        else:
            raise UsageError(f"{path}: no results here; fix: give a run folder under results/ "
                             "or its cells.jsonl")
    return files


def load_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every metric of every cell in `paths` as one long DataFrame."""
    rows = []
    for file in resolve_results(paths):
        for cell in read_cells(file):
            base = cell.model_dump(exclude={"metrics"})
            art = base.pop("artifact") or {}
            base.update({f"artifact_{k}": v for k, v in art.items()})
            base["threads"] = cell.backend_config.get("threads")
            if not cell.metrics:
                rows.append(base)
            for metric in cell.metrics:
                rows.append({**base, **{f"metric_{k}" if k in ("name", "unit", "tags") else k: v
                                        for k, v in metric.model_dump().items()}})
    frame = pd.DataFrame(rows)
    if not frame.empty and "metric_tags" in frame:
        frame["metric_label"] = [
            _label(name, tags)
            for name, tags in zip(frame["metric_name"], frame["metric_tags"], strict=True)
        ]
    return frame


def _label(name: object, tags: object) -> str | None:
    if not isinstance(name, str):
        return None
    if not isinstance(tags, dict) or not tags:
        return name
    return f"{name} [{', '.join(f'{k}={v}' for k, v in sorted(tags.items()))}]"
