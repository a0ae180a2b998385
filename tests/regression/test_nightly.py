"""End to end on the real llama.cpp backend: baseline, an identical re-run, a night with
busy processes beside it, a slowed-down night; `harness nightly`'s verdicts and exit codes,
`harness compare`, the trend report, and the pytest-benchmark export read by the real
`pytest-benchmark compare`.

The busy night is one the harness sees: its cells are marked contended, so their speed is
no evidence (inconclusive, exit 0) and the night does not enter the history. The slowed
night is one it cannot see: every night's worker runs through a wrapper script (the
backend's `python:` setting, the same for all nights, so every night is the same cell),
and on that night only an environment variable makes the wrapper stop the worker for most
of every 100 ms, as a throttled or starved engine would run.
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
  llama_cpp: {{threads: 1, n_ctx: 256, python: {wrapper}}}
suites:
  throughput: {{prompt_lengths: [32], gen_tokens: 32, repetitions: 8}}
regression:
  thresholds: {{default: "median:70%"}}
health: {{max_other_cpu: 0.6, max_steal: 0.5}}
"""
# Above this VM's run-to-run drift: two identical runs here differed by 11 % in prefill
# tokens/s once, by 30 % (interval -34..-25 %) on 2026-11-23 and by 57 % prefill / 41 %
# decode 20 s apart on 2026-12-02, every cell `quiet` (the host, not the guest, was busy).
# The slowed night stops the worker 90 % of the time, about -90 %, past the threshold even
# if the baseline ran in such a slow spell (0.1 / 0.6: -83 %). Sensitivity is measured in
# benchmarks/trust.py, not here. One engine thread, because with two llama.cpp's
# spinning barrier waits a whole time slice for a descheduled thread at every op. Only two
# clean nights precede the slowed one, so it is judged against the baseline (history needs
# three); tests/regression/test_steps.py covers the history verdicts. The health limits
# are loose so that tests running beside these on a shared machine do not make the quiet
# nights contended; two busy processes per CPU beside one engine thread take about 80 %
# (more would starve the harness itself and slow the whole night down).
DUTY = "0.9"
WRAPPER = """\
#!{python}
# Runs the cell's worker. With HARNESS_TEST_DUTY=F, a forked helper stops the worker (all
# its threads) for F of every 100 ms. The worker itself is exec'd in this process, so its
# parent stays the runner (the worker exits when its parent is not the runner).
import os, signal, sys, time

duty = float(os.environ.get("HARNESS_TEST_DUTY") or 0)
if duty > 0 and os.fork() == 0:
    worker = os.getppid()
    os.setsid()  # out of the worker's group and session: a signal to those spares it
    os.closerange(3, 4096)  # hold none of the worker's pipes open
    try:
        while os.getppid() == worker:
            os.kill(worker, signal.SIGSTOP)
            time.sleep(0.1 * duty)
            os.kill(worker, signal.SIGCONT)  # always resumed before leaving
            time.sleep(0.1 * (1 - duty))
    except ProcessLookupError:
        pass
    os._exit(0)
os.execv(sys.executable, [sys.executable, *sys.argv[1:]])
"""
GOLDEN = Path(__file__).parent / "golden" / "pytest_benchmark_keys.json"


def _harness(args: list[str], cwd: Path, busy: bool = False,
             duty: str | None = None) -> subprocess.CompletedProcess:
    # each busy process in its own session: with the kernel's autogroup scheduling a
    # session shares the CPU as one, and the engine's worker has a session of its own
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"],
                             start_new_session=True)
            for _ in range(2 * (os.cpu_count() or 1))] if busy else []
    env = {**os.environ, "COLUMNS": "250"}
    env.pop("HARNESS_TEST_DUTY", None)
    if duty is not None:
        env["HARNESS_TEST_DUTY"] = duty
    try:
        return subprocess.run(["harness", *args], cwd=cwd, capture_output=True, text=True,
                              timeout=900, env=env)
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


@pytest.fixture(scope="module")
def nightly(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("nightly")
    wrapper = work / "duty.py"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    (work / "suite.yaml").write_text(SUITE.format(wrapper=json.dumps(str(wrapper))))
    out = {"work": work}
    for name, busy, duty in (("first", False, None), ("same", False, None),
                             ("busy", True, None), ("slowed", False, DUTY)):
        out[name] = _harness(["nightly", "suite.yaml"], work, busy, duty)
    out["runs"] = [p.name for p in run_dirs(work / "results")]
    return out


def _rows(proc: subprocess.CompletedProcess, metric: str) -> list[str]:
    """The verdict table's rows of `metric` (not the progress lines naming it)."""
    return [line for line in proc.stdout.splitlines() if metric in line and "│" in line]


def test_first_nightly_becomes_the_baseline(nightly) -> None:
    proc = nightly["first"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "is now the baseline" in proc.stdout
    baselines = json.loads((nightly["work"] / "results" / "baselines.json").read_text())
    assert [b["run_id"] for b in baselines.values()] == [nightly["runs"][0]]


def test_busy_night_is_contended_not_regressed(nightly) -> None:
    proc = nightly["busy"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "contended night" in proc.stdout and "other processes used" in proc.stdout
    for metric in ("decode_tokens_per_s", "prefill_tokens_per_s"):
        rows = _rows(proc, metric)
        assert rows and all("inconclusive" in r for r in rows), proc.stdout
    assert "0 regressed" in proc.stdout


def test_hidden_slowdown_is_flagged_and_exits_1(nightly) -> None:
    proc = nightly["slowed"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "contended night" not in proc.stdout  # the harness cannot see this slowdown
    rows = _rows(proc, "decode_tokens_per_s")
    assert rows and "regressed" in rows[0], proc.stdout
    reports = list((nightly["work"] / "reports").glob(f"{nightly['runs'][3]}-vs-*.html"))
    assert len(reports) == 1 and "regressed" in reports[0].read_text()


def test_identical_rerun_is_not_a_false_alarm(nightly) -> None:
    proc = nightly["same"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 regressed" in proc.stdout


def test_compare_cli_and_json(nightly, tmp_path: Path) -> None:
    base, _, _, slowed = nightly["runs"]
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
    assert "contended: %{customdata[1]}" in page  # the busy night's hollow marker


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
