"""SIGKILL the runner while a sandboxed program sleeps inside a cell: no descendant of the
runner survives (bubblewrap dies with its parent, the sandbox with bubblewrap) and no
temporary folder is left in TMPDIR."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil
import pytest

from harness.evaluation.sandbox_layers import bwrap_path
from tests.conftest import ROOT, plugin_env

pytestmark = pytest.mark.skipif(bwrap_path() is None and not os.environ.get(
    "HARNESS_REQUIRE_BWRAP"), reason="needs bubblewrap (bwrap): apt-get install bubblewrap")


def _sandboxed(runner: psutil.Process) -> list[psutil.Process]:
    try:
        kids = runner.children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in kids if "def _guard" in " ".join(_cmdline(p))]


def _cmdline(proc: psutil.Process) -> list[str]:
    try:
        return proc.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return []


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(proc)
        except psutil.NoSuchProcess:
            pass
    return alive


def test_killed_runner_leaves_no_sandboxed_process_and_no_temp_folder(tmp_path, smol) -> None:
    path, _ = smol
    tmp = tmp_path / "tmpdir"
    tmp.mkdir()
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"""\
name: sandbox-tree
models: [{{name: m, path: {path}}}]
backends: {{faulty: {{mode: ok}}}}
suites: {{sandbox-sleep: }}
timeout_s: 900
""")
    env = {**os.environ, **plugin_env(), "TMPDIR": str(tmp)}
    runner = subprocess.Popen(
        ["harness", "run", str(plan), "--results-dir", str(tmp_path / "r"),
         "--profiles-dir", str(tmp_path / "p"), "--no-report"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        me = psutil.Process(runner.pid)
        deadline = time.monotonic() + 300
        while not _sandboxed(me):
            assert runner.poll() is None, runner.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the sandboxed program never started"
            time.sleep(0.2)
        time.sleep(0.5)  # let the sandbox settle: bwrap, its init and the guard
        descendants = me.children(recursive=True)
        assert len(descendants) >= 3, descendants  # worker, bwrap (x2), guard at least
    finally:
        runner.send_signal(signal.SIGKILL)
        runner.wait()
    deadline = time.monotonic() + 15
    while _alive(descendants) and time.monotonic() < deadline:
        time.sleep(0.2)
    survivors = [(p.pid, _cmdline(p)[:3]) for p in _alive(descendants)]
    assert survivors == [], f"outlived the killed runner: {survivors}"
    assert sorted(p.name for p in tmp.iterdir()) == [], "temporary files left in TMPDIR"
