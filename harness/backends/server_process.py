"""A server process started for one cell on 127.0.0.1, and stopped with all it started.

It runs in its own process group, led by a launcher (server_launcher.py) that takes the
whole group down when the cell process dies (a crashed or killed cell must not leave a
server, or a process the server started, running beside the next cell), and is stopped
as a whole group: SIGTERM (servers shut down cleanly), then SIGKILL if it lingers. Its
output goes to a file without a name, so a killed cell leaves no log behind.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.backends.server_launcher import group_members
from harness.errors import BackendError

log = logging.getLogger(__name__)
_LAUNCHER = Path(__file__).with_name("server_launcher.py")


class ServerProcess:
    """`command` (which must listen on `port`) started now, ready once `ready_path`
    answers 200 within `timeout_s`; `name` says which server in errors."""

    def __init__(self, command: list[str], port: int, name: str, timeout_s: float,
                 ready_path: str = "/v1/models", env: dict[str, str] | None = None) -> None:
        self.name = name
        self._log = tempfile.TemporaryFile(prefix="harness-server-", suffix=".log")
        # the launcher leads the group and takes it down when this process dies
        self._proc = subprocess.Popen(
            [sys.executable, str(_LAUNCHER), str(os.getpid()), *command], stdout=self._log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True)
        self.url = f"http://127.0.0.1:{port}"
        try:
            self._wait_until_ready(ready_path, timeout_s)
            self.pid = psutil.Process(self._proc.pid).children()[0].pid
            """The server's own process (the launcher's one child)."""
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, path: str, timeout_s: float) -> None:
        import httpx

        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BackendError(f"{self.name} exited with code "
                                   f"{self._proc.returncode}: {self.tail(1)}")
            try:
                if httpx.get(f"{self.url}{path}", timeout=5).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise BackendError(f"{self.name} did not answer within {timeout_s:g} s: "
                           f"{self.tail(1)}")

    def tail(self, n: int) -> str:
        """The last `n` non-empty lines the server printed, joined by ' | '."""
        if self._log.closed:
            return ""
        fd = self._log.fileno()
        size = os.fstat(fd).st_size
        start = max(0, size - (64 << 10))
        text = os.pread(fd, size - start, start).decode(errors="replace")
        lines = [ln for ln in text.splitlines() if ln.strip()]
        return " | ".join(lines[-n:])

    def stop(self) -> None:
        """Stop the whole process group; log the server's last lines and drop its log."""
        members = group_members(self._proc.pid)
        for sig, wait_s in ((signal.SIGTERM, 15), (signal.SIGKILL, None)):
            try:
                os.killpg(self._proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                self._proc.wait(timeout=wait_s)
                break
            except subprocess.TimeoutExpired:
                continue
        self._proc.wait()
        _reap_group(self._proc.pid, members)
        if not self._log.closed:
            log.info("%s log, last lines: %s", self.name, self.tail(5))
            self._log.close()


def _reap_group(pgid: int, members: list[int], timeout_s: float = 10.0) -> None:
    """Wait until nothing of the server's process group is left, killing what lingers
    past `timeout_s`. Its processes that the server did not wait for are orphans; in the
    cell worker (a child subreaper) they come back to this process, and reaping them here
    adds their CPU time to this process's children times, where the cell's health
    counts it (else it would read as another process's load)."""
    deadline, killed = time.monotonic() + timeout_s, False
    while True:
        for pid in members:  # only the group's: other children are their owners' to wait for
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return
        if time.monotonic() > deadline:
            if killed:
                log.warning("process group %d outlived SIGKILL by %g s", pgid, timeout_s)
                return
            os.killpg(pgid, signal.SIGKILL)
            killed, deadline = True, time.monotonic() + timeout_s
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
