"""Run untrusted, model-written Python in a contained child process.

The wall is bubblewrap (`bwrap`): new mount, PID, network, IPC and UTS namespaces (and a
user namespace when not root); a read-only view of only the interpreter, its standard
library (site-packages hidden) and the system's shared libraries; a private /proc and a
small private /tmp; an empty environment; its own session; killed with its parent; run
as uid 65534 with no capability. Further layers: rlimits (memory, CPU, file size, open
files, processes), a pids cgroup (root), a wall-clock timeout, capped output, and, last,
an audit hook (see sandbox_guard). A program passes only when it returned normally and a
per-run random token, printed by the guard after it, reached the output. The program
arrives through stdin (a memfd) and the token through a pipe: nothing is written to the
host's disk. Each Outcome lists the layers that applied on that run, namespaces as
bwrap reported them. Without bwrap, only `weak=True` runs (and says "weak").
"""

from __future__ import annotations

import builtins
import os
import secrets
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

from harness.errors import UsageError
from harness.evaluation import sandbox_layers as osl
from harness.evaluation.sandbox_guard import GUARD

NO_BWRAP = ("HumanEval runs the model's code only inside bubblewrap, and `bwrap` was not "
            "found; fix: apt-get install bubblewrap (or set sandbox: weak in the suite's "
            "humaneval entry to accept the weaker sandbox)")
SETUP_FAILED = 113  # the guard's exit code when it could not drop privileges
ERRORS = frozenset(n for n in dir(builtins)
                   if isinstance(getattr(builtins, n), type)
                   and issubclass(getattr(builtins, n), BaseException))


class SandboxUnavailable(UsageError):
    """bubblewrap is missing and the suite did not accept the weak sandbox."""


@dataclass
class Limits:
    timeout_s: float = 10.0
    memory_bytes: int = 1 << 30
    cpu_s: int = 10
    file_bytes: int = 10 << 20
    processes: int = 16
    open_files: int = 64
    output_bytes: int = 64 << 10  # kept of stderr (only its last line is ever read)
    kill_output_bytes: int = 1 << 20  # a stream writing more than this is killed


@dataclass
class Outcome:
    passed: bool
    reason: str
    layers: list[str] = field(default_factory=list)
    duration_s: float = 0.0


def run_untrusted(program: str, limits: Limits | None = None, audit_hook: bool = True,
                  weak: bool = False) -> Outcome:
    """Run `program`; passed means it returned normally (its asserts held) within the limits.

    `audit_hook=False` exists so tests can show the other layers hold on their own.
    `weak=True` allows running without bubblewrap (the outcome's layers start "weak").
    """
    limits = limits or Limits()
    bwrap = osl.bwrap_path()
    if bwrap is None and not weak:
        raise SandboxUnavailable(NO_BWRAP)
    token = secrets.token_hex(16).encode()
    cgroup = osl.pids_cgroup(limits.processes)
    work = None if bwrap else tempfile.mkdtemp(prefix="harness-sandbox-")
    fds: list[int] = []
    try:
        token_r, token_w = os.pipe()
        info_r, info_w = os.pipe()
        stdin = os.memfd_create("program")
        fds += [token_r, token_w, info_r, info_w, stdin]
        os.write(token_w, token + b"\n")
        os.write(stdin, program.encode("utf-8", errors="surrogatepass"))
        os.lseek(stdin, 0, os.SEEK_SET)
        if bwrap:
            argv = osl.bwrap_argv(bwrap, os.geteuid() == 0, token_r, info_w, audit_hook)
            layers = ["bwrap", *([] if os.geteuid() == 0 else ["userns"])]
        else:
            argv = [osl.python_paths()[0], "-I", "-S", "-B", "-c", GUARD, str(token_r),
                    work, "0", "1" if audit_hook else "0"]
            layers = ["weak", "workdir", "isolated-python", f"uid={os.geteuid()}"]
        return _run(argv, stdin, fds, info_r, token, limits, cgroup,
                    layers + _more_layers(bool(bwrap), cgroup, audit_hook))
    finally:
        for fd in fds:
            _close(fd)
        if work:
            shutil.rmtree(work, ignore_errors=True)
        if cgroup:
            osl.remove_cgroup(cgroup)


