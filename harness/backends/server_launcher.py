"""Starts a server command and takes its whole process group down with it.

`python server_launcher.py CELL_PID COMMAND...`, run by `ServerProcess` as the leader of
the server's process group. The kernel kills only a direct child when its parent dies
(PR_SET_PDEATHSIG): a server's own children, such as vLLM's engine core, would outlive a
killed cell. So this launcher asks for SIGTERM when the cell process dies, and on SIGTERM
(that, or `ServerProcess.stop`) passes it to the server, gives it `GRACE_S` to shut down,
then kills every other process of the group, and removes the server's temporary folder.
Standard library only: it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    cell_pid, command = int(argv[0]), argv[1:]
    # the server's temporary files (vLLM's IPC sockets) go in a folder of its own, which
    # this launcher removes however the server ends
    scratch = tempfile.mkdtemp(prefix="harness-server-", dir=_short_tempdir())
    server = subprocess.Popen(command, env={**os.environ, "TMPDIR": scratch})
    deadline: list[float] = []  # set once stopping: when the group is killed

    def stop(*_) -> None:  # only flags and signals: the main loop waits
        if not deadline:
            deadline.append(time.monotonic() + GRACE_S)
            with contextlib.suppress(ProcessLookupError):
                os.kill(server.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != cell_pid:  # the cell died before the line above
        stop()
    while (code := server.poll()) is None:
        if deadline and time.monotonic() > deadline[0]:
            break
        time.sleep(0.05)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # stopping: whatever is left of the group goes now; the server ended by itself: what
    # it started is asked to end, and killed if it lingers
    _end_group(signal.SIGKILL if deadline else signal.SIGTERM)
    shutil.rmtree(scratch, ignore_errors=True)
    return 0 if code is None else code if code >= 0 else 128 - code


def _short_tempdir() -> str | None:
    """Where a folder leaves room for socket names in it: a Unix socket's path is at most
    107 bytes (vLLM names its IPC sockets with a 36-character uuid), and a test's TMPDIR
    can take most of that."""
    base = tempfile.gettempdir()
    return base if len(base) <= 48 or not os.path.isdir("/tmp") else "/tmp"


def group_members(pgid: int) -> list[int]:
    """The live processes of process group `pgid` (from /proc: standard library only;
    none where there is no /proc)."""
    out = []
    for name in os.listdir("/proc") if os.path.isdir("/proc") else []:
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == pgid and fields[0] != "Z":  # pgrp; zombies are gone
                out.append(int(name))
    return out


def _others() -> list[int]:
    """The other processes of this launcher's group."""
    me = os.getpid()
    return [pid for pid in group_members(me) if pid != me]


def _end_group(sig: int) -> None:
    for attempt in (sig, signal.SIGKILL):
        for pid in _others():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, attempt)
        end = time.monotonic() + GRACE_S
        while _others() and time.monotonic() < end:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(-1, os.WNOHANG)
            time.sleep(0.05)
        if not _others():
            return


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
