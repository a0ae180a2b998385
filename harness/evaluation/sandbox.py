"""Run untrusted, model-written Python in a contained child process.

Layers, each recorded in the outcome so a result says what protected it:
- always: a throw-away working directory; a fresh interpreter in isolated mode with
  an empty environment; its own session, killed as a group at the wall-clock timeout;
  rlimits on address space, CPU seconds, file size, open files and (for non-root
  users) processes; and a Python audit hook, installed before the program runs and
  impossible to remove, that refuses sockets, subprocesses, fork/exec, ctypes, and
  any write, delete or rename outside the working directory;
- where the OS allows: a new, empty network namespace (root; or an unprivileged user
  namespace) and, for root, a pids cgroup capping the number of processes.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

GUARD = r'''
import os, sys
ROOT = os.path.realpath(os.getcwd())
BLOCKED = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
           "os.spawn", "os.fork", "os.forkpty", "pty.spawn", "ctypes.", "os.kill",
           "os.killpg", "signal.pthread_kill", "shutil.rmtree", "webbrowser.open")
def inside(path):
    try:
        path = os.fsdecode(path)
    except TypeError:
        return True  # a file descriptor: it was opened under this hook already
    return os.path.realpath(path).startswith(ROOT + os.sep) or os.path.realpath(path) == ROOT
def hook(event, args):
    if event.startswith(BLOCKED):
        raise PermissionError(f"sandbox: {event} is not allowed")
    if event == "open" and args[1] is not None and any(c in str(args[1]) for c in "wax+"):
        if not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]} is not allowed")
    writes = os.O_WRONLY | os.O_RDWR | os.O_CREAT
    if event == "open" and isinstance(args[2], int) and args[2] & writes:
        if not inside(args[0]):
            raise PermissionError(f"sandbox: writing {args[0]} is not allowed")
    if event in ("os.remove", "os.rmdir", "os.rename", "os.mkdir", "os.chmod", "os.symlink",
                 "os.link", "os.truncate", "os.chown", "os.utime"):
        if not all(inside(a) for a in args[:2] if isinstance(a, (str, bytes, os.PathLike))):
            raise PermissionError(f"sandbox: {event} outside the working directory")
sys.addaudithook(hook)
program = open(sys.argv[1]).read()
exec(compile(program, "program.py", "exec"), {"__name__": "__main__"})
'''


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_bytes: int = 1 << 30
    cpu_s: int = 10
    file_bytes: int = 10 << 20
    processes: int = 16
    open_files: int = 64


@dataclass
class Outcome:
    passed: bool
    reason: str
    layers: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def run_untrusted(program: str, limits: Limits | None = None, audit_hook: bool = True
                  ) -> Outcome:
    """Run `program`; passed means it exited 0 within the limits (its asserts held).

    `audit_hook=False` exists so tests can show the OS layers hold on their own.
    """
    limits = limits or Limits()
    work = Path(tempfile.mkdtemp(prefix="harness-sandbox-"))
    cgroup = _pids_cgroup(limits.processes)
    layers = ["workdir", "isolated-python", "session-kill", "rlimits"]
    if audit_hook:
        layers.append("audit-hook")
    netns = _can_unshare_net()
    if netns:
        layers.append(f"netns({netns})")
    if cgroup:
        layers.append("pids-cgroup")
    try:
        (work / "program.py").write_text(program)
        guard = GUARD if audit_hook else GUARD.replace("sys.addaudithook(hook)", "")
        (work / "guard.py").write_text(guard)
        start = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "guard.py", "program.py"], cwd=work,
            env={"PATH": "/usr/bin:/bin", "HOME": str(work), "PYTHONHASHSEED": "0"},
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=lambda: _confine(limits, netns, cgroup),
        )
        try:
            _, err = proc.communicate(timeout=limits.timeout_s)
            timed_out = False
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            _kill_all(proc, cgroup)
        duration = time.monotonic() - start
        if timed_out:
            return Outcome(False, f"timed out after {limits.timeout_s:g} s", layers, duration)
        if proc.returncode == 0:
            return Outcome(True, "passed", layers, duration)
        if proc.returncode < 0:
            reason = f"killed by {signal.Signals(-proc.returncode).name}"
        else:
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            reason = lines[-1][:200] if lines else f"exit code {proc.returncode}"
        return Outcome(False, reason, layers, duration)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        if cgroup:
            _remove_cgroup(cgroup)


def _confine(limits: Limits, netns: str | None, cgroup: Path | None) -> None:
    """Runs in the child between fork and exec."""
    if cgroup:
        (cgroup / "cgroup.procs").write_text(str(os.getpid()))
    if netns:
        libc = ctypes.CDLL(None, use_errno=True)
        flags = 0x40000000 if netns == "root" else 0x40000000 | 0x10000000  # NEWNET|NEWUSER
        libc.unshare(flags)
    for res, value in ((resource.RLIMIT_AS, limits.memory_bytes),
                       (resource.RLIMIT_CPU, limits.cpu_s),
                       (resource.RLIMIT_FSIZE, limits.file_bytes),
                       (resource.RLIMIT_NOFILE, limits.open_files),
                       (resource.RLIMIT_NPROC, limits.processes),
                       (resource.RLIMIT_CORE, 0)):
        resource.setrlimit(res, (value, value))


def _can_unshare_net() -> str | None:
    """'root' or 'user' when a child may enter a new network namespace, else None."""
    flags = ["-n"] if os.geteuid() == 0 else ["-r", "-n"]
    try:
        ok = subprocess.run(["unshare", *flags, "true"], capture_output=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if ok.returncode != 0:
        return None
    return "root" if os.geteuid() == 0 else "user"


def _pids_cgroup(limit: int) -> Path | None:
    if os.geteuid() != 0:
        return None
    for base in (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup")):
        if (base / "cgroup.procs").exists() and os.access(base, os.W_OK):
            path = base / f"harness-sandbox-{uuid.uuid4().hex[:12]}"
            try:
                path.mkdir()
                (path / "pids.max").write_text(str(limit))
                return path
            except OSError:
                _remove_cgroup(path)
    return None


def _kill_all(proc: subprocess.Popen, cgroup: Path | None) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if cgroup:
        try:
            for pid in (cgroup / "cgroup.procs").read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
        except OSError:
            pass
    proc.wait()


def _remove_cgroup(path: Path) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.05)
