"""Verdicts over processes: the paired A/B test, compare's per-process test, contention."""

from __future__ import annotations

import numpy as np
import pytest

from harness.errors import UsageError
from harness.regression.compare import compare_runs
from harness.regression.paired import compare_paired
from harness.thresholds import RegressionConfig
from tests.regression.conftest import cell, metric

BUSY = {"contended": True, "reasons": ["other processes used 34 % of the CPU (limit 10 %)"]}


def _sides(slowdown: float, seed: int, drift: float = 0.15, noise: float = 0.01,
           processes: int = 5, per: int = 5):
    """(A samples, B samples, process index): process i of A and of B share drift d_i;
    B is `slowdown` slower, with its own small noise per pair and per sample."""
    rng = np.random.default_rng(seed)
    a, b = [], []
    for d in 1 + drift * rng.standard_normal(processes):
        pair = 1 + noise * rng.standard_normal()
        a += list(100 * d * (1 + 0.005 * rng.standard_normal(per)))
        b += list(100 * d * (1 - slowdown) * pair * (1 + 0.005 * rng.standard_normal(per)))
    return a, b, [i for i in range(processes) for _ in range(per)]


def _cells(a, b, process, health_a=None, health_b=None):
    def one(run, samples, health):
        m = metric("decode_tokens_per_s", samples).model_copy(update={"process": process})
        q = metric("perplexity", [20.0 if run == "a" else 20.6], unit="ppl",
                   higher_is_better=False, stderr=0.4)
        return [cell(run, [m]).model_copy(update={"health": health}),
                cell(run, [q], suite="perplexity")]
    return one("a", a, health_a), one("b", b, health_b)


def test_a_consistent_slowdown_is_regressed_despite_large_drift() -> None:
    for seed in range(5):
        a_cells, b_cells = _cells(*_sides(0.10, seed))
        rows = compare_paired(a_cells, b_cells).rows
        speed = next(r for r in rows if r.metric == "decode_tokens_per_s")
        assert speed.verdict == "regressed", (seed, speed)
        assert speed.method.startswith("paired t over 5 processes")
        assert speed.ci_low < -0.05 and speed.ci_high < 0
        assert speed.change == pytest.approx(-0.10, abs=0.02)
        # the same samples unpaired: drift between processes swamps the change
        unpaired = next(r for r in compare_runs(a_cells, b_cells).rows
                        if r.metric == "decode_tokens_per_s")
        assert unpaired.method.startswith("Welch t")
        assert unpaired.ci_high - unpaired.ci_low > 3 * (speed.ci_high - speed.ci_low)


@pytest.mark.parametrize("seed", range(20))
def test_a_against_a_is_never_regressed(seed: int) -> None:
    a_cells, b_cells = _cells(*_sides(0.0, seed + 100))
    speed = next(r for r in compare_paired(a_cells, b_cells).rows
                 if r.metric == "decode_tokens_per_s")
    assert speed.verdict in ("unchanged", "inconclusive")


def test_contended_cells_are_inconclusive_but_quality_is_judged() -> None:
    a_cells, b_cells = _cells(*_sides(0.3, 1), health_b=BUSY)
    result = compare_paired(a_cells, b_cells)
    verdicts = {r.metric: (r.verdict, r.method) for r in result.rows}
    assert verdicts["decode_tokens_per_s"] == (
        "inconclusive", "contended: B (other processes used 34 % of the CPU (limit 10 %))")
    assert verdicts["perplexity"] == ("regressed", "point")  # +3 % against its 1 %
    assert any(w.startswith("contended: m q4_0 llama_cpp throughput in B (") for w in
               result.warnings)
    # compare says the same of a contended baseline
    rows = compare_runs(*_cells(*_sides(0.3, 1), health_a=BUSY)).rows
    speed = next(r for r in rows if r.metric == "decode_tokens_per_s")
    assert speed.verdict == "inconclusive" and speed.method.startswith("contended: baseline (")


def test_compare_uses_per_process_values_when_both_sides_have_them() -> None:
    """Pooled samples of two runs whose processes drifted apart look significantly
    different; per-process values show that the runs differ no more than processes do."""
    rng = np.random.default_rng(2)
    process = [i for i in range(4) for _ in range(10)]

    def run(center):
        drift = 1 + 0.05 * rng.standard_normal(4)
        return [center * drift[i] * (1 + 0.002 * rng.standard_normal()) for i in process]

    a, b = run(100), run(100)

    def speed(cells):
        return next(r for r in compare_runs(*cells).rows if r.metric == "decode_tokens_per_s")

    per_process, pooled = speed(_cells(a, b, process)), speed(_cells(a, b, None))
    assert per_process.method == "Welch t over per-process medians (4 vs 4 processes)"
    assert per_process.n_base == 4 and per_process.p_value > 0.05
    assert per_process.ci_low < per_process.change < per_process.ci_high
    assert pooled.method.startswith("bootstrap") and pooled.p_value < 0.001


def test_unequal_cell_counts_are_refused() -> None:
    a_cells, b_cells = _cells(*_sides(0.0, 1))
    with pytest.raises(UsageError, match="A has 2 cells and B 1; fix:"):
        compare_paired(a_cells, b_cells[:1])


def test_absolute_threshold_pairs_differences() -> None:
    a_cells, b_cells = _cells(*_sides(0.10, 2, drift=0.02))
    config = RegressionConfig(thresholds={"decode_tokens_per_s": "median:3"})
    speed = next(r for r in compare_paired(a_cells, b_cells, config).rows
                 if r.metric == "decode_tokens_per_s")
    assert not speed.relative and speed.change == pytest.approx(-10, abs=2)
    assert speed.verdict == "regressed"
