"""A metric's recent history on this machine, and a night judged against it.

For one speed or latency metric of one cell (matched across runs by its match key, as
`compare` matches cells), the history is the per-run value of the threshold's statistic
(the median, usually) over the recent clean runs of the same plan on the same profile:
failed cells and cells whose timed part was contended (CellResult.health) are left out, so
a busy or broken night never becomes the level others are judged against.

Steps (harness.regression.steps) split the history into levels. The reference is the level
of the last segment holding at least MIN_POINTS nights: a step becomes the reference once
it has held that long, so a deliberate change is accepted by living with it for three
nights, while one wild night (a segment of its own) never becomes the reference. The night
is judged against that level with compare's verdict rules, the interval being
change +- t(1 - false_alarm, n - 1) * sd * sqrt(1 + 1/n): where one more night of that
segment would fall (n its nights; Student's t rather than z, because the sd comes from a
few nights). sd is the larger of the calibrated noise floor (cv times the level,
harness.regression.noise) and the segment's robust spread.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from harness.regression.compare import MetricComparison, verdict_of
from harness.regression.steps import Step, noise_of, robust_sd, segments
from harness.results.identity import label, match_key, metric_label
from harness.schema import CellResult, MetricRecord
from harness.thresholds import Threshold

HISTORY = 20
"""Runs of history a night is judged against (the most recent ones)."""
MIN_POINTS = 3
"""Clean nights a level needs before it is a reference (and a history before it is used)."""
SAMPLED = ("speed", "latency")
"""The kinds judged on samples, and so against history (the rest are judged on value)."""
Key = tuple[str, str]
"""(cell match key, metric label)."""


def clean(cell: CellResult) -> bool:
    """Whether a stored cell's timings may serve as history: ok and not contended."""
    return cell.status == "ok" and not cell.contended


def requested(*runs: list[CellResult]) -> bool:
    """Match on settings as requested unless some record predates them (as compare does)."""
    return all(c.backend_request is not None for cells in runs for c in cells)


@dataclass(frozen=True)
class Point:
    run_id: str
    metric: MetricRecord


def history_points(runs: list[list[CellResult]], as_requested: bool) -> dict[Key, list[Point]]:
    """Per (cell, metric): one point per run whose cell is clean, oldest run first."""
    out: dict[Key, list[Point]] = {}
    for cells in runs:
        seen: set[Key] = set()
        for cell in cells:
            if not clean(cell):
                continue
            key = match_key(cell, as_requested)
            for metric in cell.metrics:
                item = (key, metric_label(metric.name, metric.tags))
                if item not in seen:  # a resumed run's retried cell counts once
                    seen.add(item)
                    out.setdefault(item, []).append(Point(cell.run_id, metric))
    return out


@dataclass
class HistoryRow:
    """One metric of the night against the level of its recent history."""

    cell: str
    metric: str
    unit: str
    higher_is_better: bool
    threshold: str
    relative: bool
    runs: list[str]
    """The clean history runs, oldest first."""
    values: list[float]
    steps: list[Step]
    level: float
    segment: int
    """Nights in the reference segment (the last one of at least MIN_POINTS)."""
    sd: float
    night: float
    change: float
    """Night vs level: a fraction for a relative threshold, else a difference."""
    half: float
    """Half-width of the interval around `change`, in its terms."""
    verdict: str
    floor_cv: float | None = None
    mde: float | None = field(default=None)
    against: str = "history"
    """history (absolute values) or reference (ratios to the reference run beside the night,
    harness.regression.reference)."""

    @property
    def method(self) -> str:
        if self.against == "reference":
            level = (f"level of the last {self.segment} of {len(self.values)} clean nights"
                     if self.segment else f"1 ({len(self.values)} clean nights of history)")
            return (f"reference: ratio to the reference run beside it, vs the {level}; "
                    f"paired t, noise {(self.floor_cv or 0) * 100:.2g} %")
        steps = f", {len(self.steps)} step{'s' * (len(self.steps) != 1)}" if self.steps else ""
        floor = "" if self.floor_cv is None else f", floor cv {self.floor_cv * 100:.2g} %"
        return (f"history: level of the last {self.segment} of {len(self.values)} clean "
                f"runs{steps}; t prediction interval{floor}")

    def to_comparison(self) -> MetricComparison:
        return MetricComparison(
            cell=self.cell, metric=self.metric, unit=self.unit,
            higher_is_better=self.higher_is_better, threshold=self.threshold, base=self.level,
            cand=self.night, change=self.change, relative=self.relative,
            ci_low=self.change - self.half, ci_high=self.change + self.half, p_value=None,
            method=self.method, verdict=self.verdict, n_base=self.segment, n_cand=1,
            mde=self.mde)


def judge_metric(cell: CellResult, points: list[Point], night: MetricRecord,
                 threshold: Threshold, floor_cv: float | None,
                 false_alarm: float) -> HistoryRow | None:
    """The night's `night` metric against its history `points` (None: too little history
    for a reference, or a level a relative change cannot be taken from)."""
    stat: Callable = getattr(np, threshold.field)
    pairs = [(p.run_id, float(stat(np.asarray(p.metric.samples, dtype=float))))
             for p in points if p.metric.samples]
    pairs = [(run, v) for run, v in pairs if math.isfinite(v)]
    values = [v for _, v in pairs]
    tonight = float(stat(np.asarray(night.samples, dtype=float))) if night.samples else math.nan
    if len(values) < MIN_POINTS or not math.isfinite(tonight):
        return None
    typical = float(np.median(values))
    floor = floor_cv * abs(typical) if floor_cv is not None else 0.0
    parts = segments(values, max(floor, noise_of(values)))
    reference = next((s for s in reversed(parts) if s.size >= MIN_POINTS), None)
    if reference is None or (threshold.relative and reference.level <= 0):
        return None
    level, n = reference.level, reference.size
    sd = max(floor_cv * abs(level) if floor_cv is not None else 0.0,
             robust_sd(values[reference.start:reference.stop]))
    from scipy.stats import t

    spread = float(t.ppf(1 - false_alarm, n - 1)) * sd * math.sqrt(1 + 1 / n)
    if threshold.relative:
        delta, half = tonight / level - 1, spread / level
    else:
        delta, half = tonight - level, spread
    verdict = verdict_of(night.higher_is_better, delta, threshold, (delta - half, delta + half))
    steps = [Step(b.start, a.level, b.level) for a, b in zip(parts, parts[1:], strict=False)]
    return HistoryRow(
        cell=label(cell), metric=metric_label(night.name, night.tags), unit=night.unit,
        higher_is_better=night.higher_is_better, threshold=threshold.text,
        relative=threshold.relative, runs=[run for run, _ in pairs], values=values,
        steps=steps, level=level, segment=n, sd=sd, night=tonight, change=delta, half=half,
        verdict=verdict, floor_cv=floor_cv)