def _more_layers(bwrap: bool, cgroup, audit_hook: bool) -> list[str]:
    extra = ["rlimits", "pdeathsig", "session-kill", "output-cap", "token"]
    if bwrap:
        uid = "uid=65534" if os.geteuid() == 0 else f"uid=65534(host {os.geteuid()})"
        extra = [uid, "no-caps", "clearenv", "ro-stdlib", "private-tmp", *extra]
    return extra + (["pids-cgroup"] if cgroup else []) + (["audit-hook"] if audit_hook else [])


def _run(argv, stdin, fds, info_r, token, limits, cgroup, layers) -> Outcome:
    """`fds` is token_r, token_w, info_r, info_w, stdin; the two passed on are closed here
    (and dropped from `fds`) once the child has them, so that bwrap's info reaches EOF."""
    start = time.monotonic()
    parent = os.getpid()
    pass_fds = (fds[0], fds[3])
    try:
        proc = subprocess.Popen(
            argv, env={"PATH": "/usr/bin:/bin"}, cwd="/", stdin=stdin,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, pass_fds=pass_fds,
            start_new_session=True,
            preexec_fn=lambda: osl.confine(limits, cgroup, parent))
    except (OSError, subprocess.SubprocessError) as exc:
        return Outcome(False, f"sandbox setup failed: {type(exc).__name__}", layers, 0.0)
    for fd in pass_fds:
        fds.remove(fd)
        _close(fd)
    try:
        stopped, found, err, info = _collect(proc, info_r, token, limits, start)
    finally:
        _kill_all(proc, cgroup)
    duration = time.monotonic() - start
    if "bwrap" in layers:
        applied = osl.applied_namespaces(info)
        if not applied:  # bwrap stopped before starting the guard; the program never ran
            return Outcome(False, f"sandbox setup failed: {_last_line(err)[:160]}", layers,
                           duration)
        layers = [layers[0], *applied, *layers[1:]]
    return Outcome(*_verdict(stopped, found, err, proc.returncode, limits), layers, duration)


def _collect(proc, info_r: int, token: bytes, limits: Limits, start: float):
    """Read stdout (only to find the token), stderr (its tail) and bwrap's info until all
    close, the deadline passes, or a stream writes too much."""
    sel = selectors.DefaultSelector()
    for fileobj in (proc.stdout, proc.stderr, info_r):
        sel.register(fileobj, selectors.EVENT_READ)
    sizes = {proc.stdout: 0, proc.stderr: 0}
    carry, found, err, info = b"", False, bytearray(), bytearray()
    deadline = start + limits.timeout_s
    try:
        while sel.get_map():
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout", found, bytes(err), bytes(info)
            for key, _ in sel.select(left):
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fileobj)
                elif key.fileobj == info_r:
                    info += chunk[:4096]
                elif key.fileobj is proc.stdout:
                    found = found or token in carry + chunk
                    carry = (carry + chunk)[-len(token):]
                else:
                    err = (err + chunk)[-limits.output_bytes:]
                if key.fileobj in sizes:
                    sizes[key.fileobj] += len(chunk)
                    if sizes[key.fileobj] > limits.kill_output_bytes:
                        return "output", found, bytes(err), bytes(info)
        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return "timeout", found, bytes(err), bytes(info)
    finally:
        sel.close()
    return None, found, bytes(err), bytes(info)


def _verdict(stopped, found: bool, err: bytes, code: int, limits: Limits) -> tuple[bool, str]:
    """Pass or fail, and a short reason that can carry nothing the program chose: a
    builtin exception's name, a signal's name or an exit code; never its text."""
    if stopped == "timeout":
        return False, f"timed out after {limits.timeout_s:g} s"
    if stopped == "output":
        return False, f"output over {limits.kill_output_bytes >> 10} KiB"
    if code == 0 and found:
        return True, "passed"
    if code == 0:
        return False, "exited before check() returned (exit code 0)"
    if code == SETUP_FAILED:
        return False, "sandbox setup failed: could not drop privileges"
    if code < 0 or 128 < code < 128 + signal.NSIG:
        num = -code if code < 0 else code - 128
        try:
            return False, f"killed by {signal.Signals(num).name}"
        except ValueError:
            return False, f"exit code {code}"
    name = _last_line(err).split(":")[0].strip()
    return False, name if name in ERRORS else f"exit code {code}"


def _last_line(err: bytes) -> str:
    lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def _kill_all(proc: subprocess.Popen, cgroup) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    osl.kill_cgroup(cgroup)
    proc.wait()
    for stream in (proc.stdout, proc.stderr):
        stream.close()


def _close(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass
