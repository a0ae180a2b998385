"""Compare two stored runs cell by cell and metric by metric, with a verdict for each.

Cells match on their match key (harness.results.identity: model sha256, format, backend
and its version, its settings as requested, suite and its parameters, seed); the hardware
profile is not part of it and `threads: auto` matches `auto`, so the same suite file run
on two machines can be compared, with a loud DIFFERENT HARDWARE warning.

Sampled metrics (tokens/s, latencies: several samples a side) get a bootstrap confidence
interval of the change of the threshold's statistic (ratio for `N%`, difference for an
absolute threshold) and a two-sided Mann-Whitney U test:
- regressed: worse than the threshold, the whole interval on the worse side of no change,
  and p < 1 - confidence; improved is the mirror image;
- unchanged: the whole interval within the threshold;
- inconclusive: anything else (too few or too noisy samples to tell).
Quality, memory and size metrics (by the kind stored with each record) are deterministic
for a given engine and input, so their verdict comes from the change itself against the
tolerance; the interval shown for them is from the stored standard errors, for context.
A one-sample speed metric cannot be tested: beyond its threshold it is inconclusive, never
regressed. Counts are descriptive and get no row. The statistics are harness.stats'.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from harness.errors import UsageError
from harness.results.identity import label, match_key
from harness.results.identity import metric_label as _metric_label
from harness.schema import CellResult, MetricRecord
from harness.stats import (
    bootstrap_change_interval,
    change,
    mann_whitney_p,
    stderr_change_interval,
)
from harness.suites.metrics import declared_spec
from harness.thresholds import Judgement, RegressionConfig, Threshold

Verdict = Literal["improved", "unchanged", "regressed", "inconclusive"]
_RESAMPLES = 2000


@dataclass
class MetricComparison:
    cell: str
    metric: str
    unit: str
    higher_is_better: bool
    threshold: str
    base: float
    cand: float
    change: float
    """cand vs base in the threshold's terms: a fraction (0.05 = +5 %) or a difference."""
    relative: bool
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    method: str
    verdict: Verdict
    n_base: int = 0
    n_cand: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Comparison:
    baseline_run: str
    candidate_run: str
    baseline_profile: str
    candidate_profile: str
    rows: list[MetricComparison] = field(default_factory=list)
    only_baseline: list[str] = field(default_factory=list)
    only_candidate: list[str] = field(default_factory=list)
    newly_failed: list[str] = field(default_factory=list)
    """Cells that succeeded in the baseline and failed in the candidate: regressions."""
    warnings: list[str] = field(default_factory=list)

    @property
    def regressed(self) -> bool:
        return bool(self.newly_failed) or any(r.verdict == "regressed" for r in self.rows)

    def counts(self) -> dict[str, int]:
        out = {v: 0 for v in ("regressed", "improved", "unchanged", "inconclusive")}
        for row in self.rows:
            out[row.verdict] += 1
        return out

    def to_dict(self) -> dict:
        data = asdict(self)
        data["regressed"] = self.regressed
        data["counts"] = self.counts()
        return data


def metric_label(metric: MetricRecord) -> str:
    return _metric_label(metric.name, metric.tags)


def compare_runs(baseline: list[CellResult], candidate: list[CellResult],
                 config: RegressionConfig | None = None) -> Comparison:
    """Every matched cell's metrics compared; unmatched cells listed, never dropped."""
    config = config or RegressionConfig()
    if not baseline or not candidate:
        empty = "baseline" if not baseline else "candidate"
        raise UsageError(f"the {empty} run has no stored cells; fix: compare runs that "
                         "finished at least one cell")
    # runs stored before schema 2 know only the resolved settings: match both on those
    as_requested = all(c.backend_request is not None for c in [*baseline, *candidate])
    base_cells = _latest_by_key(baseline, as_requested)
    cand_cells = _latest_by_key(candidate, as_requested)
    result = Comparison(baseline[0].run_id, candidate[0].run_id, baseline[0].profile_id,
                        candidate[0].profile_id)
    if result.baseline_profile != result.candidate_profile:
        result.warnings.append(
            f"DIFFERENT HARDWARE: baseline ran on {result.baseline_profile}, candidate on "
            f"{result.candidate_profile}; speed and memory changes may be the machine's")
    common = [k for k in base_cells if k in cand_cells]
    if not common:
        raise UsageError(f"runs {result.baseline_run} and {result.candidate_run} have no cell "
                         "in common (same model file, format, backend version, settings and "
                         "suite parameters); fix: compare two runs of the same suite file")
    result.only_baseline = sorted(label(base_cells[k]) for k in base_cells if k not in cand_cells)
    result.only_candidate = sorted(label(cand_cells[k]) for k in cand_cells
                                   if k not in base_cells)
    for key in common:
        base, cand = base_cells[key], cand_cells[key]
        if cand.status != "ok":
            if base.status == "ok":
                result.newly_failed.append(f"{label(cand)}: {cand.error}")
            continue
        if base.status != "ok":
            result.warnings.append(f"{label(base)} failed in the baseline; nothing to compare")
            continue
        cand_metrics = {metric_label(m): m for m in cand.metrics}
        for metric in base.metrics:
            other = cand_metrics.get(metric_label(metric))
            if other is None:
                result.warnings.append(f"{label(base)}: {metric_label(metric)} is missing "
                                       "from the candidate")
                continue
            judgement = _judgement(config, base.suite, metric)
            if judgement is not None:  # a count: descriptive, never judged
                result.rows.append(compare_metric(label(base), metric, other,
                                                  judgement.threshold, judgement.point,
                                                  config.confidence))
    return result


