"""Compare two stored runs cell by cell and metric by metric, with a verdict for each.

Cells match on everything that makes a result comparable (model sha256, format, backend
and its version and settings, suite and its parameters, seed); the hardware profile is
not part of the match, so two machines can be compared, with a loud warning.

Sampled metrics (tokens/s, latencies: several samples a side) get a bootstrap confidence
interval of the change of the threshold's statistic (ratio for `N%`, difference for an
absolute threshold) and a two-sided Mann-Whitney U test:
- regressed: worse than the threshold, the whole interval on the worse side of no change,
  and p < 1 - confidence; improved is the mirror image;
- unchanged: the whole interval within the threshold;
- inconclusive: anything else (too few or too noisy samples to tell).
Quality metrics and byte counts are deterministic for a given engine and input, so their
verdict comes from the change itself against the tolerance; the interval shown for them
is from the stored standard errors, for context. A one-sample speed metric cannot be
tested: beyond its threshold it is inconclusive, never regressed.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from harness.errors import UsageError
from harness.regression.thresholds import RegressionConfig, Threshold
from harness.schema import CellResult, MetricRecord

Verdict = Literal["improved", "unchanged", "regressed", "inconclusive"]
POINT_UNITS = {"bytes"}
"""Units of metrics measured once and stable between identical runs (memory, file size)."""
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


def match_key(cell: CellResult) -> str:
    """What must be equal for two results to be compared (the cell key minus the profile)."""
    payload = {"model": cell.model, "model_sha256": cell.model_sha256, "format": cell.format,
               "backend": cell.backend, "backend_version": cell.backend_version,
               "backend_config": cell.backend_config, "suite": cell.suite,
               "suite_params": cell.suite_params, "seed": cell.seed}
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def label(cell: CellResult) -> str:
    return f"{cell.model} {cell.format} {cell.backend} {cell.suite}"


def metric_label(metric: MetricRecord) -> str:
    if not metric.tags:
        return metric.name
    return f"{metric.name} [{', '.join(f'{k}={v}' for k, v in sorted(metric.tags.items()))}]"


def compare_runs(baseline: list[CellResult], candidate: list[CellResult],
                 config: RegressionConfig | None = None) -> Comparison:
    """Every matched cell's metrics compared; unmatched cells listed, never dropped."""
    config = config or RegressionConfig()
    if not baseline or not candidate:
        empty = "baseline" if not baseline else "candidate"
        raise UsageError(f"the {empty} run has no stored cells; fix: compare runs that "
                         "finished at least one cell")
    base_cells = _latest_by_key(baseline)
    cand_cells = _latest_by_key(candidate)
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
            threshold, quality = config.for_metric(metric.name)
            result.rows.append(compare_metric(label(base), metric, other, threshold, quality,
                                              config.confidence))
    return result


def compare_metric(cell: str, base: MetricRecord, cand: MetricRecord, threshold: Threshold,
                   quality: bool, confidence: float = 0.95) -> MetricComparison:
    sign = 1.0 if base.higher_is_better else -1.0
    limit = threshold.value / 100 if threshold.relative else threshold.value
    b = np.asarray(base.samples, dtype=float)
    c = np.asarray(cand.samples, dtype=float)
    stat = getattr(np, threshold.field)
    change = _change(stat(b), stat(c), threshold.relative)
    p_value = None
    if quality or base.unit in POINT_UNITS or min(b.size, c.size) < 2:
        ci = _stderr_interval(base, cand, change, threshold.relative, confidence)
        good = sign * change
        if good < -limit:
            verdict = "regressed"
        elif good > limit:
            verdict = "improved"
        else:
            verdict = "unchanged"
        method = "point"
        if not (quality or base.unit in POINT_UNITS):
            method = "point (one sample: untestable)"
            verdict = "unchanged" if verdict == "unchanged" else "inconclusive"
    else:
        ci = _bootstrap_interval(b, c, stat, threshold.relative, confidence)
        p_value = _mann_whitney(b, c)
        lo, hi = sorted((sign * ci[0], sign * ci[1]))
        good = sign * change
        significant = p_value < 1 - confidence
        if good < -limit and hi < 0 and significant:
            verdict = "regressed"
        elif good > limit and lo > 0 and significant:
            verdict = "improved"
        elif -limit <= lo and hi <= limit:
            verdict = "unchanged"
        else:
            verdict = "inconclusive"
        method = f"bootstrap {threshold.field} + Mann-Whitney U"
    return MetricComparison(
        cell=cell, metric=metric_label(base), unit=base.unit,
        higher_is_better=base.higher_is_better, threshold=threshold.text,
        base=float(stat(b)), cand=float(stat(c)), change=change, relative=threshold.relative,
        ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
        p_value=p_value, method=method, verdict=verdict, n_base=int(b.size), n_cand=int(c.size),
    )


def _change(base: float, cand: float, relative: bool) -> float:
    if not relative:
        return float(cand - base)
    if base == 0:
        return 0.0 if cand == 0 else math.copysign(math.inf, cand)
    return float(cand / base - 1)


def _bootstrap_interval(b: np.ndarray, c: np.ndarray, stat, relative: bool,
                        confidence: float) -> tuple[float, float]:
    if np.ptp(b) == 0 and np.ptp(c) == 0:
        point = _change(stat(b), stat(c), relative)
        return point, point
    from scipy.stats import bootstrap

    def statistic(x, y, axis=-1):
        sx, sy = stat(x, axis=axis), stat(y, axis=axis)
        return sy / sx - 1 if relative else sy - sx

    res = bootstrap((b, c), statistic, n_resamples=_RESAMPLES, confidence_level=confidence,
                    method="percentile", vectorized=True, rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mann_whitney(b: np.ndarray, c: np.ndarray) -> float:
    from scipy.stats import mannwhitneyu

    if np.ptp(np.concatenate([b, c])) == 0:
        return 1.0
    return float(mannwhitneyu(b, c, alternative="two-sided").pvalue)


def _stderr_interval(base: MetricRecord, cand: MetricRecord, change: float, relative: bool,
                     confidence: float) -> tuple[float, float] | None:
    if base.stderr is None or cand.stderr is None:
        return None
    from scipy.stats import norm

    half = float(norm.ppf((1 + confidence) / 2)) * math.hypot(base.stderr, cand.stderr)
    if relative:
        scale = base.samples[0] if base.samples and base.samples[0] else None
        if scale is None:
            return None
        half /= abs(scale)
    return change - half, change + half


def _latest_by_key(cells: list[CellResult]) -> dict[str, CellResult]:
    """One result per cell (a resumed run may hold a failed try and a later success)."""
    out: dict[str, CellResult] = {}
    for cell in cells:
        key = match_key(cell)
        if key not in out or cell.status == "ok":
            out[key] = cell
    return out
