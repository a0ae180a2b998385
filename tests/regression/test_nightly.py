"""End to end on the real llama.cpp backend: baseline, a slowed-down re-run, an identical
re-run; `harness nightly`'s exit codes, `harness compare`, the trend report, and the
pytest-benchmark export read by the real `pytest-benchmark compare`.

The slowdown is one the harness cannot see: busy processes, four per CPU, run beside the
candidate (same cell key, same settings), as a noisy neighbour on a CI runner would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_dirs

pytestmark = pytest.mark.slow

SUITE = """\
name: nightly-check
models: [smollm2-135m]
formats: [source]
backends:
  llama_cpp: {threads: 1, n_ctx: 256}
suites:
  throughput: {prompt_lengths: [32], gen_tokens: 32, repetitions: 8}
regression:
  thresholds: {default: "median:40%"}
"""
# Above this VM's run-to-run drift: two identical runs here differed by 11 % in prefill
# tokens/s once and by 30 % (interval -34..-25 %) on 2026-11-23, with tight intervals (the
# machine, not the samples, moved); the slowdown below (four busy processes per CPU beside
# one engine thread) takes most of the CPU from the engine. One thread, because with two
# llama.cpp's spinning barrier waits a whole time slice for the descheduled thread at
# every op: the slowed run then took over 900 s once (2026-11-23). The identical re-run runs
# right after the baseline, before any busy process has run.
GOLDEN = Path(__file__).parent / "golden" / "pytest_benchmark_keys.json"


def _harness(args: list[str], cwd: Path, busy: bool = False) -> subprocess.CompletedProcess:
    # each busy process in its own session: with the kernel's autogroup scheduling a
    # session shares the CPU as one, and the engine's worker has a session of its own
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             start_new_session=True)
            for _ in range(4 * (os.cpu_count() or 1))] if busy else []
    try:
        return subprocess.run(["harness", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=900, env={**os.environ, "COLUMNS": "250"})
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.fixture(scope="module")
def nightly(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("nightly")
    (work / "suite.yaml").write_text(SUITE)
    out = {"work": work}
    for name, busy in (("first", False), ("same", False), ("slowed", True)):
        out[name] = _harness(["nightly", "suite.yaml"], work, busy)
    out["runs"] = [p.name for p in run_dirs(work / "results")]
    return out


def test_first_nightly_becomes_the_baseline(nightly) -> None:
    proc = nightly["first"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is now the baseline" in proc.stdout
    baselines = json.loads((nightly["work"] / "results" / "baselines.json").read_text())
    assert [b["run_id"] for b in baselines.values()] == [nightly["runs"][0]]


def test_hidden_slowdown_is_flagged_and_exits_1(nightly) -> None:
    proc = nightly["slowed"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    rows = [line for line in proc.stdout.splitlines() if "decode_tokens_per_s" in line]
    assert rows and "regressed" in rows[0], proc.stdout
    reports = list((nightly["work"] / "reports").glob(f"{nightly['runs'][2]}-vs-*.html"))
    assert len(reports) == 1 and "regressed" in reports[0].read_text()


def test_identical_rerun_is_not_a_false_alarm(nightly) -> None:
    proc = nightly["same"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regressed" in proc.stdout


def test_compare_cli_and_json(nightly, tmp_path: Path) -> None:
    base, _, slowed = nightly["runs"]
    out = tmp_path / "cmp.json"
    proc = _harness(["compare", base, slowed, "--json", str(out)], nightly["work"])
    assert proc.returncode == 1
    data = json.loads(out.read_text())
    decode = [r for r in data["rows"] if r["metric"].startswith("decode_tokens_per_s")]
    assert decode[0]["verdict"] == "regressed" and decode[0]["ci_high"] < 0
    assert data["regressed"] is True


def test_trend_report_marks_baseline_and_regression(nightly) -> None:
    out = nightly["work"] / "trend.html"
    proc = _harness(["trend", "-o", str(out)], nightly["work"])
    assert proc.returncode == 0, proc.stderr
    page = out.read_text()
    assert "decode_tokens_per_s" in page and "baseline" in page
    assert "regressed" in page  # the slowed run's red cross


def test_exported_files_read_by_pytest_benchmark_compare(nightly, tmp_path: Path) -> None:
    files = []
    for run in nightly["runs"][:2]:
        path = tmp_path / f"{run}.json"
        proc = _harness(["export", "pytest-benchmark", run, "-o", str(path)], nightly["work"])
        assert proc.returncode == 0, proc.stderr
        files.append(path)
    proc = subprocess.run(["pytest-benchmark", "compare", *map(str, files), "--group-by", "name"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("decode_tokens_per_s") >= 2
    data = json.loads(files[1].read_text())
    decode = next(b for b in data["benchmarks"]
                  if b["extra_info"]["harness_metric"] == "decode_tokens_per_s")
    assert decode["extra_info"]["seconds_per"] == "token"
    assert len(decode["stats"]["data"]) == 8 and decode["stats"]["rounds"] == 8
    assert decode["stats"]["min"] == min(decode["stats"]["data"])


def test_export_schema_matches_the_golden_file(nightly, tmp_path: Path) -> None:
    path = tmp_path / "run.json"
    _harness(["export", "pytest-benchmark", nightly["runs"][0], "-o", str(path)],
             nightly["work"])
    assert _shape(json.loads(path.read_text())) == json.loads(GOLDEN.read_text())


def test_pytest_plugin_writes_pytest_benchmark_json_of_the_same_shape(tmp_path: Path) -> None:
    test = tmp_path / "test_cell.py"
    test.write_text(
        "def test_decode(benchmark, harness_cell):\n"
        "    cell = harness_cell('smollm2-135m', 'source', 'llama_cpp', threads=2, n_ctx=128)\n"
        "    benchmark.pedantic(cell.decode_step, rounds=3, iterations=8, warmup_rounds=1)\n")
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                           str(test), f"--benchmark-json={out}", "--rootdir", str(tmp_path)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    own = json.loads(out.read_text())
    stats = own["benchmarks"][0]["stats"]
    assert stats["rounds"] == 3 and stats["iterations"] == 8 and stats["min"] > 0
    golden = json.loads(GOLDEN.read_text())
    shape = _shape(own)
    assert shape["top"] == golden["top"] and shape["benchmark"] == golden["benchmark"]
    assert shape["stats"] == golden["stats"]


def _shape(data: dict) -> dict:
    bench = data["benchmarks"][0]
    return {"top": sorted(data), "benchmark": sorted(bench), "stats": sorted(bench["stats"])}
