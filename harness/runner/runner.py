"""Runs a matrix: prepares each (model, format) artifact, then each cell, in child processes.

Cells run one at a time (concurrent cells would disturb each other's timings).
Every finished cell is appended to the store at once; with `resume`, cells
whose key is already stored are not run again.
"""

from __future__ import annotations

import logging
import subprocess
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
from harness.results.query import latest, resolve_run
from harness.results.store import RunStore, new_run_id
from harness.runner.child import run_child
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


class _Silent:
    def run_started(self, run_id: str, total: int, skipped: int) -> None: ...
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
               resume: str | None = None, observer: RunObserver | None = None) -> RunSummary:
    """Run every cell of `matrix`. `resume` is a run id or "latest" (of this plan on this
    machine's hardware profile)."""
    observer = observer or _Silent()
    profile_id, _, captured = current_profile(profiles_dir)
    commit = git_commit()
    store = _open_store(plan, results_root, profile_id, commit, resume)
    summary = RunSummary(store.run_id, store.dir, profile_id, captured)
    done = store.finished_keys()
    observer.run_started(store.run_id, len(matrix.cells), len(matrix.skipped))
    run = _Run(plan, store, profile_id, commit, observer)
    for cell in matrix.cells:
        source = run.source(cell.model)
        backend_version = registry("backends").get(cell.backend).version()
        model_sha = source[1] if isinstance(source, tuple) else "unavailable"
        key = cell.key(model_sha, backend_version, profile_id)
        if key in done:
            summary.already_done += 1
            observer.cell_finished(None)
            continue
        result = run.cell(cell, key, source, model_sha, backend_version)
        store.append(result)
        observer.cell_finished(result)
        if result.status == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{cell.label()}: {result.error}")
    return summary


def _open_store(plan: Plan, results_root: Path, profile_id: str, commit: str,
                resume: str | None) -> RunStore:
    if resume:
        if resume == "latest":
            found = latest(results_root, profile_id, plan.name)
            directory = found.dir if found else None
        else:
            try:
                directory = resolve_run(resume, results_root, profile_id)
            except UsageError:
                directory = None
        if directory is None:
            raise UsageError(f"--resume: no run '{resume}' of plan '{plan.name}' on hardware "
                             f"profile {profile_id} under {results_root}; fix: run without "
                             "--resume first")
        return RunStore(directory)
    run_id = new_run_id(plan.name)
    return RunStore.create(results_root, {
        "run_id": run_id, "plan_name": plan.name, "plan_file": plan.file,
        "profile_id": profile_id, "harness_version": __version__, "git_commit": commit,
        "started_at": _now(), "regression": plan.regression.model_dump()})


class _Run:
    """What one run keeps between cells: resolved sources, prepared artifacts, durations."""

    def __init__(self, plan: Plan, store: RunStore, profile_id: str, commit: str,
                 observer: RunObserver) -> None:
        self.plan, self.store, self.observer = plan, store, observer
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
            artifact, extra, error = _artifacts(cell.model, needed, source, self.artifacts,
                                                self.store, self.plan.derive_timeout_s,
                                                self.observer)
        payload: dict = {}
        duration = 0.0
        if error is None:
            self.observer.step(cell.label(), _estimate(self.durations.get(cell.suite)))
            spec = {"task": "cell", "cell": cell.to_dict(), "artifact": artifact,
                    "extra_artifacts": extra}
            outcome = run_child(spec, self.plan.timeout_s,
                                self.store.dir / "logs" / f"{key}.log", tick=self.observer.tick,
                                python=registry("backends").get(cell.backend).interpreter())
            duration = outcome.duration_s
            payload, error = outcome.payload, outcome.error
            if outcome.ok:
                self.durations.setdefault(cell.suite, []).append(duration)
        return _result(self.store.run_id, key, cell, model_sha, backend_version, artifact,
                       payload, error, self.profile_id, self.commit, started, duration)


def _artifacts(model: str, formats: list[str], source: tuple[Path, str], cache: dict,
               store: RunStore, timeout_s: float, observer: RunObserver
               ) -> tuple[dict, dict[str, dict], str | None]:
    """(artifact of formats[0], artifacts of the others by format, first error or None)."""
    prepared = {fmt: _prepare(model, fmt, source, cache, store, timeout_s, observer)
                for fmt in dict.fromkeys(formats)}
    error = next((p for p in prepared.values() if isinstance(p, str)), None)
    if error is not None:
        return {}, {}, error
    return prepared[formats[0]], {fmt: prepared[fmt] for fmt in formats[1:]}, None


def _prepare(model: str, fmt: str, source: tuple[Path, str], cache: dict, store: RunStore,
             timeout_s: float, observer: RunObserver) -> dict | str:
    """The artifact dict of (model, format), derived in a child once per run; or an error."""
    ident = (model, fmt)
    if ident not in cache:
        path, sha = source
        cached = resolve.artifact_path(path, sha, fmt).exists()
        observer.step(f"{'inspecting' if cached else 'deriving'} {model} {fmt}", None)
        spec = {"task": "derive", "source": str(path), "source_sha256": sha, "format": fmt}
        log_path = store.dir / "logs" / f"derive-{model}-{fmt}.log"
        outcome = run_child(spec, timeout_s, log_path, tick=observer.tick)
        cache[ident] = (outcome.payload["artifact"] if outcome.ok
                        else f"preparing format {fmt} failed: {outcome.error}")
    return cache[ident]


def _result(run_id: str, key: str, cell: Cell, model_sha: str, backend_version: str,
            artifact: dict, payload: dict, error: str | None, profile_id: str, commit: str,
            started: str, duration: float) -> CellResult:
    metrics = [{**m, **Stats.of(m["samples"], stderr=m.get("stderr")).record()}
               for m in payload.get("metrics", [])]
    return CellResult(
        run_id=run_id, cell_key=key, status="ok" if error is None else "failed", error=error,
        model=cell.model, model_sha256=model_sha, format=cell.format, artifact=artifact,
        backend=cell.backend, backend_version=backend_version,
        backend_config=cell.backend_config, backend_request=cell.backend_request,
        backend_settings=payload.get("backend_settings", {}), suite=cell.suite,
        suite_params=cell.suite_params, seed=cell.seed, metrics=metrics,
        profile_id=profile_id, harness_version=__version__, git_commit=commit,
        started_at=started, finished_at=_now(), duration_s=round(duration, 3),
    )


def _estimate(previous: list[float] | None) -> float | None:
    return sum(previous) / len(previous) if previous else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
