"""Model-written code is contained: hostile programs fail and harm nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psutil
import pytest

from harness.data.humaneval import load_problems, program
from harness.evaluation.sandbox import Limits, run_untrusted

LIMITS = Limits(timeout_s=3, memory_bytes=512 << 20, cpu_s=3)


def _escape_path() -> Path:
    return Path("/tmp") / f"harness-escape-{uuid.uuid4().hex}"


def _hostile() -> dict[str, tuple[str, Path | None]]:
    target = _escape_path()
    return {
        "infinite loop": ("while True:\n    pass\n", None),
        "fork bomb": ("import os\nwhile True:\n    try:\n        os.fork()\n"
                      "    except OSError:\n        pass\n", None),
        "write outside": (f"open({str(target)!r}, 'w').write('pwned')\n", target),
        "large allocation": ("x = bytearray(16 << 30)\nx[-1] = 1\n", None),
        "network call": ("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=2)\n",
                         None),
        "subprocess": ("import subprocess\nsubprocess.run(['true'])\n", None),
    }


# The OS layers alone (rlimits, network namespace, pids cgroup) stop these too; writes
# outside the folder and subprocesses are stopped by the audit hook only when run as root.
OS_ALONE = ["infinite loop", "fork bomb", "large allocation", "network call"]
CASES = [(name, True) for name in _hostile()] + [(name, False) for name in OS_ALONE]


@pytest.mark.parametrize("name,audit_hook", CASES,
                         ids=[f"{n}-{'all-layers' if a else 'os-only'}" for n, a in CASES])
def test_hostile_completion_is_contained_and_fails(name: str, audit_hook: bool) -> None:
    code, target = _hostile()[name]
    outcome = run_untrusted(code, LIMITS, audit_hook=audit_hook)
    assert not outcome.passed, outcome
    assert outcome.duration_s < LIMITS.timeout_s + 2
    if target is not None:
        assert not target.exists()
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                 if "program.py" in (p.info["cmdline"] or []) and p.pid != os.getpid()]
    assert leftovers == [], "a sandboxed process outlived its run"


def test_the_run_goes_on_after_hostile_code() -> None:
    for code, _ in _hostile().values():
        run_untrusted(code, LIMITS)
    assert run_untrusted("assert sum(range(10)) == 45\n", LIMITS).passed


def test_canonical_solutions_pass_and_wrong_ones_fail() -> None:
    problems = load_problems()
    assert len(problems) == 164
    for problem in problems[:5]:
        good = run_untrusted(program(problem, problem["canonical_solution"]), LIMITS)
        assert good.passed, (problem["task_id"], good.reason)
        bad = run_untrusted(program(problem, "    return None\n"), LIMITS)
        assert not bad.passed
