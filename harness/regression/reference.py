"""A nightly judged against a pinned reference install run beside it, in lockstep.

On a shared VM the host's speed moves by tens of percent between minutes, so a night's
absolute tokens/s, judged against earlier nights, cannot show a 10-20 % regression. A
reference (the suite's `regression.reference.python`: the interpreter of a pinned install
of the engines, kept as it was) runs the plan's timed cells in the same job, process i of
the reference beside process i of the night in lockstep (harness.runner.turns), as
`harness ab` does; their ratio cancels the host's drift.

For each speed or latency metric of a clean cell pair, the night's ratio is
exp(mean_i log(night_i / reference_i)) over the N process pairs (each the threshold's
statistic, the median, of that process's samples), with standard error se (of the mean
log ratio). Earlier nights' ratios (from clean pairs, as the manifest's `reference_run`
links them) form its history: steps split it (harness.regression.steps) and the level of
the last segment of at least MIN_POINTS nights is the ratio expected tonight, so a change
the team accepted becomes the reference after MIN_POINTS nights; with less history the
expected ratio is 1 (the night's engines as fast as the reference's). The change is
ratio / level - 1, its interval t(confidence, N - 1) * sqrt(se^2 + sd^2 / n) in logs (sd:
the segment's robust spread, n its nights). An `auto` threshold resolves against the noise
of a night's ratio: max(se, sd), the spread another night's ratio would have.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
from pydantic import ValidationError

from harness.config import Plan
from harness.errors import ConfigError
from harness.registry import registry
from harness.regression.compare import process_values, verdict_of
from harness.regression.history import MIN_POINTS, SAMPLED, HistoryRow, clean
from harness.regression.steps import Step, noise_of, robust_sd, segments
from harness.results.identity import label, metric_label
from harness.schema import CellResult, MetricRecord
from harness.suites.metrics import declared_spec
from harness.thresholds import Reference, RegressionConfig

SUFFIX = "-reference"
"""Appended to the plan's name for the reference's stored runs."""


def reference_plans(plan: Plan, reference: Reference, where: str) -> tuple[Plan, Plan]:
    """(the reference's plan, the night's part run beside it): the reference's suites
    (default: every timed suite), the reference's with every backend's worker run by its
    python (`where`: the file or option that named it, for errors)."""
    suites = registry("suites")
    names = reference.suites or [n for n in plan.suites if suites.get(n).timed()]
    unknown = next((n for n in names if n not in plan.suites), None)
    if unknown is not None or not names:
        problem = (f"suite '{unknown}' is not in the plan" if unknown else
                   "the plan has no timed suite to run beside a reference")
        raise ConfigError(plan.file, "regression.reference.suites", problem,
                          f"name suites of the plan ({', '.join(plan.suites)})")
    part = dataclasses.replace(plan, suites={n: plan.suites[n] for n in names})
    python = reference.python
    if "/" in python and not Path(python).expanduser().is_absolute():
        python = str(Path(plan.file).parent / python)  # like a backend's python: setting
    backends, requests = {}, {}
    for name, config in plan.backends.items():
        values = {**config.model_dump(), "python": python}
        try:
            backends[name] = type(config).model_validate(values)
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            problem = message.split("; fix:")[0]
            raise ConfigError(where, "regression.reference.python", problem,
                              "give the interpreter of the pinned install (its bin/python) "
                              "or an executable wrapper script") from None
        requests[name] = {**plan.backend_requests.get(name, {}),
                          "python": backends[name].python}
    ref = dataclasses.replace(part, name=plan.name + SUFFIX, backends=backends,
                              backend_requests=requests)
    return ref, part


def pair_cells(night: list[CellResult], reference: list[CellResult]
               ) -> list[tuple[CellResult, CellResult]]:
    """(night cell, reference cell) for every timed cell the two runs share: they differ
    only in the worker's interpreter, so they match on the label."""
    by_label = {label(c): c for c in reference}
    return [(c, by_label[label(c)]) for c in night if label(c) in by_label]


def log_ratios(night: MetricRecord, reference: MetricRecord, field: str) -> list[float]:
    """log(night_i / reference_i) over the process pairs (empty: fewer than two, or a
    value a log cannot take)."""
    stat = getattr(np, field)
    a, b = process_values(reference, stat), process_values(night, stat)
    if a is None or b is None or len(a) != len(b):
        return []
    if min(*a, *b) <= 0 or not np.isfinite([*a, *b]).all():
        return []
    return [math.log(y / x) for x, y in zip(a, b, strict=True)]


