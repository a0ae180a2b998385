"""Finding runs: per-profile folders, older flat folders, `latest` scoped to a profile,
baselines, and a damaged manifest that must not hide the other runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.results.frame import COLUMNS, load_frame
from harness.results.query import (
    baseline_for,
    latest,
    list_runs,
    resolve_run,
    result_files,
    set_baseline,
)
from harness.results.store import RunStore
from tests.regression.conftest import cell, metric


def _run(root: Path, run_id: str, profile: str, plan: str = "p") -> RunStore:
    store = RunStore.create(root, {"run_id": run_id, "plan_name": plan, "profile_id": profile})
    store.append(cell(run_id, [metric("decode_tokens_per_s", [1.0, 2.0])], profile=profile))
    return store


def _flat_run(root: Path, run_id: str, profile: str) -> Path:
    """A run as versions before the per-profile layout stored it: results/<run_id>/."""
    folder = root / run_id
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": run_id, "plan_name": "p",
                                                 "profile_id": profile}))
    line = cell(run_id, [metric("decode_tokens_per_s", [1.0])], profile=profile)
    (folder / "cells.jsonl").write_text(line.model_dump_json() + "\n")
    return folder


def test_runs_are_listed_per_profile_old_flat_folders_included(tmp_path: Path) -> None:
    _flat_run(tmp_path, "20260101T000000Z-p", "a")
    _run(tmp_path, "20260102T000000Z-p", "b")
    _run(tmp_path, "20260103T000000Z-p", "a")
    assert [r.run_id for r in list_runs(tmp_path)] == [
        "20260101T000000Z-p", "20260102T000000Z-p", "20260103T000000Z-p"]
    assert [r.run_id for r in list_runs(tmp_path, "a")] == [
        "20260101T000000Z-p", "20260103T000000Z-p"]
    assert latest(tmp_path, "b").run_id == "20260102T000000Z-p"
    assert resolve_run("latest", tmp_path).name == "20260103T000000Z-p"
    assert resolve_run("latest", tmp_path, "b") == tmp_path / "b" / "20260102T000000Z-p"
    assert resolve_run("20260101T000000Z-p", tmp_path) == tmp_path / "20260101T000000Z-p"
    assert len(result_files([tmp_path])) == 3
    assert set(load_frame([tmp_path])["profile_id"]) == {"a", "b"}


def test_baseline_is_per_profile(tmp_path: Path) -> None:
    old = _run(tmp_path, "20260101T000000Z-p", "a")
    _run(tmp_path, "20260102T000000Z-p", "b")
    assert set_baseline(tmp_path, old.dir) == "a"
    assert baseline_for(tmp_path, "a") == "20260101T000000Z-p"
    assert baseline_for(tmp_path, "b") is None
    assert resolve_run("baseline", tmp_path, "a") == old.dir
    with pytest.raises(UsageError, match="no baseline for hardware profile b"):
        resolve_run("baseline", tmp_path)  # the latest run is b's


def test_a_damaged_manifest_is_skipped_not_fatal(tmp_path: Path, caplog) -> None:
    good = _run(tmp_path, "20260101T000000Z-p", "a")
    bad = _run(tmp_path, "20260102T000000Z-p", "a")
    (bad.dir / "run.json").write_text('{"run_id": "2026')  # cut short
    assert [r.dir for r in list_runs(tmp_path)] == [good.dir]
    assert "run.json" in caplog.text


def test_frame_has_every_declared_column_even_for_a_failed_cell(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, {"run_id": "r", "plan_name": "p", "profile_id": "a"})
    store.append(cell("r", [], status="failed"))
    frame = load_frame([store.dir])
    assert list(frame.columns[: len(COLUMNS)]) == list(COLUMNS)
    assert len(frame) == 1 and frame.iloc[0]["status"] == "failed"
