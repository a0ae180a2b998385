"""Step detection on synthetic series with known steps, and the nightly verdict against
stored history (runs written in-process, as the runner stores them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.regression.nightly import judge
from harness.regression.steps import detect_steps, noise_of
from harness.results.query import set_baseline
from harness.results.store import RunStore
from harness.thresholds import RegressionConfig
from tests.regression.conftest import cell, draws, metric


def _series(levels: list[tuple[int, float]], noise: float = 0.02, seed: int = 0) -> list[float]:
    """Consecutive stretches of (length, level) with relative normal noise."""
    rng = np.random.default_rng(seed)
    out = []
    for length, level in levels:
        out += list(level * (1 + noise * rng.standard_normal(length)))
    return out


@pytest.mark.parametrize("seed", range(5))
def test_a_15_percent_step_after_10_points_is_found_where_it_is(seed: int) -> None:
    steps = detect_steps(_series([(10, 100.0), (10, 85.0)], seed=seed))
    assert [s.index for s in steps] == [10]
    assert steps[0].before == pytest.approx(100, rel=0.03)
    assert steps[0].change == pytest.approx(-0.15, abs=0.03)


@pytest.mark.parametrize("seed", range(20))
def test_a_flat_noisy_series_has_no_step(seed: int) -> None:
    assert detect_steps(_series([(30, 100.0)], seed=seed)) == []


def test_two_steps_are_both_found() -> None:
    steps = detect_steps(_series([(12, 100.0), (8, 120.0), (10, 90.0)], seed=3))
    assert [s.index for s in steps] == [12, 20]
    assert steps[0].change > 0.15 and steps[1].change < -0.2


def test_given_noise_sets_the_scale_of_a_step() -> None:
    values = _series([(10, 100.0), (10, 97.0)], noise=0.002, seed=1)
    assert [s.index for s in detect_steps(values)] == [10]  # 3 % is 15 sd of this noise
    assert detect_steps(values, noise=5.0) == []  # ... and under one sd of a given 5
    assert noise_of(_series([(200, 100.0)], noise=0.02, seed=2)) == pytest.approx(2, rel=0.2)


def test_a_non_finite_value_is_refused() -> None:
    with pytest.raises(ValueError, match="finite"):
        detect_steps([1.0, float("nan"), 1.0])


# --- the nightly verdict against history -------------------------------------------------

def _night(root: Path, day: int, level: float, contended: bool = False) -> Path:
    run_id = f"202611{day:02d}T000000Z-p"
    store = RunStore.create(root, {"run_id": run_id, "plan_name": "p", "profile_id": "p1",
                                   "started_at": f"2026-11-{day:02d}T00:00:00+00:00"})
    result = cell(run_id, [metric("decode_tokens_per_s", draws(level, spread=0.01, seed=day)),
                           metric("peak_rss_bytes", [1e8], unit="bytes",
                                  higher_is_better=False)])
    if contended:
        result = result.model_copy(update={"health": {
            "contended": True, "reasons": ["other processes used 34 % of the CPU"]}})
    store.append(result)
    return store.dir


def _history(root: Path, nights: int = 8, contended_day: int | None = None) -> None:
    """`nights` clean nights about 100 tokens/s (2 % night-to-night drift), the first
    pinned as the baseline; optionally a contended night at half speed on `contended_day`."""
    drift = np.random.default_rng(7).standard_normal(nights)
    for day in range(1, nights + 1):
        if day == contended_day:
            _night(root, day, 50.0, contended=True)
        else:
            path = _night(root, day, 100 * (1 + 0.02 * drift[day - 1]))
            if day == 1:
                set_baseline(root, path)


def _judge(root: Path, run: Path):
    return judge(run, "p1", 0, root, RegressionConfig())


def _decode(verdict):
    return next(r for r in verdict.comparison.rows if r.metric == "decode_tokens_per_s")


def test_a_20_percent_drop_after_a_flat_history_regressed(tmp_path: Path) -> None:
    _history(tmp_path)
    verdict = _judge(tmp_path, _night(tmp_path, 20, 80.0))
    row = _decode(verdict)
    assert verdict.method == "history" and len(verdict.history_runs) == 8
    assert row.verdict == "regressed" and row.method.startswith("history")
    assert row.change == pytest.approx(-0.2, abs=0.03) and verdict.regressed


def test_a_night_at_the_same_level_is_not_a_regression(tmp_path: Path) -> None:
    _history(tmp_path)
    verdict = _judge(tmp_path, _night(tmp_path, 20, 100.0))
    assert _decode(verdict).verdict in ("unchanged", "inconclusive")
    assert not verdict.regressed and not verdict.contended


def test_an_accepted_step_moves_the_reference(tmp_path: Path) -> None:
    _history(tmp_path)
    for day in range(9, 13):  # four nights at a new, lower level
        _night(tmp_path, day, 80.0)
    verdict = _judge(tmp_path, _night(tmp_path, 20, 80.0))
    (row,) = verdict.history_rows
    assert [s.index for s in row.steps] == [8] and row.level == pytest.approx(80, rel=0.02)
    assert _decode(verdict).verdict != "regressed"


def test_a_contended_night_in_history_is_not_the_reference(tmp_path: Path) -> None:
    _history(tmp_path, nights=9, contended_day=9)  # the latest night: 50 % slower, contended
    verdict = _judge(tmp_path, _night(tmp_path, 20, 100.0))
    (row,) = verdict.history_rows
    assert "20261109T000000Z-p" not in row.runs and len(row.values) == 8
    assert row.level == pytest.approx(100, rel=0.03) and row.steps == []
    assert not verdict.regressed


def test_a_contended_night_is_inconclusive_not_regressed(tmp_path: Path) -> None:
    _history(tmp_path)
    verdict = _judge(tmp_path, _night(tmp_path, 20, 50.0, contended=True))
    row = _decode(verdict)
    assert verdict.contended and "34 %" in verdict.contended_cells[0]
    assert row.verdict == "inconclusive" and "contended" in row.method
    assert verdict.history_rows == [] and not verdict.regressed  # exit 0


def test_short_history_falls_back_to_the_baseline(tmp_path: Path) -> None:
    _history(tmp_path, nights=2)
    verdict = _judge(tmp_path, _night(tmp_path, 20, 80.0))
    assert verdict.method == "baseline" and verdict.history_rows == []
    assert _decode(verdict).verdict == "regressed"  # the baseline's bootstrap verdict


def test_a_contended_first_night_is_not_pinned(tmp_path: Path) -> None:
    verdict = _judge(tmp_path, _night(tmp_path, 1, 100.0, contended=True))
    assert verdict.contended and verdict.baseline_run is None
    assert not (tmp_path / "baselines.json").exists()
