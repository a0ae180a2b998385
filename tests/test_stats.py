"""Statistics are computed in one place; check them against independent formulas."""

from __future__ import annotations

import math
import statistics

import pytest

from harness.stats import summarize


def test_summary_matches_textbook_formulas() -> None:
    samples = [10.0, 12.0, 11.0, 13.0, 9.0]
    s = summarize(samples)
    assert s["n"] == 5
    assert s["median"] == 11.0
    assert s["mean"] == pytest.approx(11.0)
    assert s["stdev"] == pytest.approx(statistics.stdev(samples))
    half = 2.7764451051977987 * statistics.stdev(samples) / math.sqrt(5)  # t(0.975, df=4)
    assert s["ci_low"] == pytest.approx(11.0 - half)
    assert s["ci_high"] == pytest.approx(11.0 + half)


def test_one_sample_has_no_interval_and_none_is_never_nan() -> None:
    s = summarize([3.0])
    assert s["mean"] == 3.0 and s["ci_low"] is None and s["ci_high"] is None
    empty = summarize([])
    assert empty["n"] == 0 and empty["median"] is None
