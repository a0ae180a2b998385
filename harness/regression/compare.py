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

When both sides measured a metric in two or more worker processes (`processes: N`, each
sample's `process` stored), the unit of evidence is the process, not the sample: samples
of one process share its drift, so pooling them understates how far two runs differ. The
verdict then comes from the per-process values of the threshold's statistic: a Welch t
interval and test of the difference of their mean logarithms (of their means, for an
absolute threshold), turned back into a relative change.

A cell whose timed part was contended (CellResult.health) on either side is no evidence of
a speed change: its speed and latency rows are inconclusive, with a warning; its quality,
memory and size rows are judged as usual. `auto` thresholds resolve from the noise floor
stored for the candidate's profile (harness.regression.noise), which also gives each
sampled row its minimum detectable effect (`mde`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np

from harness.errors import UsageError
from harness.regression.noise import SAMPLED_KINDS, NoiseFloor, minimum_detectable_effect
from harness.results.identity import label, match_key
from harness.results.identity import metric_label as _metric_label
from harness.schema import CellResult, MetricRecord
from harness.stats import (
    bootstrap_change_interval,
    change,
    mann_whitney_p,
    stderr_change_interval,
    student_t,
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
    mde: float | None = None
    """Minimum detectable effect (a fraction) of one run against one run at the chosen
    false-alarm rate and 90 % power, from the stored noise floor; None without one."""

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
    thresholds: list[str] = field(default_factory=list)
    """How `auto` thresholds were resolved, one line each (empty: none was auto)."""

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
                 config: RegressionConfig | None = None,
                 noise: NoiseFloor | None = None) -> Comparison:
    """Every matched cell's metrics compared; unmatched cells listed, never dropped.
    `noise`: the stored noise floor `auto` thresholds and the MDE column come from (None:
    none; `auto` then falls back to the declared thresholds, with a warning)."""
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
    noise = noise or NoiseFloor(result.candidate_profile)
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
        compare_cells(result, base_cells[key], cand_cells[key], config, noise)
    return result


def compare_cells(result: Comparison, base: CellResult, cand: CellResult,
                  config: RegressionConfig, noise: NoiseFloor,
                  sides: tuple[str, str] = ("baseline", "candidate"),
                  judge=None) -> None:
    """Add one matched pair of cells to `result`: a row per judged metric, or the failure.
    `sides` name the two runs in messages; `judge(cell, base, cand, judgement, confidence)`
    gives a sampled row (default: `compare_metric`)."""
    if cand.status != "ok":
        if base.status == "ok":
            result.newly_failed.append(f"{label(cand)}: {cand.error}")
        return
    if base.status != "ok":
        result.warnings.append(f"{label(base)} failed in {_the(sides[0])}; nothing to "
                               "compare")
        return
    contended = contention(base, cand, sides)
    if contended:
        result.warnings.append(f"contended: {label(base)} in {contended}: its speed and "
                               "latency rows are inconclusive")
    cand_metrics = {metric_label(m): m for m in cand.metrics}
    for metric in base.metrics:
        other = cand_metrics.get(metric_label(metric))
        if other is None:
            result.warnings.append(f"{label(base)}: {metric_label(metric)} is missing "
                                   f"from {_the(sides[1])}")
            continue
        cv = noise.cv(label(base), metric_label(metric))
        judgement = _judgement(config, base.suite, metric, cv)
        if judgement is None:  # a count: descriptive, never judged
            continue
        if judge is None or judgement.point:
            row = compare_metric(label(base), metric, other, judgement.threshold,
                                 judgement.point, config.confidence)
        else:
            row = judge(label(base), metric, other, judgement, config.confidence)
        _annotate(result, row, judgement, metric.kind, cv, config, noise, contended)
        result.rows.append(row)


def _annotate(result: Comparison, row: MetricComparison, judgement: Judgement, kind: str,
              cv: float | None, config: RegressionConfig, noise: NoiseFloor,
              contended: str | None) -> None:
    """The row's MDE, the contended override, and how an `auto` threshold resolved."""
    sampled = kind in SAMPLED_KINDS and not judgement.point
    if sampled and cv is not None:
        row.mde = minimum_detectable_effect(cv, config.false_alarm)
    if sampled and contended:
        row.verdict, row.method = "inconclusive", f"contended: {contended}"
    if judgement.auto is None:
        return
    if judgement.missing_floor:
        result.warnings.append(noise.missing(row.cell, row.metric, row.threshold))
        result.thresholds.append(f"{row.cell} {row.metric}: {judgement.auto} -> "
                                 f"{row.threshold} (no noise floor: declared threshold)")
    else:
        result.thresholds.append(f"{row.cell} {row.metric}: {judgement.auto} -> "
                                 f"{row.threshold} (noise floor cv {cv * 100:.2g} % on "
                                 f"{noise.profile_id})")


def contention(base: CellResult, cand: CellResult,
               sides: tuple[str, str] = ("baseline", "candidate")) -> str | None:
    """'<side> (<reasons>)' when either side's timed part was contended (None: neither)."""
    hit = [(name, cell.health) for name, cell in zip(sides, (base, cand), strict=True)
           if cell.contended]
    if not hit:
        return None
    side = hit[0][0] if len(hit) == 1 else f"{sides[0]} and {sides[1]}"
    # a cell of N processes has a reason per contended process: the first says what
    reasons = list(dict.fromkeys(str(r) for _, health in hit
                                 for r in health.get("reasons") or []))
    more = f"; {len(reasons) - 1} more" if len(reasons) > 1 else ""
    return f"{side} ({reasons[0] if reasons else 'the machine was busy'}{more})"


def _the(side: str) -> str:
    # "the baseline", but "A" for ab's sides
    return f"the {side}" if side.islower() else side


def _judgement(config: RegressionConfig, suite: str, metric: MetricRecord,
               cv: float | None = None) -> Judgement | None:
    """How `metric` is judged: its stored kind, its suite's declared threshold, the file's
    overrides, its noise floor (for `auto`)."""
    spec = declared_spec(suite, metric.name)
    return config.for_metric(metric.name, metric.kind, spec.threshold if spec else None, cv)


def compare_metric(cell: str, base: MetricRecord, cand: MetricRecord, threshold: Threshold,
                   point: bool, confidence: float = 0.95) -> MetricComparison:
    """One metric's verdict: on the value for `point` metrics (quality, memory, size), on
    the samples otherwise (a sampled metric with one sample a side: untestable)."""
    stat = getattr(np, threshold.field)
    b = np.asarray(base.samples, dtype=float)
    c = np.asarray(cand.samples, dtype=float)
    delta = change(stat(b), stat(c), threshold.relative)
    per_process = None if point else process_change(base, cand, threshold, confidence)
    if per_process is not None:
        return process_row(cell, base, threshold, per_process)
    if point or min(b.size, c.size) < 2:
        verdict = verdict_of(base.higher_is_better, delta, threshold)
        scale = (base.samples[0] if base.samples else 0.0) if threshold.relative else None
        ci = stderr_change_interval(delta, base.stderr, cand.stderr, scale, confidence)
        p_value, method = None, "point"
        if not point:
            method = "point (one sample: untestable)"
            verdict = "unchanged" if verdict == "unchanged" else "inconclusive"
    else:
        ci = bootstrap_change_interval(b, c, stat, threshold.relative, confidence, _RESAMPLES)
        p_value = mann_whitney_p(b, c)
        verdict = verdict_of(base.higher_is_better, delta, threshold, ci,
                           p_value < 1 - confidence)
        method = f"bootstrap {threshold.field} + Mann-Whitney U"
    return MetricComparison(
        cell=cell, metric=metric_label(base), unit=base.unit,
        higher_is_better=base.higher_is_better, threshold=threshold.text,
        base=float(stat(b)), cand=float(stat(c)), change=delta, relative=threshold.relative,
        ci_low=None if ci is None else ci[0], ci_high=None if ci is None else ci[1],
        p_value=p_value, method=method, verdict=verdict, n_base=int(b.size), n_cand=int(c.size),
    )


def verdict_of(higher_is_better: bool, delta: float, threshold: Threshold,
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


@dataclass(frozen=True)
class ProcessChange:
    """A change estimated from per-process values of the threshold's statistic."""

    base: float
    cand: float
    """Each side's level: the geometric mean of its per-process values (the mean, for an
    absolute threshold), so that `change` is exactly cand vs base."""
    change: float
    ci: tuple[float, float]
    p_value: float
    significant: bool
    method: str
    n_base: int
    n_cand: int


def process_values(metric: MetricRecord, stat) -> list[float] | None:
    """`stat` of each process's samples, in process order (None below two processes)."""
    if not metric.process or len(set(metric.process)) < 2:
        return None
    from harness.stats import per_process

    return [float(stat(np.asarray(g, dtype=float))) for g in
            per_process(metric.samples, metric.process) if g]


def process_change(base: MetricRecord, cand: MetricRecord, threshold: Threshold,
                   confidence: float = 0.95) -> ProcessChange | None:
    """Welch's t over per-process values of both sides (logs, for a relative threshold);
    None unless both sides have two or more processes (and positive values, for logs)."""
    stat = getattr(np, threshold.field)
    b, c = process_values(base, stat), process_values(cand, stat)
    if b is None or c is None or len(b) < 2 or len(c) < 2:
        return None
    tb, tc = np.asarray(b), np.asarray(c)
    if threshold.relative:
        if min(tb.min(), tc.min()) <= 0 or not np.isfinite([*tb, *tc]).all():
            return None
        tb, tc = np.log(tb), np.log(tc)
    diff = float(tc.mean() - tb.mean())
    vb, vc = tb.var(ddof=1) / tb.size, tc.var(ddof=1) / tc.size
    se = math.sqrt(vb + vc)
    df = (vb + vc) ** 2 / (vb**2 / (tb.size - 1) + vc**2 / (tc.size - 1)) if se else 1
    lo, hi, p_value = t_interval(diff, se, df, confidence)
    back, level = scales(threshold.relative)
    return ProcessChange(
        level(tb), level(tc), back(diff), (back(lo), back(hi)), p_value,
        p_value < 1 - confidence, f"Welch t over per-process {threshold.field}s "
        f"({tb.size} vs {tc.size} processes)", tb.size, tc.size)


def t_interval(diff: float, se: float, df: float, confidence: float
               ) -> tuple[float, float, float]:
    """(low, high, two-sided p) of a difference with standard error `se` (Student t)."""
    if se == 0:
        return diff, diff, 1.0 if diff == 0 else 0.0
    from scipy.stats import t

    half = student_t(confidence, df) * se
    return diff - half, diff + half, float(2 * t.sf(abs(diff) / se, df))


def scales(relative: bool):
    """(a difference of logs -> a relative change, values -> their level) for a relative
    threshold, whose tests run on logs; identity and the mean for an absolute one."""
    if relative:
        return (lambda x: math.exp(x) - 1), (lambda x: math.exp(x.mean()))
    return (lambda x: x), (lambda x: x.mean())


def process_row(cell: str, base: MetricRecord, threshold: Threshold,
         found: ProcessChange) -> MetricComparison:
    verdict = verdict_of(base.higher_is_better, found.change, threshold, found.ci,
                       found.significant)
    return MetricComparison(
        cell=cell, metric=metric_label(base), unit=base.unit,
        higher_is_better=base.higher_is_better, threshold=threshold.text, base=found.base,
        cand=found.cand, change=found.change, relative=threshold.relative,
        ci_low=found.ci[0], ci_high=found.ci[1], p_value=found.p_value,
        method=found.method, verdict=verdict, n_base=found.n_base, n_cand=found.n_cand)


def _latest_by_key(cells: list[CellResult], as_requested: bool) -> dict[str, CellResult]:
    """One result per cell (a resumed run may hold a failed try and a later success)."""
    out: dict[str, CellResult] = {}
    for cell in cells:
        key = match_key(cell, as_requested)
        if key not in out or cell.status == "ok":
            out[key] = cell
    return out
