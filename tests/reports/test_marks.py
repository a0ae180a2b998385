"""The run report's trust marks, on runs stored in-process: contended cells are flagged
with why, and the roofline uses the bandwidth the run re-measured when it has one."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.reports import charts
from harness.reports.html import HtmlReporter
from harness.results.frame import load_frame
from harness.results.store import RunStore
from tests.regression.conftest import cell, draws, metric

WHY = "other processes used 34 % of the CPU (limit 10 %)"


def _run(root: Path, preflight: dict | None, contended: bool) -> Path:
    manifest = {"run_id": "20261101T000000Z-p", "plan_name": "p", "profile_id": "p1"}
    if preflight is not None:
        manifest["preflight"] = preflight
    store = RunStore.create(root, manifest)
    result = cell(store.run_id, [metric("decode_tokens_per_s", draws(100.0),
                                        kind="speed")])
    result = result.model_copy(update={
        "artifact": {"bits_per_weight": 4.5, "n_params": 135_000_000,
                     "size_bytes": 80_000_000},
        "health": {"contended": contended, "reasons": [WHY] if contended else []}})
    store.append(result)
    return store.dir


def _profiles(tmp_path: Path) -> Path:
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "p1.yaml").write_text("memory: {read_bandwidth_gb_s: 10.0}\n")
    return profiles


def _page(tmp_path: Path, run: Path) -> str:
    out = HtmlReporter(_profiles(tmp_path)).render(load_frame([run]), tmp_path / "r.html", "r")
    return out.read_text()


def _roofline(run: Path):
    """The roofline trace of the run's report figures (profile bandwidth 10 GB/s)."""
    figs = charts.build(load_frame([run]), [], {"p1": 10.0})
    return next(t for f in figs if f is not None for t in f.data
                if str(t.name).startswith("roofline"))


def test_contended_cells_are_listed_with_why(tmp_path: Path) -> None:
    page = _page(tmp_path, _run(tmp_path / "results", None, contended=True))
    assert "Contended cells (1)" in page and "contended: other processes used 34 %" in page
    assert "<td class=l>contended</td>" in page


def test_a_quiet_run_has_no_contended_mark(tmp_path: Path) -> None:
    page = _page(tmp_path, _run(tmp_path / "results", None, contended=False))
    assert "Contended cells" not in page and "<td class=l>contended</td>" not in page


@pytest.mark.parametrize(("preflight", "bandwidth", "source"), [
    ({"read_bandwidth_gb_s": 4.0}, 4.0, "re-measured before this run"),
    (None, 10.0, "from the hardware profile"),
])
def test_roofline_uses_the_runs_own_bandwidth(tmp_path: Path, preflight, bandwidth: float,
                                               source: str) -> None:
    run = _run(tmp_path / "results", preflight, contended=False)
    trace = _roofline(run)
    weight_bytes = 4.5 * 135_000_000 / 8
    assert trace.y[0] == pytest.approx(bandwidth * 1e9 / weight_bytes)
    assert trace.customdata[0][2] == source and "%{customdata[2]}" in trace.hovertemplate
    assert source in _page(tmp_path, run)  # the hover's words reach the page


def test_error_bars_of_a_quantity_that_cannot_be_negative_stop_at_zero(tmp_path: Path
                                                                       ) -> None:
    store = RunStore.create(tmp_path / "results", {"run_id": "20261101T000000Z-p",
                                                   "plan_name": "p", "profile_id": "p1"})
    store.append(cell(store.run_id, [metric("ttft_ms", [5.0, 60.0], unit="ms",
                                            higher_is_better=False, kind="latency")]))
    frame = load_frame([store.dir])
    (row,) = frame[frame["metric_name"] == "ttft_ms"].itertuples()
    assert row.ci_low < 0  # a t-interval of two samples far apart reaches below zero
    figs = charts.build(frame, [], {})
    (bar,) = [t for f in figs if f is not None and f.layout.title.text == "Time to first token"
              for t in f.data if t.type == "bar"]
    assert bar.y[0] == pytest.approx(row.mean)
    assert bar.y[0] - bar.error_y.arrayminus[0] == pytest.approx(0.0)
    assert bar.y[0] + bar.error_y.array[0] == pytest.approx(row.ci_high)
