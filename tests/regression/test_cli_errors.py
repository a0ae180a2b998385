"""Bad input to compare / baseline / export: one line naming what and the fix, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.results.store import RunStore
from tests.conftest import harness_cmd
from tests.regression.conftest import cell, draws, metric


@pytest.fixture
def results(tmp_path: Path) -> Path:
    root = tmp_path / "results"
    for run_id, model in (("20260101T000000Z-a", "x"), ("20260102T000000Z-b", "y")):
        store = RunStore.create(root, {"run_id": run_id, "plan_name": "p", "profile_id": "p1"})
        store.append(cell(run_id, [metric("decode_tokens_per_s", draws(100))], model=model))
    return root


def _fails_on_one_line(proc, *words: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    text = " ".join(proc.stderr.split())
    assert text.startswith("error:") and "fix:" in text, text
    for word in words:
        assert word in text, text


def test_unknown_run_id(results: Path) -> None:
    proc = harness_cmd("compare", "no-such-run", "latest", "--results-dir", str(results))
    _fails_on_one_line(proc, "no-such-run: no such run")


def test_runs_without_common_cells(results: Path) -> None:
    proc = harness_cmd("compare", "20260101T000000Z-a", "20260102T000000Z-b",
                       "--results-dir", str(results))
    _fails_on_one_line(proc, "no cell in common")


def test_malformed_threshold_option(results: Path) -> None:
    proc = harness_cmd("compare", "latest", "latest", "--results-dir", str(results),
                       "--threshold", "decode_tokens_per_s=median:five%")
    _fails_on_one_line(proc, "--threshold decode_tokens_per_s", "median:five%")


def test_malformed_threshold_in_suite_file(tmp_path: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nmodels: [smollm2-135m]\nbackends: {llama_cpp: }\n"
                     "suites: {throughput: }\nregression:\n  thresholds: {ttft_ms: fast}\n")
    proc = harness_cmd("nightly", str(suite), "--results-dir", str(tmp_path / "r"))
    _fails_on_one_line(proc, str(suite), "regression.thresholds", "ttft_ms", "'fast'")


def test_baseline_without_one_set(results: Path) -> None:
    proc = harness_cmd("compare", "baseline", "latest", "--results-dir", str(results))
    _fails_on_one_line(proc, "no baseline for hardware profile p1", "harness baseline set")


def test_baseline_set_then_compare_by_name(results: Path) -> None:
    assert harness_cmd("baseline", "set", "20260102T000000Z-b", "--results-dir",
                       str(results)).returncode == 0
    shown = harness_cmd("baseline", "show", "--results-dir", str(results))
    assert "p1: 20260102T000000Z-b" in shown.stdout
    proc = harness_cmd("compare", "baseline", "latest", "--results-dir", str(results))
    assert proc.returncode == 0 and "0 regressed" in proc.stdout, proc.stdout + proc.stderr


def test_export_of_a_run_without_timings(tmp_path: Path) -> None:
    root = tmp_path / "results"
    store = RunStore.create(root, {"run_id": "20260101T000000Z-q", "plan_name": "q",
                                   "profile_id": "p1"})
    store.append(cell("20260101T000000Z-q", [metric("perplexity", [20.0], unit="ppl",
                                                    higher_is_better=False)]))
    proc = harness_cmd("export", "pytest-benchmark", "latest", "-o", str(tmp_path / "x.json"),
                       "--results-dir", str(root))
    _fails_on_one_line(proc, "no time-like metrics")
