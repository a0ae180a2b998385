"""Crash consistency: SIGKILL the runner (only the runner: its workers must die with it)
at 20 seeded random points of a run of the fault-injecting test backend, then
`--resume` until done. Every cell is stored exactly once and the file reads back."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

from harness.results.store import read_cells
from tests.conftest import ROOT, plugin_env, run_dirs

KILLS = 20
MODELS = 3


def _start(suite: Path, tmp_path: Path, resume: bool) -> subprocess.Popen:
    cmd = ["harness", "run", str(suite), "--results-dir", str(tmp_path / "r"),
           "--profiles-dir", str(tmp_path / "p"), "--no-report",
           *(["--resume"] if resume else [])]
    env = {**os.environ, **plugin_env(), "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def test_sigkill_at_random_points_then_resume_stores_each_cell_once(tmp_path, smol) -> None:
    path, _ = smol
    models = ", ".join(f"{{name: m{i}, path: {path}}}" for i in range(MODELS))
    suite = tmp_path / "crash.yaml"
    # nan: every cell stores NaN and infinite samples, which must read back too
    suite.write_text(f"name: crash\nmodels: [{models}]\n"
                     "backends: {faulty: {mode: nan, sleep_s: 0.3}}\n"
                     "suites: {tick: , widgets: }\ntimeout_s: 600\n")
    rng = random.Random(10)
    for _ in range(KILLS):
        proc = _start(suite, tmp_path, resume=bool(run_dirs(tmp_path / "r")))
        time.sleep(rng.uniform(0.0, 8.0))
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    for _ in range(3):
        proc = _start(suite, tmp_path, resume=bool(run_dirs(tmp_path / "r")))
        out = proc.communicate(timeout=600)[0]
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, out
    runs = run_dirs(tmp_path / "r")
    assert len(runs) == 1, runs
    cells = list(read_cells(runs[0] / "cells.jsonl"))
    keys = [c.cell_key for c in cells]
    assert len(keys) == len(set(keys)) == 2 * MODELS, keys
    assert {(c.model, c.suite) for c in cells} == {(f"m{i}", s) for i in range(MODELS)
                                                   for s in ("tick", "widgets")}
    assert all(c.status == "ok" for c in cells), [c.error for c in cells]
    quarantined = runs[0] / "cells.quarantine.jsonl"
    for line in quarantined.read_bytes().splitlines() if quarantined.exists() else []:
        assert not line.endswith(b"}"), "a whole line was quarantined"
