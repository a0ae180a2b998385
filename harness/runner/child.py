"""Run one worker task in a child process with a timeout and turn its death into a cause."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ChildOutcome:
    ok: bool
    payload: dict
    error: str | None
    duration_s: float


def run_child(spec: dict, timeout_s: float, log_path: Path,
              tick: Callable[[float], None] | None = None,
              python: str | None = None) -> ChildOutcome:
    """Run `harness.runner.worker` on `spec` with `python` (default: this interpreter);
    never raises for the child's failures."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="harness-cell-") as tmp:
        spec_path, out_path = Path(tmp) / "spec.json", Path(tmp) / "out.json"
        spec_path.write_text(json.dumps(spec))
        start = time.monotonic()
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [python or sys.executable, "-m", "harness.runner.worker",
                 str(spec_path), str(out_path)],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            timed_out = False
            try:
                while proc.poll() is None:
                    elapsed = time.monotonic() - start
                    if elapsed > timeout_s:
                        timed_out = True
                        _kill_group(proc)
                        break
                    if tick:
                        tick(elapsed)
                    time.sleep(0.25)
            except BaseException:  # Ctrl-C in the parent must not leave the child running
                _kill_group(proc)
                raise
        duration = time.monotonic() - start
        if timed_out:
            return ChildOutcome(False, {}, f"timed out after {timeout_s:g} s", duration)
        outcome = json.loads(out_path.read_text()) if out_path.is_file() else None
    if outcome is not None and outcome.get("status") == "ok":
        return ChildOutcome(True, outcome, None, duration)
    if outcome is not None:
        return ChildOutcome(False, outcome, outcome.get("error", "failed"), duration)
    return ChildOutcome(False, {}, _death_cause(proc.returncode, log_path), duration)


def _death_cause(returncode: int, log_path: Path) -> str:
    if returncode < 0:
        name = signal.Signals(-returncode).name
        cause = f"child process killed by {name}"
        if name == "SIGKILL":
            cause += " (out of memory, or killed from outside)"
        elif name in ("SIGSEGV", "SIGABRT", "SIGBUS", "SIGILL", "SIGFPE"):
            cause = f"engine crashed ({name})"
    else:
        cause = f"child process exited with code {returncode} without a result"
    tail = _last_line(log_path)
    return f"{cause}; last log line: {tail}" if tail else cause


def _last_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except FileNotFoundError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()
