"""Runs matrices: prepares each (model, format) artifact, then the cells, in child processes.

Cells run one at a time (concurrent cells would disturb each other's timings), and
while a child works the run holds the machine-wide lock (harness.runner.locks), so
two runs on one machine take turns. Timed cells may run in several worker processes,
interleaved round-robin with the other cells (harness.runner.rounds). Every finished
cell is appended to the store at once; with `resume`, cells whose key is already stored
are not run again (failed ones too, unless `retry_failed`), and only one process writes
a run at a time.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from harness.config import Plan
from harness.errors import UsageError
from harness.hardware.profile import current_profile
from harness.matrix import Matrix
from harness.registry import registry
from harness.runner.locks import lock_run
from harness.runner.opening import open_store
from harness.runner.rounds import Job, Pending, run_rounds
from harness.schema import CellResult

log = logging.getLogger(__name__)


class RunObserver(Protocol):
    """What the CLI shows while a run goes on; the runner itself prints nothing."""

    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...
    def step(self, text: str, estimate_s: float | None) -> None: ...
    def tick(self, elapsed_s: float) -> None: ...
    def cell_finished(self, result: CellResult | None) -> None:
        """`None` means the cell was already stored by the run being resumed."""
    def message(self, text: str) -> None:
        """A line for the user: a warning (starts with "warning:") or what the run does."""


class _Silent:
    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...
    def message(self, text: str) -> None: ...
    def step(self, text: str, estimate_s: float | None) -> None: ...
    def tick(self, elapsed_s: float) -> None: ...
    def cell_finished(self, result: CellResult | None) -> None: ...


@dataclass
class RunSummary:
    run_id: str
    dir: Path
    profile_id: str
    profile_captured: bool
    ok: int = 0
    failed: int = 0
    already_done: int = 0
    retried: int = 0
    """Failed cells of the resumed run that ran again (`retry_failed`)."""
    kept_failed: int = 0
    """Failed cells of the resumed run left as they are (no `retry_failed`)."""
    contended: int = 0
    """Cells stored in this session whose timed part shared the machine beyond the plan's
    health limits (their speed numbers are not evidence)."""
    failures: list[str] = field(default_factory=list)
    dirs: list[Path] = field(default_factory=list)
    """Every run folder written (a Ray run has one per hardware profile); empty: `dir`."""

    def folders(self) -> list[Path]:
        return self.dirs or [self.dir]


def git_commit(cwd: Path | None = None) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd,
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    if out.returncode != 0:
        return "unknown"
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                           capture_output=True, text=True, timeout=10).stdout.strip()
    return out.stdout.strip() + ("-dirty" if dirty else "")


def run_matrix(plan: Plan, matrix: Matrix, results_root: Path, profiles_dir: Path,
               resume: str | None = None, observer: RunObserver | None = None,
               retry_failed: bool = False, lock: bool = True, preflight: dict | None = None,
               processes: int | None = None) -> RunSummary:
    """Run every cell of `matrix`. `resume` is a run id or "latest" (of this plan on this
    machine's hardware profile); `retry_failed` runs its failed cells again; `lock: False`
    runs without the machine-wide lock (the manifest says so). `preflight` (the
    quiet-machine check) goes into the run's manifest; `processes` overrides the plan's."""
    return run_plans([(plan, matrix)], results_root, profiles_dir, observer=observer,
                     lock=lock, processes=processes, preflight=preflight, resume=resume,
                     retry_failed=retry_failed)[0]


def run_plans(jobs: list[tuple[Plan, Matrix]], results_root: Path, profiles_dir: Path,
              observer: RunObserver | None = None, lock: bool = True,
              processes: int | None = None, preflight: dict | None = None,
              resume: str | None = None, retry_failed: bool = False,
              lockstep: bool = False) -> list[RunSummary]:
    """Run several plans' matrices as one job, each into its own stored run (a summary per
    plan, in order). Timed cells run in `processes` worker processes each (default: each
    plan's own `processes`), interleaved round-robin over all plans' cells
    (harness.runner.rounds), or with `lockstep` run at once, taking turns; cells already
    stored by a resumed run do not run."""
    if processes is not None and processes < 1:
        raise UsageError(f"processes: {processes} is below 1; fix: give 1 or more")
    observer = observer or _Silent()
    _ignore_file_size_signal()
    profile_id, _, captured = current_profile(profiles_dir)
    commit = git_commit()
    run_locks, opened, artifacts = [], [], {}
    try:
        for plan, matrix in jobs:
            count = processes or plan.processes
            store = open_store(plan, results_root, profile_id, commit, resume, lock,
                               preflight=preflight, processes=count)
            run_locks.append(lock_run(store.dir, store.run_id))
            summary = RunSummary(store.run_id, store.dir, profile_id, captured)
            job = Job(plan, store, profile_id, commit, observer, summary, count, lock,
                      artifacts)
            opened.append((job, _todo(job, matrix, resume, retry_failed)))
        run_rounds([todo for _, todo in opened], lockstep)
    finally:
        for run_lock in run_locks:
            run_lock.release()
    return [job.summary for job, _ in opened]


def _todo(job: Job, matrix: Matrix, resume: str | None, retry_failed: bool) -> list[Pending]:
    """The cells still to run, with their keys; counts the ones the resumed run holds."""
    observer, summary = job.observer, job.summary
    for warning in job.store.repair() if resume else []:
        observer.message(f"warning: {warning}")
    job.stored = {r.cell_key: r.status for r in job.store.results()}
    observer.run_started(job.store.run_id, len(matrix.cells), len(matrix.skipped))
    suites = registry("suites")
    todo = []
    for cell in matrix.cells:
        source = job.source(cell.model)
        backend_version = registry("backends").get(cell.backend).version()
        model_sha = source[1] if isinstance(source, tuple) else "unavailable"
        key = cell.key(model_sha, backend_version, job.profile_id)
        if skip_stored(job.stored.get(key), retry_failed, summary, observer):
            continue
        count = job.processes if suites.get(cell.suite).timed() else 1
        todo.append(Pending(job, cell, key, source, model_sha, backend_version, count))
    if resume:
        observer.message(_resume_message(summary, retry_failed))
    return todo


def skip_stored(status: str | None, retry_failed: bool, summary: RunSummary,
                observer: RunObserver) -> bool:
    """Whether a cell the resumed run stored with `status` is left as it is (and counted);
    a failed one runs again with `retry_failed`."""
    if status == "failed" and retry_failed:
        summary.retried += 1
        return False
    if status is None:
        return False
    summary.already_done += 1
    summary.kept_failed += status == "failed"
    observer.cell_finished(None)
    return True


def _resume_message(summary: RunSummary, retry_failed: bool) -> str:
    text = f"resuming run {summary.run_id}: {summary.already_done} cells already stored"
    if retry_failed:
        return text + f", {summary.retried} failed cells to run again"
    if summary.kept_failed:
        return text + (f" ({summary.kept_failed} of them failed; --retry-failed runs them "
                       "again)")
    return text


def _ignore_file_size_signal() -> None:
    """Past a file-size limit the kernel sends SIGXFSZ, which kills the run mid-write;
    ignored, the write fails with EFBIG instead and the store reports it. (Children get
    the default back: subprocess restores it.)"""
    try:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    except (ValueError, AttributeError):  # not the main thread, or not a POSIX system
        pass
