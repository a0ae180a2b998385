"""The quiet-machine preflight, `harness doctor`, and `harness run --require-quiet`."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness.hardware import quiet
from tests.conftest import harness_cmd, plugin_env, run_dirs
from tests.hardware.test_health import busy
from tests.reliability.conftest import assert_one_line_error

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="/proc/stat is Linux's")


def test_preflight_keys_and_types() -> None:
    pf = quiet.preflight(window_s=0.3)
    assert 0 <= pf["other_cpu"] <= 1 and 0 <= pf["steal"] <= 1
    assert len(pf["loadavg"]) == 3
    assert pf["governor"] is None or isinstance(pf["governor"], str)
    assert pf["turbo"] in (None, "on", "off")
    assert isinstance(pf["quiet"], bool)
    assert pf["read_bandwidth_gb_s"] > 0
    names = [f["name"] for f in pf["findings"]]
    assert {"other processes' CPU", "steal time", "CPU frequency governor", "turbo boost",
            "memory read bandwidth"} <= set(names)
    for f in pf["findings"]:
        assert set(f) == {"name", "value", "ok", "fix"} and isinstance(f["ok"], bool)
        assert bool(f["fix"]) != f["ok"]  # what to change exactly where something is off
    assert quiet.preflight(0.1, bandwidth=False)["read_bandwidth_gb_s"] is None


def test_busy_machine_is_not_quiet_and_says_what_to_do() -> None:
    with busy():
        pf = quiet.preflight(window_s=0.5, bandwidth=False)
        lenient = quiet.preflight(0.3, bandwidth=False,
                                  limits={"max_other_cpu": 1.0, "max_steal": 1.0})
    assert pf["quiet"] is False and pf["other_cpu"] > 0.25
    (other,) = [f for f in pf["findings"] if f["name"] == "other processes' CPU"]
    assert other["ok"] is False and "--wait-quiet" in other["fix"]
    assert quiet.busy_line(pf).startswith("other processes used ")
    assert "of the CPU over 0.5 s (limit 10 %)" in quiet.busy_line(pf)
    assert lenient["quiet"] is True  # the limits passed in are the ones applied


def test_wait_quiet_gives_up_after_its_time_and_tells_once() -> None:
    told = []
    with busy():
        start = time.monotonic()
        pf = quiet.wait_quiet(2.0, on_wait=told.append, window_s=0.3, bandwidth=False)
        took = time.monotonic() - start
    assert pf["quiet"] is False
    assert len(told) == 1 and told[0]["quiet"] is False
    assert 2.0 - 0.3 <= took < 30


def test_governor_and_turbo_findings(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "cpu0" / "cpufreq").mkdir(parents=True)
    (tmp_path / "cpu0" / "cpufreq" / "scaling_governor").write_text("powersave\n")
    (tmp_path / "intel_pstate").mkdir()
    (tmp_path / "intel_pstate" / "no_turbo").write_text("0\n")
    monkeypatch.setattr(quiet, "CPUFREQ", tmp_path)
    pf = quiet.preflight(0.1, bandwidth=False, limits={"max_other_cpu": 1.0})
    found = {f["name"]: f for f in pf["findings"]}
    assert pf["governor"] == "powersave" and pf["turbo"] == "on"
    assert found["CPU frequency governor"]["ok"] is False
    assert "cpupower frequency-set -g performance" in found["CPU frequency governor"]["fix"]
    assert "no_turbo" in found["turbo boost"]["fix"]
    assert pf["quiet"] is True  # governor and turbo advise; only contention decides quiet
    (tmp_path / "cpu0" / "cpufreq" / "scaling_governor").write_text("performance\n")
    (tmp_path / "intel_pstate" / "no_turbo").write_text("1\n")
    found = {f["name"]: f for f in quiet.preflight(0.1, bandwidth=False)["findings"]}
    assert found["CPU frequency governor"]["ok"] and found["turbo boost"]["ok"]
    assert found["turbo boost"]["value"] == "off"


def test_doctor_prints_the_checks_and_a_verdict() -> None:
    proc = harness_cmd("doctor", "--window", "0.3", "--no-bandwidth",
                       env={"COLUMNS": "160"}, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "CPU frequency governor" in proc.stdout
    assert "other processes' CPU" in proc.stdout
    verdict = proc.stdout.strip().splitlines()[-1]
    assert verdict.startswith(("quiet:", "busy:")), proc.stdout


def test_require_quiet_refuses_a_busy_machine_before_any_cell(tmp_path: Path, smol) -> None:
    path, _ = smol
    suite = tmp_path / "timed.yaml"
    suite.write_text(f"""\
name: timed
models: [{{name: m, path: {path}}}]
backends: {{faulty: {{mode: ok}}}}
suites: {{tick: }}
""")
    results = tmp_path / "r"
    with busy():
        proc = harness_cmd("run", str(suite), "--require-quiet", "--results-dir",
                           str(results), "--profiles-dir", str(tmp_path / "p"),
                           "--no-report", env=plugin_env(), timeout=300)
    assert_one_line_error(proc, "machine busy: other processes used", "--require-quiet",
                          "harness doctor", code=2)
    assert not run_dirs(results)