def _judgement(config: RegressionConfig, suite: str, metric: MetricRecord) -> Judgement | None:
    """How `metric` is judged: its stored kind, its suite's declared threshold, the file's
    overrides."""
    spec = declared_spec(suite, metric.name)
    return config.for_metric(metric.name, metric.kind, spec.threshold if spec else None)


def compare_metric(cell: str, base: MetricRecord, cand: MetricRecord, threshold: Threshold,
                   point: bool, confidence: float = 0.95) -> MetricComparison:
    """One metric's verdict: on the value for `point` metrics (quality, memory, size), on
    the samples otherwise (a sampled metric with one sample a side: untestable)."""
    stat = getattr(np, threshold.field)
    b = np.asarray(base.samples, dtype=float)
    c = np.asarray(cand.samples, dtype=float)
    delta = change(stat(b), stat(c), threshold.relative)
    if point or min(b.size, c.size) < 2:
        verdict = _verdict(base.higher_is_better, delta, threshold)
        scale = (base.samples[0] if base.samples else 0.0) if threshold.relative else None
        ci = stderr_change_interval(delta, base.stderr, cand.stderr, scale, confidence)
        p_value, method = None, "point"
        if not point:
            method = "point (one sample: untestable)"
            verdict = "unchanged" if verdict == "unchanged" else "inconclusive"
    else:
        ci = bootstrap_change_interval(b, c, stat, threshold.relative, confidence, _RESAMPLES)
        p_value = mann_whitney_p(b, c)
        verdict = _verdict(base.higher_is_better, delta, threshold, ci,
                           p_value < 1 - confidence)
        method = f"bootstrap {threshold.field} + Mann-Whitney U"
    return MetricComparison(
        cell=cell, metric=metric_label(base), unit=base.unit,
        higher_is_better=base.higher_is_better, threshold=threshold.text,
        base=float(stat(b)), cand=float(stat(c)), change=delta, relative=threshold.relative,
        ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
        p_value=p_value, method=method, verdict=verdict, n_base=int(b.size), n_cand=int(c.size),
    )


def _verdict(higher_is_better: bool, delta: float, threshold: Threshold,
             ci: tuple[float, float] | None = None, significant: bool = True) -> Verdict:
    """Beyond the threshold on the worse (better) side: regressed (improved). With an
    interval, that also needs the whole interval on that side of no change and a
    significant test; unchanged needs the whole interval within the threshold."""
    sign = 1.0 if higher_is_better else -1.0
    limit = threshold.value / 100 if threshold.relative else threshold.value
    good = sign * delta
    lo, hi = sorted((sign * ci[0], sign * ci[1])) if ci is not None else (good, good)
    if good < -limit and hi < 0 and significant:
        return "regressed"
    if good > limit and lo > 0 and significant:
        return "improved"
    if -limit <= lo and hi <= limit:
        return "unchanged"
    return "inconclusive"


def _latest_by_key(cells: list[CellResult], as_requested: bool) -> dict[str, CellResult]:
    """One result per cell (a resumed run may hold a failed try and a later success)."""
    out: dict[str, CellResult] = {}
    for cell in cells:
        key = match_key(cell, as_requested)
        if key not in out or cell.status == "ok":
            out[key] = cell
    return out
