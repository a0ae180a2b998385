"""The runner's orchestration: failures are recorded per cell, runs resume after a kill."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from harness.results.frame import load_frame
from harness.results.store import read_cells
from tests.conftest import harness_cmd, plugin_env, run_dirs

pytestmark = pytest.mark.slow


def _cells(run_dir: Path) -> list:
    return list(read_cells(run_dir / "cells.jsonl"))


def _only_run(results: Path) -> Path:
    runs = run_dirs(results)
    assert len(runs) == 1, runs
    return runs[0]


def test_corrupted_gguf_fails_its_cell_and_the_others_succeed(tmp_path: Path, smol) -> None:
    path, _ = smol
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(path.read_bytes()[: 4 << 20])  # a GGUF cut off inside its tensor data
    suite = tmp_path / "crash.yaml"
    suite.write_text(f"""\
name: crash
models: [smollm2-135m, {{name: broken, path: {broken}}}]
formats: [source]
backends: {{llama_cpp: {{threads: 2, n_ctx: 64}}}}
suites: {{memory: {{prompt_tokens: 8, gen_tokens: 2}}}}
""")
    proc = harness_cmd("run", str(suite), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), "--no-report")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    cells = {c.model: c for c in _cells(_only_run(tmp_path / "r"))}
    assert cells["smollm2-135m"].status == "ok"
    assert cells["broken"].status == "failed"
    assert cells["broken"].error  # the cause is stored, not just the status
    assert "Traceback" not in proc.stdout


def test_segfault_hang_kill_and_exception_are_each_recorded(tmp_path: Path, smol) -> None:
    path, _ = smol
    rows = {}
    for mode in ("crash", "hang", "killed", "raise", "ok"):
        suite = tmp_path / f"{mode}.yaml"
        suite.write_text(f"""\
name: faulty-{mode}
models: [{{name: m, path: {path}}}]
backends: {{faulty: {{mode: {mode}}}}}
suites: {{tick: }}
timeout_s: 4
""")
        proc = harness_cmd("run", str(suite), "--results-dir", str(tmp_path / mode),
                           "--profiles-dir", str(tmp_path / "p"), "--no-report",
                           env=plugin_env())
        assert proc.returncode == (0 if mode == "ok" else 1), proc.stdout + proc.stderr
        rows[mode] = _cells(_only_run(tmp_path / mode))[0]
    assert "SIGSEGV" in rows["crash"].error
    assert "timed out after 4 s" in rows["hang"].error
    assert "SIGKILL (out of memory" in rows["killed"].error
    assert "refused on purpose" in rows["raise"].error
    assert rows["ok"].status == "ok" and rows["ok"].metrics[0].name == "tick_s"


def test_killed_run_resumes_without_rerunning_finished_cells(tmp_path: Path, smol) -> None:
    suite = tmp_path / "resume.yaml"
    suite.write_text("""\
name: resume
models: [smollm2-135m]
formats: [source]
backends: {llama_cpp: {threads: 2, n_ctx: 64}}
suites:
  memory: {prompt_tokens: 8, gen_tokens: 2}
  throughput: {prompt_lengths: [8], gen_tokens: 4, repetitions: 2, ttft_prompt_tokens: 0}
""")
    results = tmp_path / "r"
    args = ["harness", "run", str(suite), "--results-dir", str(results),
            "--profiles-dir", str(tmp_path / "p"), "--no-report"]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    cells_file = None
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        found = list(results.glob("*/*/cells.jsonl"))
        if found and found[0].read_text().count("\n") >= 1:
            cells_file = found[0]
            break
        time.sleep(0.05)
    assert cells_file is not None, "the first cell never finished"
    os.killpg(proc.pid, signal.SIGKILL)  # a hard kill: no cleanup, no goodbye
    proc.wait()
    before = cells_file.read_text().splitlines()
    assert len(before) == 1, "killed too late to test resuming"
    first = json.loads(before[0])

    done = harness_cmd("run", str(suite), "--results-dir", str(results),
                       "--profiles-dir", str(tmp_path / "p"), "--no-report", "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 already stored" in done.stdout
    after = cells_file.read_text().splitlines()
    assert after[0] == before[0], "a finished cell was rewritten"
    keys = [json.loads(line)["cell_key"] for line in after]
    assert len(keys) == 2 and len(set(keys)) == 2, "a finished cell ran again"
    assert {json.loads(line)["suite"] for line in after} == {"memory", "throughput"}
    assert first["status"] == "ok"

    again = harness_cmd("run", str(suite), "--results-dir", str(results),
                        "--profiles-dir", str(tmp_path / "p"), "--no-report", "--resume")
    assert again.returncode == 0 and "2 already stored" in again.stdout
    assert cells_file.read_text().splitlines() == after


def test_run_without_profile_captures_one_and_rows_reference_it(smoke_run: Path) -> None:
    frame = load_frame([smoke_run])
    profiles = list((smoke_run.parents[2] / "hardware_profiles").glob("*.yaml"))
    assert len(profiles) == 1
    assert set(frame["profile_id"]) == {profiles[0].stem}
