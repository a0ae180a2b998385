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
from harness.runner.child import run_child
from harness.schema import CellResult
from harness.stats import summarize
from harness.store import RunStore, latest_run, new_run_id

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
    """Run every cell of `matrix`. `resume` is a run id or "latest" (of this plan)."""
    observer = observer or _Silent()
    profile_id, _, captured = current_profile(profiles_dir)
    commit = git_commit()
    if resume:
        run_id = latest_run(results_root, plan.name) if resume == "latest" else resume
        if not run_id or not (results_root / run_id).is_dir():
            raise UsageError(f"--resume: no run '{resume}' of plan '{plan.name}' under "
                             f"{results_root}; fix: run without --resume first")
        store = RunStore(results_root, run_id)
    else:
        run_id = new_run_id(plan.name)
        store = RunStore(results_root, run_id)
        store.create({"run_id": run_id, "plan_name": plan.name, "plan_file": plan.file,
                      "profile_id": profile_id, "harness_version": __version__,
                      "git_commit": commit, "started_at": _now(),
                      "regression": plan.regression.model_dump()})
    summary = RunSummary(run_id, store.dir, profile_id, captured)
    done = store.finished_keys()
    observer.run_started(run_id, len(matrix.cells), len(matrix.skipped))

    sources: dict[str, tuple[Path, str] | str] = {}
    artifacts: dict[tuple[str, str], dict | str] = {}
    durations: dict[str, list[float]] = {}
    models = {m.name: m for m in plan.models}
    for cell in matrix.cells:
        if cell.model not in sources:
            observer.step(f"fetching model {cell.model}", None)
            try:
                path = models[cell.model].resolve()
                sources[cell.model] = (path, sha256_path(path))
            except HarnessError as exc:
                sources[cell.model] = str(exc)
        source = sources[cell.model]
        backend_version = registry("backends").get(cell.backend).version()
        model_sha = source[1] if isinstance(source, tuple) else "unavailable"
        key = cell.key(model_sha, backend_version, profile_id)
        if key in done:
            summary.already_done += 1
            observer.cell_finished(None)
            continue
        started = _now()
        if isinstance(source, str):
            artifact, extra, error = {}, {}, source
        else:
            needed = [cell.format, *plan.suites[cell.suite].extra_formats()]
            artifact, extra, error = _artifacts(cell.model, needed, source, artifacts, store,
                                                plan.timeout_s, observer)
        payload: dict = {}
        duration = 0.0
        if error is None:
            est = _estimate(durations.get(cell.suite))
            observer.step(cell.label(), est)
            spec = {"task": "cell", "cell": cell.to_dict(), "artifact": artifact,
                    "extra_artifacts": extra}
            outcome = run_child(spec, plan.timeout_s, store.dir / "logs" / f"{key}.log",
                                tick=observer.tick,
                                python=registry("backends").get(cell.backend).interpreter())
            duration = outcome.duration_s
            payload, error = outcome.payload, outcome.error
            if outcome.ok:
                durations.setdefault(cell.suite, []).append(duration)
        result = _result(store.run_id, key, cell, model_sha, backend_version, artifact, payload,
                         error, profile_id, commit, started, duration)
        store.append(result)
        observer.cell_finished(result)
        if error is None:
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{cell.label()}: {error}")
    return summary


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
    metrics = [{**m, **summarize(m["samples"], stderr=m.get("stderr"))}
               for m in payload.get("metrics", [])]
    return CellResult(
        run_id=run_id, cell_key=key, status="ok" if error is None else "failed", error=error,
        model=cell.model, model_sha256=model_sha, format=cell.format, artifact=artifact,
        backend=cell.backend, backend_version=backend_version,
        backend_config=cell.backend_config,
        backend_settings=payload.get("backend_settings", {}), suite=cell.suite,
        suite_params=cell.suite_params, seed=cell.seed, metrics=metrics,
        profile_id=profile_id, harness_version=__version__, git_commit=commit,
        started_at=started, finished_at=_now(), duration_s=round(duration, 3),
    )


def _estimate(previous: list[float] | None) -> float | None:
    return sum(previous) / len(previous) if previous else None


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
