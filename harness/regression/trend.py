"""Every stored run of one hardware profile over time, and which points regressed.

Each run is compared with the profile's baseline as `harness compare` would, with the
regression thresholds that run stored (its suite file's `regression:` section), so the
trend page and `harness nightly` give the same verdicts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import UsageError
from harness.regression.compare import compare_runs
from harness.results.identity import label, metric_label
from harness.results.query import StoredRun, baseline_for, list_runs
from harness.thresholds import RegressionConfig


@dataclass
class Trend:
    profile_id: str
    frame: pd.DataFrame
    """One row per (run, cell, metric): run_id, time, commit, cell, metric, unit, median."""
    baseline: str | None
    regressed: set[tuple[str, str, str]] = field(default_factory=set)
    """(run, cell, metric) that the run's comparison with the baseline calls regressed."""


def build_trend(root: Path, profile_id: str) -> Trend:
    runs = [(run, run.cells()) for run in list_runs(root, profile_id)]
    baseline = baseline_for(root, profile_id)
    return Trend(profile_id, _frame(runs), baseline, _regressed(runs, baseline))


def _frame(runs: list[tuple[StoredRun, list]]) -> pd.DataFrame:
    rows = []
    for run, cells in runs:
        for cell in cells:
            if cell.status != "ok":
                continue
            for metric in cell.metrics:
                rows.append({"run_id": run.run_id, "time": run.manifest.get("started_at"),
                             "commit": run.manifest.get("git_commit"), "cell": label(cell),
                             "metric": metric_label(metric.name, metric.tags),
                             "unit": metric.unit, "median": metric.median})
    frame = pd.DataFrame(rows, columns=["run_id", "time", "commit", "cell", "metric", "unit",
                                        "median"])
    if not frame.empty:
        # a start time that is no time (a hand-edited run.json) is left out of the charts
        frame["time"] = pd.to_datetime(frame["time"], errors="coerce", utc=True)
    return frame


def _regressed(runs: list[tuple[StoredRun, list]], baseline: str | None
               ) -> set[tuple[str, str, str]]:
    base = next((cells for run, cells in runs if run.run_id == baseline), None)
    if base is None:
        return set()
    out = set()
    for run, cells in runs:
        if run.run_id == baseline:
            continue
        config = RegressionConfig.model_validate(run.manifest.get("regression") or {})
        try:
            comparison = compare_runs(base, cells, config)
        except UsageError:  # a run of another suite shares no cell with the baseline
            continue
        out |= {(run.run_id, r.cell, r.metric) for r in comparison.rows
                if r.verdict == "regressed"}
    return out
