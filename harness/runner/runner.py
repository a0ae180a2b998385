"""Runs a matrix: prepares each (model, format) artifact, then each cell, in child processes.

Cells run one at a time (concurrent cells would disturb each other's timings), and
while a child works the run holds the machine-wide lock (harness.runner.locks), so
two runs on one machine take turns. Every finished cell is appended to the store at
once; with `resume`, cells whose key is already stored are not run again (failed ones
too, unless `retry_failed`), and only one process writes a run at a time.
"""

from __future__ import annotations

import logging
import signal
import subprocess
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from harness import __version__
from harness.cache import sha256_path
from harness.config import Plan
from harness.errors import HarnessError, UsageError
from harness.formats import resolve
from harness.hardware.profile import current_profile
from harness.matrix import Cell, Matrix
from harness.registry import registry
from harness.results.redact import redact
from harness.results.store import RunStore, UnstorableResult, result_line
from harness.runner.child import run_child
from harness.runner.locks import MachineLock, lock_run
from harness.runner.opening import open_store
from harness.schema import CellResult
from harness.stats import Stats

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
    failures: list[str] = field(default_factory=list)


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
               retry_failed: bool = False, lock: bool = True) -> RunSummary:
    """Run every cell of `matrix`. `resume` is a run id or "latest" (of this plan on this
    machine's hardware profile); `retry_failed` runs its failed cells again; `lock: False`
    runs without the machine-wide lock (the manifest says so)."""
    observer = observer or _Silent()
    _ignore_file_size_signal()
    profile_id, _, captured = current_profile(profiles_dir)
    commit = git_commit()
    store = open_store(plan, results_root, profile_id, commit, resume, lock)
    run_lock = lock_run(store.dir, store.run_id)
    try:
        for warning in store.repair() if resume else []:
            observer.message(f"warning: {warning}")
        summary = RunSummary(store.run_id, store.dir, profile_id, captured)
        stored = {r.cell_key: r.status for r in store.results()}
        observer.run_started(store.run_id, len(matrix.cells), len(matrix.skipped))
        run = _Run(plan, store, profile_id, commit, observer, lock)
        todo = _todo(run, matrix, stored, retry_failed, summary)
        if resume:
            observer.message(_resume_message(summary, retry_failed))
        for cell, key, source, model_sha, backend_version in todo:
            result = run.cell(cell, key, source, model_sha, backend_version)
            if stored.get(key) == "failed":
                store.supersede(result)
            else:
                store.append(result)
            observer.cell_finished(result)
            if result.status == "ok":
                summary.ok += 1
            else:
                summary.failed += 1
                summary.failures.append(f"{cell.label()}: {result.error}")
    finally:
        run_lock.release()
    return summary


def _todo(run: _Run, matrix: Matrix, stored: dict[str, str], retry_failed: bool,
          summary: RunSummary) -> list[tuple]:
    """The cells still to run, with their keys; counts the ones the resumed run holds."""
    todo = []
    for cell in matrix.cells:
        source = run.source(cell.model)
        backend_version = registry("backends").get(cell.backend).version()
        model_sha = source[1] if isinstance(source, tuple) else "unavailable"
        key = cell.key(model_sha, backend_version, run.profile_id)
        status = stored.get(key)
        if status == "failed" and retry_failed:
            summary.retried += 1
        elif status is not None:
            summary.already_done += 1
            summary.kept_failed += status == "failed"
            run.observer.cell_finished(None)
            continue
        todo.append((cell, key, source, model_sha, backend_version))
    return todo


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


