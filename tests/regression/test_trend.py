"""The trend judges each run with the thresholds that run stored, as nightly did."""

from __future__ import annotations

from pathlib import Path

from harness.regression.trend import build_trend
from harness.results.query import set_baseline
from harness.results.store import RunStore
from tests.regression.conftest import cell, draws, metric


def _run(root: Path, run_id: str, center: float, regression: dict) -> RunStore:
    store = RunStore.create(root, {"run_id": run_id, "plan_name": "p", "profile_id": "p1",
                                   "started_at": f"2026-11-{run_id[6:8]}T00:00:00+00:00",
                                   "regression": regression})
    store.append(cell(run_id, [metric("decode_tokens_per_s", draws(center, seed=len(run_id)))]))
    return store


def test_each_run_is_judged_with_its_own_stored_thresholds(tmp_path: Path) -> None:
    base = _run(tmp_path, "20261101T000000Z-p", 100.0, {})
    _run(tmp_path, "20261102T000000Z-p", 85.0, {"thresholds": {"default": "median:25%"}})
    _run(tmp_path, "20261103T000000Z-p", 85.0, {})  # the declared median:5%
    set_baseline(tmp_path, base.dir)
    trend = build_trend(tmp_path, "p1")
    assert trend.baseline == "20261101T000000Z-p"
    assert {run for run, _, _ in trend.regressed} == {"20261103T000000Z-p"}
    assert trend.frame["run_id"].nunique() == 3
