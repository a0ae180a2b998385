"""Every stored run of one hardware profile over time: which points regressed, where the
level stepped, which nights were contended, and the noise band of the current level.

Each run is judged as `harness nightly` judged it (harness.regression.nightly.judge_cells):
against the recent clean runs of its plan before it, falling back to the profile's baseline,
with the regression thresholds that run stored (its suite file's `regression:` section), so
the trend page and `harness nightly` give the same verdicts. Steps and the noise band come
from each (cell, metric) series' clean runs (harness.regression.steps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.errors import UsageError
from harness.regression.history import HISTORY, MIN_POINTS, clean
from harness.regression.nightly import judge_cells, noise_floor
from harness.regression.steps import robust_sd, segments
from harness.results.identity import label, metric_label
from harness.results.query import StoredRun, baseline_for, list_runs
from harness.schema import CellResult
from harness.thresholds import RegressionConfig

BAND_SD = 2.0
"""The noise band drawn: the current level +- this many sd of its segment."""


@dataclass(frozen=True)
class TrendStep:
    cell: str
    metric: str
    run_id: str
    """The first run at the new level."""
    time: object
    change: float
    """New level vs old, a fraction."""


@dataclass(frozen=True)
class Band:
    cell: str
    metric: str
    level: float
    sd: float
    start: object
    end: object
    """Times of the first and last run of the segment the band is drawn over."""


@dataclass
class Trend:
    profile_id: str
    frame: pd.DataFrame
    """One row per (run, cell, metric): run_id, time, commit, cell, metric, unit, median,
    contended (bool), health (why, when contended)."""
    baseline: str | None
    regressed: set[tuple[str, str, str]] = field(default_factory=set)
    """(run, cell, metric) that the run's nightly judgement calls regressed."""
    steps: list[TrendStep] = field(default_factory=list)
    bands: list[Band] = field(default_factory=list)


def build_trend(root: Path, profile_id: str, profiles_dir: Path | None = None,
                plan_name: str | None = None) -> Trend:
    """Every run of `profile_id` under `root` (of `plan_name` alone, when given)."""
    runs = [(run, run.cells()) for run in list_runs(root, profile_id, plan_name)]
    baseline = baseline_for(root, profile_id)
    frame = _frame(runs)
    steps, bands = _levels(frame)
    return Trend(profile_id, frame, baseline, _regressed(runs, baseline, profiles_dir),
                 steps, bands)


def _frame(runs: list[tuple[StoredRun, list[CellResult]]]) -> pd.DataFrame:
    rows = []
    for run, cells in runs:
        for cell in cells:
            if cell.status != "ok":
                continue
            busy = not clean(cell)
            why = "; ".join(str(r) for r in (cell.health or {}).get("reasons") or [])
            for metric in cell.metrics:
                rows.append({"run_id": run.run_id, "time": run.manifest.get("started_at"),
                             "commit": run.manifest.get("git_commit"), "cell": label(cell),
                             "metric": metric_label(metric.name, metric.tags),
                             "unit": metric.unit, "median": metric.median,
                             "contended": busy, "health": why if busy else ""})
    frame = pd.DataFrame(rows, columns=["run_id", "time", "commit", "cell", "metric", "unit",
                                        "median", "contended", "health"])
    if not frame.empty:
        # a start time that is no time (a hand-edited run.json) is left out of the charts
        frame["time"] = pd.to_datetime(frame["time"], errors="coerce", utc=True)
    return frame


def _levels(frame: pd.DataFrame) -> tuple[list[TrendStep], list[Band]]:
    """Steps of each (cell, metric) series of clean runs, and its current level's band."""
    steps, bands = [], []
    if frame.empty:
        return steps, bands
    usable = frame[~frame["contended"].astype(bool)].dropna(subset=["median", "time"])
    for (cell, metric), part in usable.sort_values(["time", "run_id"]).groupby(
            ["cell", "metric"], sort=True):
        part = part.drop_duplicates("run_id")
        values = [float(v) for v in part["median"]]
        if len(values) < MIN_POINTS:
            continue
        parts = segments(values)
        for before, after in zip(parts, parts[1:], strict=False):
            first = part.iloc[after.start]
            change = (after.level - before.level) / abs(before.level) if before.level else 0.0
            steps.append(TrendStep(cell, metric, first["run_id"], first["time"], change))
        last = next((s for s in reversed(parts) if s.size >= MIN_POINTS), None)
        if last is not None and last.stop == len(values):
            sd = robust_sd(values[last.start:last.stop])
            if sd > 0:
                bands.append(Band(cell, metric, last.level, sd, part["time"].iloc[last.start],
                                  part["time"].iloc[-1]))
    return steps, bands


def _regressed(runs: list[tuple[StoredRun, list[CellResult]]], baseline: str | None,
               profiles_dir: Path | None) -> set[tuple[str, str, str]]:
    base = next((cells for run, cells in runs if run.run_id == baseline), None)
    out = set()
    for i, (run, cells) in enumerate(runs):
        if run.run_id == baseline or not cells:
            continue
        plan = run.manifest.get("plan_name")
        history = [c for r, c in runs[:i] if r.manifest.get("plan_name") == plan
                   and any(clean(x) for x in c)][-HISTORY:]
        config = RegressionConfig.model_validate(run.manifest.get("regression") or {})
        noise = noise_floor(profiles_dir, run.profile_id or "", plan, run.manifest)
        try:
            comparison, _, _ = judge_cells(cells, history, base, config, noise)
        except UsageError:  # a run of another suite shares no cell with the baseline
            continue
        out |= {(run.run_id, r.cell, r.metric) for r in comparison.rows
                if r.verdict == "regressed"}
    return out