class _Run:
    """What one run keeps between cells: resolved sources, prepared artifacts, durations."""

    def __init__(self, plan: Plan, store: RunStore, profile_id: str, commit: str,
                 observer: RunObserver, lock: bool = True) -> None:
        self.plan, self.store, self.observer = plan, store, observer
        self.lock = lock
        self.profile_id, self.commit = profile_id, commit
        self.models = {m.name: m for m in plan.models}
        self.sources: dict[str, tuple[Path, str] | str] = {}
        self.artifacts: dict[tuple[str, str], dict | str] = {}
        self.durations: dict[str, list[float]] = {}

    def source(self, model: str) -> tuple[Path, str] | str:
        """(path, sha256) of a model's source file, or why it could not be had."""
        if model not in self.sources:
            self.observer.step(f"fetching model {model}", None)
            try:
                path = self.models[model].resolve()
                self.sources[model] = (path, sha256_path(path))
            except UsageError:
                raise  # a damaged cached model: the user must act, no cell can run
            except HarnessError as exc:
                self.sources[model] = str(exc)
        return self.sources[model]

    def cell(self, cell: Cell, key: str, source, model_sha: str,
             backend_version: str) -> CellResult:
        started = _now()
        if isinstance(source, str):
            artifact, extra, error = {}, {}, source
        else:
            needed = [cell.format, *self.plan.suites[cell.suite].extra_formats()]
            artifact, extra, error = _artifacts(cell.model, needed, source, self)
        payload: dict = {}
        duration = 0.0
        if error is None:
            self.observer.step(cell.label(), _estimate(self.durations.get(cell.suite)))
            spec = {"task": "cell", "cell": cell.to_dict(), "artifact": artifact,
                    "extra_artifacts": extra}
            with self.turn():
                outcome = run_child(spec, self.plan.timeout_s,
                                    self.store.dir / "logs" / f"{key}.log",
                                    tick=self.observer.tick,
                                    python=registry("backends").get(cell.backend).interpreter())
            duration = outcome.duration_s
            payload, error = outcome.payload, outcome.error
            if outcome.ok:
                self.durations.setdefault(cell.suite, []).append(duration)
        return _result(self.store.run_id, key, cell, model_sha, backend_version, artifact,
                       payload, error, self.profile_id, self.commit, started, duration)

    def turn(self):
        """The machine-wide lock around one child's work (a no-op with --no-lock)."""
        return MachineLock(self.store.run_id, self.observer.message) if self.lock \
            else nullcontext()


def _artifacts(model: str, formats: list[str], source: tuple[Path, str], run: _Run
               ) -> tuple[dict, dict[str, dict], str | None]:
    """(artifact of formats[0], artifacts of the others by format, first error or None)."""
    prepared = {fmt: _prepare(model, fmt, source, run) for fmt in dict.fromkeys(formats)}
    error = next((p for p in prepared.values() if isinstance(p, str)), None)
    if error is not None:
        return {}, {}, error
    return prepared[formats[0]], {fmt: prepared[fmt] for fmt in formats[1:]}, None


def _prepare(model: str, fmt: str, source: tuple[Path, str], run: _Run) -> dict | str:
    """The artifact dict of (model, format), derived in a child once per run; or an error.
    Deriving holds the machine lock too: it would load the CPU under another run's cell."""
    ident = (model, fmt)
    if ident not in run.artifacts:
        path, sha = source
        cached = resolve.artifact_path(path, sha, fmt).exists()
        run.observer.step(f"{'inspecting' if cached else 'deriving'} {model} {fmt}", None)
        spec = {"task": "derive", "source": str(path), "source_sha256": sha, "format": fmt}
        log_path = run.store.dir / "logs" / f"derive-{model}-{fmt}.log"
        with run.turn():
            outcome = run_child(spec, run.plan.derive_timeout_s, log_path,
                                tick=run.observer.tick)
        artifact = outcome.payload.get("artifact") if outcome.ok else None
        run.artifacts[ident] = artifact if isinstance(artifact, dict) else \
            f"preparing format {fmt} failed: {outcome.error or 'no artifact in its result'}"
    return run.artifacts[ident]


def _result(run_id: str, key: str, cell: Cell, model_sha: str, backend_version: str,
            artifact: dict, payload: dict, error: str | None, profile_id: str, commit: str,
            started: str, duration: float) -> CellResult:
    """The cell's record, credentials redacted. A child's outcome that does not make a
    valid record (a broken plugin's metrics) becomes a failed cell saying why."""
    fields = dict(
        run_id=run_id, cell_key=key, model=cell.model, model_sha256=model_sha,
        format=cell.format, artifact=artifact, backend=cell.backend,
        backend_version=backend_version, backend_config=redact(cell.backend_config),
        backend_request=redact(cell.backend_request), suite=cell.suite,
        suite_params=cell.suite_params, seed=cell.seed, profile_id=profile_id,
        harness_version=__version__, git_commit=commit, started_at=started,
        duration_s=round(duration, 3))
    try:
        metrics = [{**m, **Stats.of(m["samples"], stderr=m.get("stderr")).record()}
                   for m in payload.get("metrics", [])]
        result = CellResult(
            **fields, status="ok" if error is None else "failed",
            error=_scrub(redact(error)), metrics=_scrub(metrics),
            backend_settings=_scrub(redact(payload.get("backend_settings", {}))),
            finished_at=_now())
        result_line(result)
        return result
    except (ValueError, TypeError, KeyError, UnstorableResult) as exc:
        reason = str(exc).splitlines()[0][:300]
        why = f"the cell's result could not be stored ({type(exc).__name__}: {reason})"
        return CellResult(**fields, status="failed", error=_scrub(redact(
            f"{error}; {why}" if error else why)), finished_at=_now())


def _scrub(value):
    """`value` with every string made encodable (a lone surrogate from a child's bytes
    would make the line unwritable)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def _estimate(previous: list[float] | None) -> float | None:
    return sum(previous) / len(previous) if previous else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
