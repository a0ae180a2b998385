"""Hostile programs against the HumanEval sandbox: each is scored as failed, leaves
nothing behind (no process, no file outside, a planted folder unchanged) and reads no
secret (a planted file, a planted environment variable, the user's home, the parent's
environment): the secret never appears in its Outcome.

Each program is written so that it PASSES if its attack works (it ends normally, or
forges the pass token), so "scored as failed" is the evidence that the attack failed.
Rows marked `os` run twice: with every layer, and without the audit hook (bubblewrap,
the uid, the rlimits and the cgroup must hold on their own).
"""

from __future__ import annotations

import os
import tempfile
import time
import uuid
from pathlib import Path

import psutil
import pytest

from harness.evaluation.sandbox import Limits, run_untrusted
from harness.evaluation.sandbox_layers import bwrap_path
from harness.suites.humaneval import HumanEvalParams
from tests.conftest import harness_cmd
from tests.reliability.conftest import assert_one_line_error

pytestmark = pytest.mark.skipif(bwrap_path() is None and not os.environ.get(
    "HARNESS_REQUIRE_BWRAP"), reason="needs bubblewrap (bwrap): apt-get install bubblewrap")

LIMITS = Limits(timeout_s=8, memory_bytes=512 << 20, cpu_s=8)
SECRET = f"s3cret-{uuid.uuid4().hex}"
ENV = "HARNESS_TEST_SECRET"
FORGE = ("import re, os\n"
         "m = re.search(rb'\\b[0-9a-f]{{32}}\\b', data)\n"
         "os.write(1, b'\\n' + m.group() + b'\\n')\nos._exit(0)\n")

# name: (program, also without the audit hook?). {planted}, {home_file}, {env} are filled.
HOSTILE: dict[str, tuple[str, bool]] = {
    "rewrite-hook-via-main-module": (
        "import sys\ng = vars(sys.modules['__main__'])\n"
        "g.update(BLOCKED=(), ROOT='/', inside=lambda p: True, hook=lambda e, a: None)\n"
        "open('{planted}/pwned', 'w').write('x')\n", False),
    "write-through-dir-fd": (
        "import os\nfd = os.open('{planted}', os.O_RDONLY)\n"
        "os.close(os.open('pwned', os.O_WRONLY | os.O_CREAT, dir_fd=fd))\n", True),
    "mkdir-through-dir-fd": (
        "import os\nfd = os.open('{planted}', os.O_RDONLY)\nos.mkdir('pwned', dir_fd=fd)\n",
        True),
    "truncate-with-rdonly-trunc": (
        "import os\nos.close(os.open('{planted}/secret.txt', os.O_RDONLY | os.O_TRUNC))\n",
        True),
    "read-parent-environ": (
        "import os\nfound = b''\nfor pid in [p for p in os.listdir('/proc') if p.isdigit()]:\n"
        "    try:\n        found += open(f'/proc/{{pid}}/environ', 'rb').read()\n"
        "    except OSError:\n        pass\nassert b'{env}' in found\n", True),
    "read-user-home": (
        "import os\nassert open('{home_file}').read()\n", True),
    "read-planted-file": (
        "data = open('{planted}/secret.txt').read()\nimport sys\nprint(data, file=sys.stderr)\n"
        "raise type(data, (Exception,), {{}})(data)\n", True),
    "read-planted-env": (
        "import os\nassert os.environ.get('{env}')\n", True),
    "sys-exit-0-before-check": ("import sys\nsys.exit(0)\ncheck(None)\n", True),
    "os-exit-0-before-check": ("import os\nos._exit(0)\ncheck(None)\n", True),
    "setsid-double-fork-daemon": (
        "import os, sys, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n"
        "        time.sleep(30)\n        open('{planted}/daemon', 'w').write('x')\n"
        "    os._exit(0)\nsys.exit(0)\n", True),
    "proc-self-mem-token-forge": (
        "data = b''\nmem = open('/proc/self/mem', 'rb')\nfor line in open('/proc/self/maps'):\n"
        "    lo, hi = (int(x, 16) for x in line.split()[0].split('-'))\n"
        "    if 'rw' in line.split()[1]:\n        mem.seek(lo)\n"
        "        try:\n            data += mem.read(hi - lo)\n        except OSError:\n"
        "            pass\n" + FORGE, False),
    "frame-walk-token-forge": (
        "import sys\ndata = sys._getframe(1).f_locals['token']\n" + FORGE, False),
    "traceback-frame-token-forge": (
        "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n"
        "    data = e.__traceback__.tb_frame.f_back.f_locals['token']\n" + FORGE, False),
    "read-token-pipe-fds": (
        "import os\ndata = b''\nfor fd in range(3, 64):\n    try:\n"
        "        data += os.read(fd, 4096)\n    except OSError:\n        pass\n" + FORGE, True),
    "ptrace-parent-via-ctypes": (
        "import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
        "assert libc.ptrace(16, os.getppid(), 0, 0) == 0\n", True),
    "socket-via-_socket": (
        "import _socket\ns = _socket.socket()\ns.settimeout(3)\ns.connect(('1.1.1.1', 53))\n",
        True),
    "posix-spawn": (
        "import os, sys\npid = os.posix_spawn(sys.executable, [sys.executable, '-c', "
        "\"open('{planted}/pwned', 'w')\"], {{}})\nos.waitpid(pid, 0)\n"
        "assert os.path.exists('{planted}/pwned')\n", True),
    "ctypes-system": (
        "import ctypes, os\nctypes.CDLL(None).system(b'touch {planted}/pwned')\n"
        "assert os.path.exists('{planted}/pwned')\n", True),
    "write-into-stdlib": (
        "import os\nopen(os.__file__, 'a').write('pwned')\n", True),
    "fork-bomb": (
        "import os\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n"
        "        pass\n", True),
    "huge-output": ("while True:\n    print('x' * 100000)\n", True),
}
CASES = [(name, True) for name in HOSTILE] + [(n, False) for n, (_, o) in HOSTILE.items() if o]


