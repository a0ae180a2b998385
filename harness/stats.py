"""The one place that turns samples into statistics."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps


def standard_error(values: Sequence[float]) -> float | None:
    """Standard error of the mean of per-item values (None below two items)."""
    arr = np.asarray(values, dtype=float)
    return float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else None


def binomial_standard_error(p: float, n: int) -> float:
    """Standard error of a proportion `p` measured on `n` items."""
    return math.sqrt(p * (1 - p) / n)


def summarize(samples: Sequence[float], confidence: float = 0.95,
              stderr: float | None = None) -> dict[str, float | None]:
    """n, median, mean, stdev (sample), min, max and a Student-t CI of the mean.

    A single-valued estimate with a known `stderr` gets a normal CI from it instead.
    A statistic that is undefined (no samples; a CI from one sample) is None.
    """
    arr = np.asarray([s for s in samples if s is not None and math.isfinite(s)], dtype=float)
    n = int(arr.size)
    if n == 0:
        return {"n": 0, "median": None, "mean": None, "stdev": None, "min": None, "max": None,
                "ci_low": None, "ci_high": None}
    mean = float(arr.mean())
    stdev = float(arr.std(ddof=1)) if n > 1 else 0.0
    if n == 1 and stderr is not None:
        half = float(sps.norm.ppf((1 + confidence) / 2)) * stderr
    elif n > 1:
        half = float(sps.t.ppf((1 + confidence) / 2, n - 1)) * stdev / math.sqrt(n)
    else:
        half = None
    return {
        "n": n,
        "median": float(np.median(arr)),
        "mean": mean,
        "stdev": stdev,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "ci_low": None if half is None else mean - half,
        "ci_high": None if half is None else mean + half,
    }