@dataclasses.dataclass(frozen=True)
class Night:
    run_id: str
    pairs: list[tuple[CellResult, CellResult]]


def judge_against_reference(tonight: Night, earlier: list[Night], config: RegressionConfig
                            ) -> list[HistoryRow]:
    """A row per speed and latency metric of each clean cell pair of tonight."""
    rows = []
    for cell, ref in tonight.pairs:
        if not (clean(cell) and clean(ref)):
            continue  # contended or failed: compare's rows say inconclusive or failed
        refs = {metric_label(m.name, m.tags): m for m in ref.metrics}
        for metric in cell.metrics:
            name = metric_label(metric.name, metric.tags)
            if metric.kind not in SAMPLED or name not in refs:
                continue
            history = _history(cell, name, earlier, config, metric)
            row = _judge(cell, metric, refs[name], history, config)
            if row is not None:
                rows.append(row)
    return rows


def _history(cell: CellResult, name: str, earlier: list[Night], config: RegressionConfig,
             metric: MetricRecord) -> list[tuple[str, float]]:
    """(run, ratio) of the earlier nights' clean pairs of this cell and metric."""
    judgement = _judgement(config, cell.suite, metric, None)
    if judgement is None:
        return []
    out = []
    for night in earlier:
        for c, r in night.pairs:
            if label(c) != label(cell) or not (clean(c) and clean(r)):
                continue
            found = {metric_label(m.name, m.tags): m for m in c.metrics}.get(name)
            ref = {metric_label(m.name, m.tags): m for m in r.metrics}.get(name)
            logs = log_ratios(found, ref, judgement.threshold.field) if found and ref else []
            if logs:
                out.append((night.run_id, math.exp(float(np.mean(logs)))))
    return out


def _judgement(config: RegressionConfig, suite: str, metric: MetricRecord,
               cv: float | None):
    spec = declared_spec(suite, metric.name)
    judgement = config.for_metric(metric.name, metric.kind, spec.threshold if spec else None,
                                  cv)
    if judgement is None or judgement.point or not judgement.threshold.relative:
        return None  # a written-out absolute threshold: the history and baseline judge it
    return judgement


def _judge(cell: CellResult, metric: MetricRecord, ref: MetricRecord,
           history: list[tuple[str, float]], config: RegressionConfig) -> HistoryRow | None:
    first = _judgement(config, cell.suite, metric, None)
    logs = log_ratios(metric, ref, first.threshold.field) if first else []
    if len(logs) < 2:
        return None
    n_proc = len(logs)
    mean = float(np.mean(logs))
    se = float(np.std(logs, ddof=1)) / math.sqrt(n_proc)
    values = [v for _, v in history]
    level, n, sd, steps = 1.0, 0, 0.0, []
    if len(values) >= MIN_POINTS:
        parts = segments(values, noise_of(values))
        last = next((s for s in reversed(parts) if s.size >= MIN_POINTS), None)
        if last is not None:
            level, n = last.level, last.size
            sd = robust_sd(values[last.start:last.stop]) / level
        steps = [Step(b.start, a.level, b.level) for a, b in zip(parts, parts[1:], strict=False)]
    judgement = _judgement(config, cell.suite, metric, max(se, sd))
    if judgement is None:
        return None
    from scipy.stats import t

    half = float(t.ppf(0.5 + config.confidence / 2, n_proc - 1)) * math.sqrt(
        se ** 2 + (sd ** 2 / n if n else 0.0))
    shift = mean - math.log(level)
    change = math.exp(shift) - 1
    interval = (math.exp(shift - half) - 1, math.exp(shift + half) - 1)
    verdict = verdict_of(metric.higher_is_better, change, judgement.threshold, interval)
    return HistoryRow(
        cell=label(cell), metric=metric_label(metric.name, metric.tags), unit="ratio",
        higher_is_better=metric.higher_is_better, threshold=judgement.threshold.text,
        relative=True, runs=[run for run, _ in history], values=values, steps=steps,
        level=level, segment=n, sd=sd, night=math.exp(mean), change=change,
        half=(interval[1] - interval[0]) / 2, verdict=verdict, floor_cv=max(se, sd),
        against="reference")
