"""The trend judges each run as nightly did (its own stored thresholds, its history), and
marks steps, contended nights and the current level's noise band."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.regression.trend import build_trend
from harness.reports.trend import TrendHtmlReporter
from harness.results.query import set_baseline
from harness.results.store import RunStore
from tests.regression.conftest import cell, draws, metric


def _store(root: Path, day: int, **meta) -> RunStore:
    """The store of run `202611<day>T000000Z-p` of plan p on profile p1."""
    return RunStore.create(root, {"run_id": f"202611{day:02d}T000000Z-p", "plan_name": "p",
                                  "profile_id": "p1",
                                  "started_at": f"2026-11-{day:02d}T00:00:00+00:00", **meta})


def _run(root: Path, run_id: str, center: float, regression: dict) -> RunStore:
    store = _store(root, int(run_id[6:8]), regression=regression)
    store.append(cell(run_id, [metric("decode_tokens_per_s", draws(center, seed=len(run_id)))]))
    return store


def test_each_run_is_judged_with_its_own_stored_thresholds(tmp_path: Path) -> None:
    base = _run(tmp_path, "20261101T000000Z-p", 100.0, {})
    _run(tmp_path, "20261102T000000Z-p", 85.0, {"thresholds": {"default": "median:25%"}})
    _run(tmp_path, "20261103T000000Z-p", 85.0, {})  # the declared median:5%
    set_baseline(tmp_path, base.dir)
    trend = build_trend(tmp_path, "p1")
    assert trend.baseline == "20261101T000000Z-p"
    assert {run for run, _, _ in trend.regressed} == {"20261103T000000Z-p"}
    assert trend.frame["run_id"].nunique() == 3


def _night(root: Path, day: int, center: float, contended: bool = False) -> None:
    store = _store(root, day)
    result = cell(store.run_id,
                  [metric("decode_tokens_per_s", draws(center, spread=0.01, seed=day))])
    if contended:
        result = result.model_copy(update={"health": {
            "contended": True, "reasons": ["other processes used 34 % of the CPU"]}})
    store.append(result)


def _levels(root: Path) -> None:
    """Six nights at 100, a contended night at 50, six nights at 85 (a 15 % step)."""
    drift = [0.01, -0.012, 0.004, -0.006, 0.011, -0.002]
    for day in range(1, 7):
        _night(root, day, 100 * (1 + drift[day - 1]))
    _night(root, 7, 50.0, contended=True)
    for day in range(8, 14):
        _night(root, day, 85 * (1 + drift[day - 8]))


def test_steps_contended_nights_and_the_noise_band(tmp_path: Path) -> None:
    _levels(tmp_path)
    trend = build_trend(tmp_path, "p1")
    (step,) = trend.steps
    assert step.run_id == "20261108T000000Z-p" and step.change == pytest.approx(-0.15, abs=0.02)
    (band,) = trend.bands
    assert band.level == pytest.approx(85, rel=0.02) and 0 < band.sd < 2
    busy = trend.frame[trend.frame["contended"]]
    assert list(busy["run_id"]) == ["20261107T000000Z-p"] and "34 %" in busy["health"].iloc[0]
    # the first night at the new level regressed against the old one; the contended one not
    assert ("20261108T000000Z-p", "m q4_0 llama_cpp throughput", "decode_tokens_per_s") \
        in trend.regressed
    assert not any(run == "20261107T000000Z-p" for run, _, _ in trend.regressed)


def test_trend_page_marks_steps_contended_nights_and_band(tmp_path: Path) -> None:
    _levels(tmp_path)
    page = TrendHtmlReporter().render(build_trend(tmp_path, "p1"), tmp_path / "t.html", "t")
    html = page.read_text()
    assert "step -15%" in html and "noise band" in html
    assert "contended: %{customdata[1]}" in html and "other processes used 34 % of the CPU" \
        in html
    assert "circle-open" in html and "toself" in html


def test_a_metric_no_cell_of_which_ever_changed_is_not_drawn(tmp_path: Path) -> None:
    # a model file's size differs between formats but not between runs
    for day, center in ((1, 100.0), (2, 90.0)):
        store = _store(tmp_path, day)
        for model, size in (("m", 5e8), ("n", 2e8)):
            store.append(cell(store.run_id, [
                metric("decode_tokens_per_s", draws(center, seed=day)),
                metric("model_file_bytes", [size], unit="bytes", higher_is_better=False)],
                model=model))
    page = TrendHtmlReporter().render(build_trend(tmp_path, "p1"), tmp_path / "t.html", "t")
    html = page.read_text()
    assert '"text":"decode_tokens_per_s"' in html.replace(" ", "")
    assert '"text":"model_file_bytes"' not in html.replace(" ", "")
    assert "1 metrics that never changed in any cell are not drawn" in html
