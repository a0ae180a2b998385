"""Starts a server command and takes its whole process group down with it.

`python server_launcher.py CELL_PID COMMAND...`, run by `ServerProcess` as the leader of
the server's process group. The kernel kills only a direct child when its parent dies
(PR_SET_PDEATHSIG): a server's own children, such as vLLM's engine core, would outlive a
killed cell. So this launcher asks for SIGTERM when the cell process dies, and on SIGTERM
(that, or `ServerProcess.stop`) passes it to the server, gives it `GRACE_S` to shut down,
then kills every process of the group. Standard library only: it starts in milliseconds.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time

GRACE_S = 10.0
_PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> int:
    cell_pid, command = int(argv[0]), argv[1:]
    server = subprocess.Popen(command)  # in this process group, which this process leads
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
    # it started is asked to end too
    os.killpg(0, signal.SIGKILL if deadline else signal.SIGTERM)
    return 0 if code is None else code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
