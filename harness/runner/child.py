"""Run worker tasks in child processes with a timeout and turn a death into a cause.

The task goes to the child on its stdin and the outcome comes back through a pipe, so no
file outlives a killed runner: nothing is written to a temporary folder, and the child
dies with the runner (PR_SET_PDEATHSIG, harness.runner.worker). Several children may run
at once taking turns (lockstep, harness.runner.turns); the runner passes their baton.
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
from harness.runner.turns import GRANT, REQUEST, Baton

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
    return run_children([(spec, log_path, python)], timeout_s, tick)[0]


def run_children(tasks: list[tuple[dict, Path, str | None]], timeout_s: float,
                 tick: Callable[[float], None] | None = None,
                 lockstep: bool = False) -> list[ChildOutcome]:
    """Run one worker per (spec, log path, python) at once, each with `timeout_s`; with
    `lockstep` they take turns (harness.runner.turns) and each may take `timeout_s` times
    the number of workers, since it waits while the others run."""
    limit = timeout_s * (len(tasks) if lockstep else 1)
    children: list[_Child] = []
    try:
        for spec, log_path, python in tasks:
            children.append(_Child(spec, log_path, python, lockstep))
        _supervise(children, limit, tick, Baton(len(children)) if lockstep else None)
    except BaseException:  # Ctrl-C in the parent must not leave a child running
        for child in children:
            child.kill()
        raise
    finally:
        for child in children:
            child.close()
    return [child.outcome(limit) for child in children]


class _Child:
    """One running worker: its process, the pipe its outcome comes through and, in
    lockstep, the runner's ends of its turn pipes."""

    def __init__(self, spec: dict, log_path: Path, python: str | None, lockstep: bool):
        log = _open_log(log_path)
        self.log_path, self.chunks, self.size = log_path, [], 0
        self.timed_out, self.exited = False, False
        self.read_fd, write_fd = os.pipe()
        passed = [write_fd]
        self.request_fd = self.grant_fd = None
        if lockstep:
            self.request_fd, request_w = os.pipe()
            grant_r, self.grant_fd = os.pipe()
            passed += [request_w, grant_r]
            spec = {**spec, "turns": {"request_fd": request_w, "grant_fd": grant_r}}
        self.start = time.monotonic()
        try:
            self.proc = subprocess.Popen(
                [python or sys.executable, "-m", "harness.runner.worker", str(write_fd),
                 str(os.getpid())],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.PIPE,
                pass_fds=tuple(passed), start_new_session=True,
            )
        except BaseException:
            self.close()
            raise
        finally:
            for fd in passed:
                os.close(fd)
            log.close()
        _send(self.proc, spec)

    def read_outcome(self) -> None:
        """Take what the child sent; at its end, stop watching the pipe."""
        chunk = os.read(self.read_fd, 1 << 20)
        self.size += len(chunk)
        if self.size <= _MAX_OUTCOME:
            self.chunks.append(chunk)
        if not chunk:
            self.read_fd = _closed(self.read_fd)

    def finish(self, timed_out: bool = False) -> None:
        """The child exited (or ran out of time): drain its pipe and kill its group."""
        if not timed_out and self.read_fd is not None:  # a grandchild may hold the pipe
            # open: take what is there
            os.set_blocking(self.read_fd, False)
            try:
                while chunk := os.read(self.read_fd, 1 << 20):
                    self.chunks.append(chunk)
            except BlockingIOError:
                pass
        self.timed_out, self.exited = timed_out, True
        self.duration = time.monotonic() - self.start
        self.kill()  # nothing the child started may outlive it
        self.close()

    def kill(self) -> None:
        _kill_group(self.proc)

    def close(self) -> None:
        self.read_fd = _closed(self.read_fd)
        self.request_fd = _closed(self.request_fd)
        self.grant_fd = _closed(self.grant_fd)

    def outcome(self, limit: float) -> ChildOutcome:
        if self.timed_out:
            return ChildOutcome(False, {}, f"timed out after {limit:g} s", self.duration)
        return _outcome(b"".join(self.chunks), self.proc.returncode, self.log_path,
                        self.duration)


def _supervise(children: list[_Child], limit: float, tick: Callable[[float], None] | None,
               baton: Baton | None) -> None:
    """Collect outcomes and pass the baton until every child has exited or timed out."""
    start = time.monotonic()
    while not all(c.exited for c in children):
        watched = {c.read_fd: c for c in children if c.read_fd is not None}
        requests = {c.request_fd: i for i, c in enumerate(children)
                    if c.request_fd is not None}
        fds = [*watched, *requests]
        ready = select.select(fds, [], [], 0.25)[0] if fds else _pause(0.25)
        for fd in ready:
            if fd in watched:
                watched[fd].read_outcome()
            elif fd in requests:
                _on_request(children[requests[fd]], requests[fd], baton)
        for i, child in enumerate(children):
            if child.exited:
                continue
            running = child.proc.poll() is None
            if not running or time.monotonic() - child.start > limit:
                child.finish(timed_out=running)
                if baton is not None:
                    baton.leave(i)
        if baton is not None:
            _pass(children, baton)
        if tick:
            tick(time.monotonic() - start)


def _pause(seconds: float) -> list:
    time.sleep(seconds)
    return []


def _on_request(child: _Child, i: int, baton: Baton) -> None:
    data = os.read(child.request_fd, 64)
    if data:
        for _ in range(data.count(REQUEST)):
            baton.request(i)
    else:  # the worker closed its end: it runs on without turns, or is exiting
        child.request_fd = _closed(child.request_fd)
        baton.leave(i)


def _pass(children: list[_Child], baton: Baton) -> None:
    while (i := baton.grant()) is not None:
        try:
            if children[i].grant_fd is not None:
                os.write(children[i].grant_fd, GRANT)
                return
        except OSError:  # it died between asking and being granted
            pass
        baton.leave(i)


def _closed(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
    return None


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
