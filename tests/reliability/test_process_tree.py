"""Process tree: SIGKILL the runner (only the runner) while a cell runs llama-cpp-python's
bundled server or llama.cpp's llama-server; afterwards no descendant process and no
temporary folder remains."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import ROOT, plugin_env

pytestmark = pytest.mark.slow


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def _cmdline(proc: psutil.Process) -> str:
    """"" for a process that is gone or a zombie by now (the tree changes while we look)."""
    try:
        return " ".join(proc.cmdline())
    except psutil.Error:
        return ""


def _alive(procs: list[psutil.Process]) -> list[str]:
    alive = []
    for proc in procs:
        try:
            if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
        except psutil.Error:
            pass
    return alive


def _kill_runner_during(suite: Path, tmp_path: Path, marker: str,
                        caches: tuple[str, ...] = ()) -> None:
    """`caches`: names of folders a library keeps in TMPDIR on purpose (not leftovers)."""
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, **plugin_env(), "TMPDIR": str(tmpdir),
           "HARNESS_CACHE_DIR": str(tmp_path / "cache")}
    runner = subprocess.Popen(
        ["harness", "run", str(suite), "--results-dir", str(tmp_path / "r"),
         "--profiles-dir", str(tmp_path / "p"), "--no-report"], cwd=ROOT, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tree: list[psutil.Process] = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and runner.poll() is None:
        tree = _descendants(runner.pid)
        if any(marker in _cmdline(p) for p in tree):
            break
        time.sleep(0.2)
    assert runner.poll() is None, "the run ended before the server started"
    assert any(marker in _cmdline(p) for p in tree), "no server seen"
    time.sleep(1)
    tree = _descendants(runner.pid)  # the snapshot: everything the runner started
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    deadline = time.monotonic() + 60
    while _alive(tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(tree), _alive(tree)
    assert [n for n in sorted(os.listdir(tmpdir)) if not n.startswith(caches)] == []


def test_sigkill_of_the_runner_during_a_bundled_server_cell(tmp_path, smol) -> None:
    path, _ = smol
    suite = tmp_path / "serve.yaml"
    suite.write_text(f"""\
name: serve
models: [{{name: m, path: {path}}}]
formats: [source]
backends: {{openai_http: {{threads: 1, n_ctx: 256, n_batch: 64}}}}
suites: {{serving: {{concurrency: [1], requests_per_level: 50, prompt_tokens: 16,
                     max_tokens: 32, warmup: 1}}}}
timeout_s: 600
""")
    _kill_runner_during(suite, tmp_path, "llama_cpp.server")


def test_sigkill_of_the_runner_during_a_slow_cell(tmp_path, smol) -> None:
    path, _ = smol
    suite = tmp_path / "slow.yaml"
    suite.write_text(f"name: slow\nmodels: [{{name: m, path: {path}}}]\n"
                     "backends: {faulty: {sleep_s: 600}}\nsuites: {tick: }\n")
    _kill_runner_during(suite, tmp_path, "harness.runner.worker")


def test_sigkill_of_the_runner_during_a_llama_server_cell(tmp_path, smol, monkeypatch) -> None:
    from harness.backends.llama_server import BINARY_ENV, binary

    monkeypatch.setenv(BINARY_ENV, binary())  # the run's own cache folder is empty
    path, _ = smol
    suite = tmp_path / "serve.yaml"
    suite.write_text(f"""\
name: serve
models: [{{name: m, path: {path}}}]
formats: [source]
backends: {{llama_server: {{threads: 1, n_ctx: 512, parallel: 2}}}}
suites: {{serving: {{concurrency: [2], requests_per_level: 50, prompt_tokens: 16,
                     max_tokens: 32, warmup: 1}}}}
timeout_s: 600
""")
    _kill_runner_during(suite, tmp_path, "llama-server")
