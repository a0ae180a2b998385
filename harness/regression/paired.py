"""A/B on one machine: two plans' cells run interleaved, judged pair by pair of processes.

`harness ab` runs plan A's and plan B's cells round-robin in one job (harness.runner:
round r runs A1 B1 A2 B2 ..., the order within a pair alternating), so process i of an A
cell and process i of its B cell ran side by side, under the same drift of the machine.
That drift cancels in the ratio of the two: for each process index i,
r_i = log(stat(B_i) / stat(A_i)), stat being the threshold's statistic (median) over that
process's samples. The change is exp(mean r) - 1, with the Student-t interval of the mean
(df = N - 1) turned back the same way; it is significant when that interval excludes no
change. Verdicts follow `harness.regression.compare.verdict_of`, and a contended cell on
either side has inconclusive speed and latency rows, as in `compare`.
"""

from __future__ import annotations

import math

import numpy as np

from harness.errors import UsageError
from harness.regression.compare import (
    Comparison,
    MetricComparison,
    ProcessChange,
    compare_cells,
    compare_metric,
    process_row,
    process_values,
    scales,
    t_interval,
)
from harness.regression.noise import NoiseFloor
from harness.schema import CellResult, MetricRecord
from harness.thresholds import Judgement, RegressionConfig, Threshold

SIDES = ("A", "B")


def paired_change(a_values: list[float], b_values: list[float], threshold: Threshold,
                  confidence: float = 0.95) -> ProcessChange | None:
    """The paired change of B against A from per-process values paired by index (log
    ratios for a relative threshold, differences for an absolute one); None below two
    pairs, or with a value a log cannot take."""
    n = min(len(a_values), len(b_values))
    a, b = np.asarray(a_values[:n], dtype=float), np.asarray(b_values[:n], dtype=float)
    if n < 2 or not np.isfinite([*a, *b]).all():
        return None
    if threshold.relative:
        if min(a.min(), b.min()) <= 0:
            return None
        a, b = np.log(a), np.log(b)
    diffs = b - a
    mean = float(diffs.mean())
    lo, hi, p_value = t_interval(mean, float(diffs.std(ddof=1)) / math.sqrt(n), n - 1,
                                 confidence)
    back, level = scales(threshold.relative)
    return ProcessChange(level(a), level(b), back(mean), (back(lo), back(hi)), p_value,
                         lo > 0 or hi < 0, f"paired t over {n} processes' "
                         f"{threshold.field}s (B/A of each)", n, n)


def judge_paired(cell: str, a: MetricRecord, b: MetricRecord, judgement: Judgement,
                 confidence: float) -> MetricComparison:
    """One sampled metric of a cell pair: paired over processes where both sides have
    them, else `compare_metric`'s unpaired verdict (a plan run with one process)."""
    threshold = judgement.threshold
    stat = getattr(np, threshold.field)
    a_values, b_values = process_values(a, stat), process_values(b, stat)
    if a_values is not None and b_values is not None and len(a_values) == len(b_values):
        found = paired_change(a_values, b_values, threshold, confidence)
        if found is not None:
            return process_row(cell, a, threshold, found)
    return compare_metric(cell, a, b, threshold, False, confidence)


def compare_paired(a_cells: list[CellResult], b_cells: list[CellResult],
                   config: RegressionConfig | None = None,
                   noise: NoiseFloor | None = None) -> Comparison:
    """A's and B's cells, paired by position (the order of their plans' matrices), each
    pair judged as `compare` judges a matched pair, sampled metrics paired by process."""
    config = config or RegressionConfig()
    if len(a_cells) != len(b_cells) or not a_cells:
        raise UsageError(f"A has {len(a_cells)} cells and B {len(b_cells)}; fix: give two "
                         "suite files with the same number of cells (ab pairs them by "
                         "position)")
    result = Comparison(a_cells[0].run_id, b_cells[0].run_id, a_cells[0].profile_id,
                        b_cells[0].profile_id)
    noise = noise or NoiseFloor(result.baseline_profile)
    for a, b in zip(a_cells, b_cells, strict=True):
        compare_cells(result, a, b, config, noise, SIDES, judge_paired)
    return result
