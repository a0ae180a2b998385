"""Shared checks of the fault and bad-input tables: every bad input ends in one line that
names the file or field and the fix, exit code 2, and no traceback."""

from __future__ import annotations

import subprocess


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str,
                          code: int = 2) -> str:
    """The error line of a failed `harness` command; each of `needles` must appear in it."""
    out = proc.stdout + proc.stderr
    assert proc.returncode == code, f"exit {proc.returncode}, wanted {code}:\n{out}"
    assert "Traceback" not in out, out
    errors = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1, f"wanted exactly one 'error:' line:\n{proc.stderr}"
    line = errors[0]
    assert "fix:" in line, line
    for needle in needles:
        assert needle in line, f"{needle!r} not in {line!r}"
    return line
