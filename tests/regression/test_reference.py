"""Nightly speed judged as the ratio to a reference run beside it
(harness.regression.reference), on synthetic process samples with known effects."""

from __future__ import annotations

import numpy as np
import pytest

from harness.regression.reference import Night, judge_against_reference, pair_cells
from harness.thresholds import RegressionConfig
from tests.regression.conftest import cell, metric

BUSY = {"contended": True, "reasons": ["other processes used 34 % of the CPU (limit 10 %)"]}


def _night(run: str, ratio: float, seed: int, drift: float = 0.2, noise: float = 0.01,
           processes: int = 5, per: int = 5, health: dict | None = None) -> Night:
    """A night whose process i and its reference's process i share a drift d_i (the host's
    speed at that moment); the night's engine runs at `ratio` of the reference's."""
    rng = np.random.default_rng(seed)
    ref, tonight = [], []
    for d in 1 + drift * rng.standard_normal(processes):
        pair = 1 + noise * rng.standard_normal()
        ref += list(100 * d * (1 + 0.005 * rng.standard_normal(per)))
        tonight += list(100 * d * ratio * pair * (1 + 0.005 * rng.standard_normal(per)))
    process = [i for i in range(processes) for _ in range(per)]

    def one(run_id, samples, cell_health):
        m = metric("decode_tokens_per_s", samples, kind="speed").model_copy(
            update={"process": process})
        return cell(run_id, [m]).model_copy(update={"health": cell_health})

    return Night(run, pair_cells([one(run, tonight, health)],
                                 [one(run + "-reference", ref, None)]))


def _row(tonight: Night, earlier: list[Night] = (), thresholds: dict | None = None):
    config = RegressionConfig(thresholds=thresholds or {"default": "median:5%"})
    rows = judge_against_reference(tonight, list(earlier), config)
    return next((r for r in rows if r.metric == "decode_tokens_per_s"), None)


def test_a_slower_engine_is_regressed_through_the_hosts_drift() -> None:
    for seed in range(10):
        row = _row(_night("n", 0.9, seed))
        assert row is not None and row.verdict == "regressed", (seed, row)
        assert row.change == pytest.approx(-0.10, abs=0.02)
        assert row.against == "reference" and row.level == 1 and row.segment == 0


@pytest.mark.parametrize("seed", range(20))
def test_the_same_engine_is_never_regressed(seed: int) -> None:
    row = _row(_night("n", 1.0, seed + 100))
    assert row is not None and row.verdict != "regressed", row


def test_an_accepted_step_in_the_ratio_becomes_the_level() -> None:
    # three nights at 0.9 of the reference: the team lived with it, so 0.9 is the level
    history = [_night(f"h{i}", 0.9, i) for i in range(3)]
    row = _row(_night("n", 0.9, 50), history)
    assert row.segment == 3 and row.level == pytest.approx(0.9, abs=0.01)
    assert row.verdict != "regressed" and abs(row.change) < 0.03
    # and a further 10 % below that level is a regression again
    assert _row(_night("n", 0.81, 51), history).verdict == "regressed"


def test_contended_nights_are_neither_judged_nor_history() -> None:
    assert _row(_night("n", 0.5, 1, health=BUSY)) is None
    history = [_night(f"h{i}", 0.5, i, health=BUSY) for i in range(3)]
    row = _row(_night("n", 1.0, 7), history)
    assert row.values == [] and row.level == 1


def test_auto_resolves_against_the_noise_of_a_nights_ratio() -> None:
    quiet = _row(_night("n", 0.93, 3, noise=0.005), thresholds={"default": "auto"})
    noisy = _row(_night("n", 0.93, 3, noise=0.1), thresholds={"default": "auto"})
    assert quiet.verdict == "regressed"  # about 3.6 x a small spread: under 7 %
    assert noisy.verdict != "regressed"  # 3.6 x a spread 20 times larger: over 7 %
    assert float(quiet.threshold.split(":")[1].rstrip("%")) < 7 < \
        float(noisy.threshold.split(":")[1].rstrip("%"))
