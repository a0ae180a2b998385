"""Lockstep: worker processes that run at the same time but take turns, repetition by
repetition (`harness ab --lockstep`).

Interleaving whole processes (A1 B1 A2 B2 ...) leaves seconds between the two sides of a
pair, and on a shared VM the machine's speed moves within seconds. In lockstep, process i
of A and process i of B are started together and hand one baton back and forth: a worker
runs only while it holds it, so the two never share the CPU, and each repetition of A sits
next to one of B, so drift falls on both alike.

The protocol is one byte each way over two pipes per worker: the worker writes `w` when it
wants the baton (which also gives back the one it held) and blocks until it reads `g`; it
holds the baton from then until its next `w` or its exit (the end of its request pipe).
A worker takes its first turn before it loads the model, so loading, timed repetitions and
teardown are all run alone; only interpreter start-up overlaps.
"""

from __future__ import annotations

import os
from collections.abc import Callable

REQUEST, GRANT = b"w", b"g"


class Turns:
    """The worker's end: `take()` before each repetition (and before loading)."""

    def __init__(self, request_fd: int, grant_fd: int,
                 waiting: Callable[[], None] = lambda: None,
                 granted: Callable[[], None] = lambda: None) -> None:
        self.request_fd, self.grant_fd = request_fd, grant_fd
        self.waiting, self.granted = waiting, granted
        self.open = True

    @classmethod
    def from_spec(cls, spec: dict, **hooks) -> Turns | None:
        fds = spec.get("turns")
        return cls(fds["request_fd"], fds["grant_fd"], **hooks) if fds else None

    def take(self) -> None:
        """Give back the baton (if held) and wait for it again; `waiting` runs before the
        wait, `granted` after it (the health window pauses in between). A runner that is
        gone (EOF or a broken pipe) leaves this worker to run freely."""
        if not self.open:
            return
        self.waiting()
        try:
            os.write(self.request_fd, REQUEST)
            self.open = os.read(self.grant_fd, 1) == GRANT
        except OSError:
            self.open = False
        self.granted()


class Baton:
    """The runner's end, as pure bookkeeping: which of n workers may run next.

    A worker is granted the baton only when it asked for it and every other worker is
    waiting too or gone, so nothing of one worker (not even its loading or teardown) runs
    beside another's turn; among waiting workers the turns go round in order."""

    def __init__(self, n: int) -> None:
        self.waiting = [False] * n
        self.gone = [False] * n
        self.holder: int | None = None
        self.last = n - 1
        self.turns = [0] * n

    def request(self, i: int) -> None:
        self.waiting[i] = True
        if self.holder == i:
            self.holder = None

    def leave(self, i: int) -> None:
        self.gone[i], self.waiting[i] = True, False
        if self.holder == i:
            self.holder = None

    def grant(self) -> int | None:
        """The worker to grant the baton now (and mark it as the holder), or None."""
        n = len(self.waiting)
        if self.holder is not None or not all(w or g for w, g in
                                              zip(self.waiting, self.gone, strict=True)):
            return None
        for step in range(1, n + 1):
            i = (self.last + step) % n
            if self.waiting[i]:
                self.waiting[i], self.holder, self.last = False, i, i
                self.turns[i] += 1
                return i
        return None