@pytest.fixture
def planted(tmp_path, monkeypatch):
    """A folder holding a secret file, a secret file in the user's home, and a secret in
    this process's environment; yields (folder, home file) and removes the home file."""
    folder = tmp_path / "planted"
    folder.mkdir()
    (folder / "secret.txt").write_text(SECRET)
    home_file = Path.home() / f".harness-test-secret-{uuid.uuid4().hex[:8]}"
    home_file.write_text(SECRET)
    monkeypatch.setenv(ENV, SECRET)
    try:
        yield folder, home_file
    finally:
        home_file.unlink()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in folder.rglob("*")}


def _sandboxes(since: float) -> list[int]:
    """Sandboxed interpreters started since `since` that are still alive."""
    found = []
    for proc in psutil.process_iter(["cmdline", "create_time"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "def _guard" in cmd and proc.info["create_time"] >= since - 1 and proc.is_running() \
                and proc.status() != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


@pytest.mark.parametrize("name,audit_hook", CASES,
                         ids=[f"{n}-{'all-layers' if a else 'no-audit-hook'}" for n, a in CASES])
def test_hostile_program_fails_leaves_nothing_and_reads_no_secret(
        planted, name: str, audit_hook: bool) -> None:
    folder, home_file = planted
    code = HOSTILE[name][0].format(planted=folder, home_file=home_file, env=ENV)
    before, temps = _snapshot(folder), set(os.listdir(tempfile.gettempdir()))
    since = time.time()
    outcome = run_untrusted(code, LIMITS, audit_hook=audit_hook)
    assert not outcome.passed, outcome
    assert SECRET not in repr(outcome)
    assert "bwrap" in outcome.layers and "netns" in outcome.layers, outcome.layers
    assert ("audit-hook" in outcome.layers) == audit_hook
    deadline = time.time() + 10
    while _sandboxes(since) and time.time() < deadline:
        time.sleep(0.2)
    assert _sandboxes(since) == [], "a sandboxed process outlived its run"
    assert _snapshot(folder) == before
    assert home_file.read_text() == SECRET
    new = {n for n in set(os.listdir(tempfile.gettempdir())) - temps if "sandbox" in n}
    assert not new, new


def test_huge_output_is_cut_off_at_the_cap() -> None:
    outcome = run_untrusted(HOSTILE["huge-output"][0], LIMITS)
    assert outcome.reason.startswith("output over"), outcome


def test_the_token_is_needed_and_a_real_pass_still_passes() -> None:
    good = run_untrusted("def check(f):\n    assert f(2) == 4\ncheck(lambda x: x * x)\n", LIMITS)
    assert good.passed, good
    early = run_untrusted("import sys\nsys.exit(0)\n", LIMITS)
    assert not early.passed and "before check()" in early.reason


BAD_SANDBOX = {
    "bwrap-missing": ("", "/nonexistent/bwrap", "apt-get install bubblewrap"),
    "sandbox-not-a-choice": (", sandbox: none", None, "suites.humaneval.sandbox"),
}


@pytest.mark.parametrize("name", BAD_SANDBOX, ids=list(BAD_SANDBOX))
def test_bad_sandbox_setting_is_a_one_line_error(tmp_path, name: str) -> None:
    extra, bwrap, needle = BAD_SANDBOX[name]
    plan = tmp_path / "plan.yaml"
    plan.write_text("name: he\nmodels: [smollm2-135m]\nbackends: {llama_cpp: {threads: 2}}\n"
                    "suites: {humaneval: {allow_code_execution: true, problems: 1"
                    + extra + "}}\n")
    env = {"HARNESS_BWRAP": bwrap} if bwrap else {}
    proc = harness_cmd("run", str(plan), "--results-dir", str(tmp_path / "r"), "--no-report",
                       env=env, timeout=120)
    assert_one_line_error(proc, "plan.yaml", "suites.humaneval", needle)
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("cells.jsonl"))


def test_weak_sandbox_is_accepted_without_bwrap_and_says_so(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_BWRAP", "/nonexistent/bwrap")
    params = HumanEvalParams(allow_code_execution=True, sandbox="weak")
    outcome = run_untrusted("assert True\n", LIMITS, weak=params.sandbox == "weak")
    assert outcome.passed and "+".join(outcome.layers).startswith("weak+"), outcome
