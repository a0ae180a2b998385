"""Run one worker task in a child process with a timeout and turn its death into a cause.

The task goes to the child on its stdin and the outcome comes back through a pipe, so no
file outlives a killed runner: nothing is written to a temporary folder, and the child
dies with the runner (PR_SET_PDEATHSIG, harness.runner.worker).
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError

_MAX_OUTCOME = 256 << 20
"""A child that sends more than this is broken (a cell's outcome is kilobytes)."""


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
    log = _open_log(log_path)
    read_fd, write_fd = os.pipe()
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            [python or sys.executable, "-m", "harness.runner.worker", str(write_fd),
             str(os.getpid())],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE, pass_fds=(write_fd,),
            start_new_session=True,
        )
    finally:
        os.close(write_fd)
        log.close()
    try:
        _send(proc, spec)
        received, timed_out = _wait(proc, read_fd, timeout_s, start, tick)
    except BaseException:  # Ctrl-C in the parent must not leave the child running
        _kill_group(proc)
        raise
    finally:
        os.close(read_fd)
    duration = time.monotonic() - start
    if timed_out:
        return ChildOutcome(False, {}, f"timed out after {timeout_s:g} s", duration)
    return _outcome(received, proc.returncode, log_path, duration)


def _open_log(log_path: Path):
    try:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        return open(log_path, "ab")
    except OSError as exc:
        raise UsageError(f"{log_path}: cannot be written ({exc.strerror}); fix: free disk "
                         "space or check the results folder's permissions, then run again "
                         "with --resume") from None


def _send(proc: subprocess.Popen, spec: dict) -> None:
    try:
        proc.stdin.write(json.dumps(spec).encode())
        proc.stdin.close()
    except BrokenPipeError:  # the child died before reading it: its exit status says why
        pass


def _wait(proc: subprocess.Popen, read_fd: int, timeout_s: float, start: float,
          tick: Callable[[float], None] | None) -> tuple[bytes, bool]:
    """Collect what the child sends until it exits (or times out: then kill its group)."""
    chunks: list[bytes] = []
    size, open_ = 0, True
    while True:
        if open_ and select.select([read_fd], [], [], 0.25)[0]:
            chunk = os.read(read_fd, 1 << 20)
            open_ = bool(chunk)
            size += len(chunk)
            if size <= _MAX_OUTCOME:
                chunks.append(chunk)
        elif not open_:
            time.sleep(0.25)
        if proc.poll() is not None:
            break
        elapsed = time.monotonic() - start
        if elapsed > timeout_s:
            _kill_group(proc)
            return b"", True
        if tick:
            tick(elapsed)
    os.set_blocking(read_fd, False)  # a grandchild may hold the pipe open: take what is there
    try:
        while chunk := os.read(read_fd, 1 << 20):
            chunks.append(chunk)
    except BlockingIOError:
        pass
    _kill_group(proc)  # nothing the child started may outlive it
    return b"".join(chunks), False


def _outcome(received: bytes, returncode: int, log_path: Path,
             duration: float) -> ChildOutcome:
    """The child's outcome, or the cause of its death; a cut-off or garbled outcome (the
    child killed while sending it) is a failure of that task, never of the run."""
    outcome = None
    if received:
        try:
            outcome = json.loads(received)
        except ValueError:
            cause = _death_cause(returncode, log_path) if returncode else "child process"
            return ChildOutcome(False, {}, f"{cause}; its result was cut off or unreadable "
                                f"({len(received)} bytes)", duration)
        if not isinstance(outcome, dict):
            return ChildOutcome(False, {}, "child process sent a result that is not a JSON "
                                "object", duration)
    if outcome is not None and outcome.get("status") == "ok":
        return ChildOutcome(True, outcome, None, duration)
    if outcome is not None:
        return ChildOutcome(False, outcome, str(outcome.get("error", "failed")), duration)
    return ChildOutcome(False, {}, _death_cause(returncode, log_path), duration)


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
    except OSError:
        return ""
    return lines[-1].strip()[:300] if lines else ""


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()
