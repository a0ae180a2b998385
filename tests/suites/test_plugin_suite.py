"""A suite from a third-party distribution (tests/plugins: `widgets`, one quality and one
speed metric) gets its charts, its verdicts and its pytest-benchmark export from its own
declarations, with no edit to the core. Runs through the real runner and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.results.store import RunStore, read_cells
from tests.conftest import harness_cmd, plugin_env

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs(smol, tmp_path_factory) -> dict[str, Path]:
    """A real run of the plugin suite, and a copy of it whose score is worse beyond the
    declared tolerance (0.05) and whose speed is a quarter (halved, a cold first sample
    of 5 once overlapped the others and the verdict was inconclusive)."""
    path, _ = smol
    work = tmp_path_factory.mktemp("widgets")
    suite = work / "widgets.yaml"
    suite.write_text(f"""\
name: widgets
models: [{{name: m, path: {path}}}]
backends: {{faulty: {{mode: ok}}}}
suites: {{widgets: }}
""")
    proc = harness_cmd("run", str(suite), "--results-dir", str(work / "results"),
                       "--profiles-dir", str(work / "profiles"), "--no-report", env=plugin_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    base = next((work / "results").glob("**/cells.jsonl")).parent
    cells = list(read_cells(base / "cells.jsonl"))
    assert {m.name: m.kind for m in cells[0].metrics} == {
        "widget_score": "quality", "widget_tokenize_per_s": "speed"}
    worse = []
    for cell in cells:
        metrics = [m.model_copy(update={"samples": [s - 0.1 for s in m.samples]})
                   if m.kind == "quality" else
                   m.model_copy(update={"samples": [s / 4 for s in m.samples]})
                   for m in cell.metrics]
        worse.append(cell.model_copy(update={"run_id": "20990101T000000Z-worse",
                                             "metrics": metrics}))
    store = RunStore.create(work / "worse", {"run_id": "20990101T000000Z-worse",
                                             "plan_name": "widgets",
                                             "profile_id": cells[0].profile_id})
    for cell in worse:
        store.append(cell)
    cand = next((work / "worse").glob("**/cells.jsonl")).parent
    return {"work": work, "base": base, "cand": cand}


def test_report_draws_the_declared_charts(runs) -> None:
    out = runs["work"] / "report.html"
    proc = harness_cmd("report", str(runs["base"]), "-o", str(out), env=plugin_env())
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "Widget score per model x format" in page
    assert "Widget tokenize speed vs model file size" in page


def test_compare_judges_quality_on_its_tolerance_and_speed_on_samples(runs) -> None:
    out = runs["work"] / "cmp.json"
    proc = harness_cmd("compare", str(runs["base"]), str(runs["cand"]), "--json", str(out),
                       env=plugin_env())
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = {r["metric"]: r for r in json.loads(out.read_text())["rows"]}
    score, speed = rows["widget_score"], rows["widget_tokenize_per_s"]
    assert score["verdict"] == "regressed" and score["method"] == "point"
    assert score["threshold"] == "mean:0.05"
    assert speed["verdict"] == "regressed" and speed["method"].startswith("bootstrap")
    same = harness_cmd("compare", str(runs["base"]), str(runs["base"]), "--json", str(out),
                       env=plugin_env())
    assert same.returncode == 0, same.stdout + same.stderr
    again = {r["metric"]: r["verdict"] for r in json.loads(out.read_text())["rows"]}
    assert again["widget_score"] == "unchanged"
    assert again["widget_tokenize_per_s"] in ("unchanged", "inconclusive")


def test_export_holds_the_speed_metric_and_not_the_quality_one(runs) -> None:
    out = runs["work"] / "bench.json"
    proc = harness_cmd("export", "pytest-benchmark", str(runs["base"]), "-o", str(out),
                       env=plugin_env())
    assert proc.returncode == 0, proc.stderr
    benches = json.loads(out.read_text())["benchmarks"]
    assert [b["extra_info"]["harness_metric"] for b in benches] == ["widget_tokenize_per_s"]
    stats = benches[0]["stats"]
    assert benches[0]["extra_info"]["seconds_per"] == "call" and stats["rounds"] == 5
    assert stats["min"] == min(stats["data"]) and stats["max"] < 1  # seconds per call
