"""Statistics are computed in one place; check them against independent formulas."""

from __future__ import annotations

import math
import statistics

import pytest

from harness.stats import (
    Stats,
    binomial_standard_error,
    bootstrap_change_interval,
    change,
    llama_perplexity,
    mann_whitney_p,
    pass_at_k,
    pooled_binomial_standard_error,
    standard_error,
    stderr_change_interval,
    summarize,
)


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


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 12, 31])
def test_stats_are_pytest_benchmarks_own(n: int) -> None:
    import random

    from pytest_benchmark.stats import Stats as PytestBenchmarkStats

    rng = random.Random(n)
    samples = [rng.lognormvariate(0, 0.5) for _ in range(n)] + [5.0] * (n > 6)
    theirs = PytestBenchmarkStats()
    for value in samples:
        theirs.update(value)
    ours = Stats.of(samples).pytest_benchmark()
    assert {k: ours[k] for k in theirs.fields} == theirs.as_dict()
    assert ours["data"] == samples and ours["iterations"] == 1


def test_record_carries_the_quartiles_and_a_stderr_interval_for_one_estimate() -> None:
    record = Stats.of([1.0, 2.0, 3.0, 4.0]).record()
    assert (record["q1"], record["q3"], record["iqr"]) == (1.5, 3.5, 2.0)
    one = Stats.of([20.0], stderr=0.5)
    assert one.ci_low == pytest.approx(20.0 - 1.959964 * 0.5)
    assert one.sem is None and Stats.of([1.0, 3.0]).sem == pytest.approx(1.0)


def test_estimators_against_their_definitions() -> None:
    nll = [2.0, 2.5, 3.0, 1.5, 2.2]
    ppl, err = llama_perplexity(nll)
    mean = sum(nll) / 5
    var = sum(x * x for x in nll) / 5 - mean**2
    assert ppl == pytest.approx(math.exp(mean))
    assert err == pytest.approx(math.sqrt(var / 4) * ppl)
    for n, c, k in [(10, 3, 1), (10, 3, 5), (5, 0, 2), (5, 4, 2), (1, 1, 1)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))
    assert binomial_standard_error(0.25, 100) == pytest.approx(math.sqrt(0.25 * 0.75 / 100))
    parts = [(0.5, 10), (0.2, 30)]
    assert pooled_binomial_standard_error(parts) == pytest.approx(
        math.sqrt(0.5 * 0.5 * 10 + 0.2 * 0.8 * 30) / 40)
    assert standard_error([1.0, 2.0, 3.0]) == pytest.approx(statistics.stdev([1, 2, 3]) / 3**0.5)


def test_change_interval_and_test_of_two_sample_sets() -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    base, cand = 100 + rng.standard_normal(20), 90 + rng.standard_normal(20)
    low, high = bootstrap_change_interval(base, cand, np.median, relative=True)
    assert low < change(float(np.median(base)), float(np.median(cand)), True) < high < 0
    assert mann_whitney_p(base, cand) < 1e-6 and mann_whitney_p([1, 1], [1, 1]) == 1.0
    assert stderr_change_interval(0.5, 0.3, 0.4) == pytest.approx((0.5 - 1.959964 * 0.5,
                                                                   0.5 + 1.959964 * 0.5))
    assert stderr_change_interval(0.5, None, 0.4) is None
