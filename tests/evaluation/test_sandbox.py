"""Model-written code is contained: hostile programs fail and harm nothing."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import psutil
import pytest

from harness.data.humaneval import load_problems, program
from harness.evaluation.sandbox import Limits, SandboxUnavailable, run_untrusted
from harness.evaluation.sandbox_layers import bwrap_path

LIMITS = Limits(timeout_s=3, memory_bytes=512 << 20, cpu_s=3)


def _escape_path() -> Path:
    """Outside the sandbox's own /tmp (which is private, so a write there harms nothing)."""
    return Path.home() / f".harness-escape-{uuid.uuid4().hex}"


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


# The OS layers alone (bubblewrap's namespaces and read-only view, uid 65534, rlimits,
# pids cgroup) stop every one of these; the audit hook is the last layer, not the wall.
OS_ALONE = list(_hostile())
CASES = [(name, True) for name in _hostile()] + [(name, False) for name in OS_ALONE]
needs_bwrap = pytest.mark.skipif(bwrap_path() is None and not os.environ.get(
    "HARNESS_REQUIRE_BWRAP"), reason="needs bubblewrap (bwrap): apt-get install bubblewrap")


@needs_bwrap
@pytest.mark.parametrize("name,audit_hook", CASES,
                         ids=[f"{n}-{'all-layers' if a else 'os-only'}" for n, a in CASES])
def test_hostile_completion_is_contained_and_fails(name: str, audit_hook: bool) -> None:
    code, target = _hostile()[name]
    outcome = run_untrusted(code, LIMITS, audit_hook=audit_hook)
    assert not outcome.passed, outcome
    assert outcome.duration_s < LIMITS.timeout_s + 2
    assert {"bwrap", "mntns", "pidns", "netns", "uid=65534" if os.geteuid() == 0 else "userns",
            "rlimits"} <= set(outcome.layers), outcome.layers
    assert ("audit-hook" in outcome.layers) == audit_hook
    if target is not None:
        assert not target.exists()
    leftovers = [p.pid for p in psutil.process_iter(["cmdline"])
                 if "def _guard" in " ".join(p.info["cmdline"] or [])
                 and p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], "a sandboxed process outlived its run"


def test_missing_bwrap_refuses_unless_weak_is_accepted(monkeypatch) -> None:
    monkeypatch.setenv("HARNESS_BWRAP", "/nonexistent/bwrap")
    with pytest.raises(SandboxUnavailable, match="apt-get install bubblewrap"):
        run_untrusted("pass\n", LIMITS)
    weak = run_untrusted("assert sum(range(10)) == 45\n", LIMITS, weak=True)
    assert weak.passed and weak.layers[0] == "weak" and "bwrap" not in weak.layers, weak
    for code, _ in _hostile().values():
        assert not run_untrusted(code, LIMITS, weak=True).passed, code


def test_bwrap_that_fails_to_start_is_a_setup_failure_never_a_pass(tmp_path, monkeypatch) -> None:
    fake = tmp_path / "bwrap"
    fake.write_text("#!/bin/sh\necho 'bwrap: No permissions to create new namespace' >&2\n"
                    "exit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("HARNESS_BWRAP", str(fake))
    outcome = run_untrusted("pass\n", LIMITS)
    assert not outcome.passed and outcome.reason.startswith("sandbox setup failed"), outcome
    assert not {"mntns", "pidns", "netns"} & set(outcome.layers), outcome.layers


@needs_bwrap
def test_the_run_goes_on_after_hostile_code() -> None:
    for code, _ in _hostile().values():
        run_untrusted(code, LIMITS)
    assert run_untrusted("assert sum(range(10)) == 45\n", LIMITS).passed


@needs_bwrap
def test_canonical_solutions_pass_and_wrong_ones_fail() -> None:
    problems = load_problems()
    assert len(problems) == 164
    for problem in problems[:5]:
        good = run_untrusted(program(problem, problem["canonical_solution"]), LIMITS)
        assert good.passed, (problem["task_id"], good.reason)
        bad = run_untrusted(program(problem, "    return None\n"), LIMITS)
        assert not bad.passed
