"""Advisory locks (`fcntl.flock`) that keep runs from disturbing each other.

- The **run lock** (`<run folder>/.lock`): one writer per run folder. A second `harness
  run --resume` of the same run is refused, naming the holder, instead of storing cells
  twice.
- The **machine lock** (`<harness cache>/locks/machine.lock`): held while a child does
  timed or heavy work (a cell, a format derivation), so two runs on one machine take
  turns instead of skewing each other's timings. A run that finds it taken says whose
  it is and waits; `--no-lock` opts out (and the manifest records that).

The kernel drops a flock when its holder dies, even by SIGKILL, so a lock is never
stale. Each lock file holds "pid run_id" of its holder, for the messages.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable
from pathlib import Path

from harness.errors import UsageError

RUN_LOCK_FILE = ".lock"


class Lock:
    """One flock on `path`; `remove` unlinks the file on release (run folders stay clean:
    a published run carries no lock file)."""

    def __init__(self, path: Path, owner: str, remove: bool = False) -> None:
        self.path, self.owner, self.remove = Path(path), owner, remove
        self.fd: int | None = None

    def try_acquire(self) -> bool:
        return self._acquire(blocking=False)

    def acquire(self) -> None:
        self._acquire(blocking=True)

    def _acquire(self, blocking: bool) -> bool:
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                return False
            except BaseException:
                os.close(fd)
                raise
            if self._still_linked(fd):
                break
            os.close(fd)  # its holder removed the file while we waited: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()} {self.owner}".encode())
        self.fd = fd
        return True

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def release(self) -> None:
        if self.fd is None:
            return
        if self.remove:
            self.path.unlink(missing_ok=True)
        os.close(self.fd)  # closing drops the flock
        self.fd = None

    def holder(self) -> tuple[str, str]:
        """(pid, run id) written by whoever holds the lock now ("?" when unknown)."""
        try:
            parts = self.path.read_text(errors="replace").split(maxsplit=1)
        except OSError:
            parts = []
        return (parts[0] if parts else "?"), (parts[1] if len(parts) > 1 else "?")


def lock_run(run_dir: Path, run_id: str) -> Lock:
    """Hold the run folder's lock, or refuse with the holder's pid (exit 2)."""
    lock = Lock(Path(run_dir) / RUN_LOCK_FILE, run_id, remove=True)
    try:
        taken = lock.try_acquire()
    except OSError as exc:
        raise UsageError(f"{run_dir}: cannot lock the run folder ({exc.strerror}); fix: "
                         "check its permissions") from None
    if not taken:
        pid, _ = lock.holder()
        raise UsageError(f"run {run_id} is being written by another harness process (pid "
                         f"{pid}); fix: wait for it to finish, or stop it, then --resume")
    return lock


def machine_lock_path() -> Path:
    from harness.cache import cache_dir

    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "machine.lock"


class MachineLock:
    """The machine-wide lock, taken around each piece of timed work; re-entrant per run."""

    def __init__(self, run_id: str, say: Callable[[str], None]) -> None:
        self.lock = Lock(machine_lock_path(), run_id)
        self.say = say

    def __enter__(self) -> MachineLock:
        if not self.lock.try_acquire():
            pid, run_id = self.lock.holder()
            self.say(f"waiting for run {run_id} (pid {pid}) to finish its cell: timed cells "
                     "of two runs would skew each other (--no-lock runs beside it)")
            self.lock.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.lock.release()
