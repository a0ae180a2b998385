"""The cells of one or more runs, prepared and then run in interleaved rounds.

A timed cell (its suite declares a speed or latency metric) runs in `processes` worker
processes, one per round; round r runs every timed cell of every job once, jobs
interleaved cell by cell (A1 B1 A2 B2 ...) and each pair's order swapped in odd rounds
(B1 A1 B2 A2 ...), so slow drift of the machine (heat, a neighbour, a cron job) falls
on every cell, and on both sides of an A/B, alike (asv's --interleave-processes).
Untimed cells run once, in round 0. In lockstep (`harness ab`), A_i and B_i run at once
and take turns repetition by repetition (harness.runner.turns), which pairs them closer
still.

A cell is stored once, when its last process has finished (or as soon as one fails).
An interrupted run keeps the cells stored so far; the processes already run of a cell
not yet stored are lost, and `--resume` runs that cell in full again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cache import sha256_path
from harness.config import Plan
from harness.errors import HarnessError, UsageError
from harness.formats import resolve
from harness.matrix import Cell
from harness.registry import registry
from harness.results.store import RunStore
from harness.runner.child import ChildOutcome, run_child, run_children
from harness.runner.locks import MachineLock
from harness.runner.record import cell_result, now

if TYPE_CHECKING:
    from harness.runner.runner import RunObserver, RunSummary


class Job:
    """One plan's run: its store, resolved sources, prepared artifacts, durations."""

    def __init__(self, plan: Plan, store: RunStore, profile_id: str, commit: str,
                 observer: RunObserver, summary: RunSummary, processes: int,
                 lock: bool = True, artifacts: dict | None = None) -> None:
        self.plan, self.store, self.observer, self.summary = plan, store, observer, summary
        self.processes, self.lock = processes, lock
        self.profile_id, self.commit = profile_id, commit
        self.models = {m.name: m for m in plan.models}
        self.sources: dict[str, tuple[Path, str] | str] = {}
        self.artifacts: dict[tuple[str, str], dict | str] = {} if artifacts is None \
            else artifacts
        """(source sha256, format) -> artifact or error; shared by the jobs of one call
        (both sides of an A/B derive or inspect a format once)."""
        self.durations: dict[str, list[float]] = {}
        self.stored: dict[str, str] = {}
        """cell key -> status of the cells the resumed run already holds."""

    def source(self, model: str) -> tuple[Path, str] | str:
        """(path, sha256) of a model's source file, or why it could not be had."""
        if model not in self.sources:
            self.observer.step(f"fetching model {model}", None)
            self.sources[model] = resolve_source(self.models[model])
        return self.sources[model]

    def turn(self):
        """The machine-wide lock around one child's work (a no-op with --no-lock)."""
        return MachineLock(self.store.run_id, self.observer.message) if self.lock \
            else nullcontext()


def resolve_source(source) -> tuple[Path, str] | str:
    """(path, sha256) of a model source's file, or why it could not be had."""
    try:
        path = source.resolve()
        return path, sha256_path(path)
    except UsageError:
        raise  # a damaged cached model: the user must act, no cell can run
    except HarnessError as exc:
        return str(exc)


@dataclass
class Pending:
    """A cell to run, with what its processes have returned so far."""

    job: Job
    cell: Cell
    key: str
    source: tuple[Path, str] | str
    model_sha: str
    backend_version: str
    processes: int = 1
    artifact: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    error: str | None = None
    """Why the cell cannot run at all (its model or a format could not be had)."""
    outcomes: list[ChildOutcome] = field(default_factory=list)
    started: str = ""
    done: bool = False


def run_rounds(cells_per_job: list[list[Pending]], lockstep: bool = False) -> None:
    """Prepare every cell's artifacts, then run the rounds, storing each cell when done.
    With `lockstep`, the processes of one round's group of timed cells (one per job: A_i
    and B_i of an A/B) run at once, taking turns repetition by repetition."""
    for cells in cells_per_job:
        for pending in cells:
            prepare(pending)
            if pending.error is not None:
                finish(pending)
    for round_, group in groups(cells_per_job):
        group = [p for p in group if not p.done]
        if lockstep and len(group) > 1 and all(p.processes > 1 for p in group):
            run_lockstep(group, round_)
            continue
        for pending in group:  # one pending's processes never finish another
            run_process(pending, round_)


def interleave(cells_per_job: list[list[Pending]]) -> Iterator[tuple[int, Pending]]:
    """(round, cell) in the order they run; a cell already done (failed, or not runnable)
    is left out of the rounds that remain."""
    for round_, group in groups(cells_per_job):
        for pending in group:
            if not pending.done:
                yield round_, pending


def groups(cells_per_job: list[list[Pending]]) -> Iterator[tuple[int, list[Pending]]]:
    """(round, the i-th cell of every job) in the order they run, each group's order
    swapped in odd rounds; built lazily, so a cell done meanwhile is left out."""
    rounds = max((p.processes for cells in cells_per_job for p in cells), default=0)
    for round_ in range(rounds):
        lists = [[p for p in cells if round_ < p.processes and not p.done]
                 for cells in cells_per_job]
        for i in range(max(map(len, lists), default=0)):
            group = [cells[i] for cells in lists if i < len(cells)]
            yield round_, list(reversed(group)) if round_ % 2 else group


def prepare(pending: Pending) -> None:
    """The cell's artifacts (derived once per run), or the error that keeps it from running."""
    if isinstance(pending.source, str):
        pending.error = pending.source
        return
    job = pending.job
    config = registry("backends").get(pending.cell.backend).config_cls.model_validate(
        pending.cell.backend_config)
    needed = [pending.cell.format, *job.plan.suites[pending.cell.suite].extra_formats(),
              *config.extra_formats()]
    pending.artifact, pending.extra, pending.error = _artifacts(
        pending.cell.model, needed, pending.source, job)


def run_process(pending: Pending, round_: int) -> None:
    """One worker process of the cell; stores the cell after its last process or a failure."""
    job = pending.job
    _starting(pending, round_)
    with job.turn():
        outcome = run_child(_spec(pending, round_), job.plan.timeout_s,
                            _log(pending), tick=job.observer.tick,
                            python=interpreter(pending.cell))
    _ended(pending, outcome)


def run_lockstep(group: list[Pending], round_: int) -> None:
    """One worker process of each cell of the group, at once and taking turns
    (harness.runner.turns); each cell is stored after its last process or a failure."""
    job = group[0].job
    for pending in group:
        _starting(pending, round_)
    tasks = [(_spec(p, round_), _log(p), interpreter(p.cell)) for p in group]
    with job.turn():
        outcomes = run_children(tasks, max(p.job.plan.timeout_s for p in group),
                                tick=job.observer.tick, lockstep=True)
    for pending, outcome in zip(group, outcomes, strict=True):
        _ended(pending, outcome)


def _starting(pending: Pending, round_: int) -> None:
    job, cell, n = pending.job, pending.cell, pending.processes
    if not pending.started:
        pending.started = now()
    text = cell.label() + (f" (process {round_ + 1} of {n})" if n > 1 else "")
    job.observer.step(text, _estimate(job.durations.get(cell.suite)))


def _spec(pending: Pending, round_: int) -> dict:
    return cell_spec(pending.cell, pending.artifact, pending.extra,
                     pending.job.plan.health.model_dump(), round_)


def cell_spec(cell: Cell, artifact: dict, extra: dict, health_limits: dict,
              process: int) -> dict:
    """What a worker process of the cell is sent (harness.runner.worker)."""
    return {"task": "cell", "cell": cell.to_dict(), "artifact": artifact,
            "extra_artifacts": extra, "health_limits": health_limits, "process": process}


def _log(pending: Pending) -> Path:
    return pending.job.store.dir / "logs" / f"{pending.key}.log"


def _ended(pending: Pending, outcome: ChildOutcome) -> None:
    job = pending.job
    if outcome.ok:
        job.durations.setdefault(pending.cell.suite, []).append(outcome.duration_s)
    pending.outcomes.append(outcome)
    if not outcome.ok or len(pending.outcomes) >= pending.processes:
        finish(pending)


def interpreter(cell: Cell) -> str | None:
    """The cell's `python:` backend setting (an interpreter or a wrapper script), else the
    backend's own interpreter."""
    return cell.backend_config.get("python") or \
        registry("backends").get(cell.backend).interpreter()


def finish(pending: Pending) -> None:
    """Store the cell (superseding a failed record of the resumed run) and count it."""
    pending.done = True
    job, cell = pending.job, pending.cell
    result = cell_result(job.store.run_id, pending.key, cell, pending.model_sha,
                         pending.backend_version, pending.artifact, pending.outcomes,
                         pending.processes, pending.error, job.profile_id, job.commit,
                         pending.started or now())
    if job.stored.get(pending.key) == "failed":
        job.store.supersede(result)
    else:
        job.store.append(result)
    job.observer.cell_finished(result)
    job.summary.contended += result.contended
    if result.status == "ok":
        job.summary.ok += 1
    else:
        job.summary.failed += 1
        job.summary.failures.append(f"{cell.label()}: {result.error}")


def _artifacts(model: str, formats: list[str], source: tuple[Path, str], job: Job
               ) -> tuple[dict, dict[str, dict], str | None]:
    """(artifact of formats[0], artifacts of the others by format, first error or None)."""
    prepared = {fmt: _prepare(model, fmt, source, job) for fmt in dict.fromkeys(formats)}
    error = next((p for p in prepared.values() if isinstance(p, str)), None)
    if error is not None:
        return {}, {}, error
    return prepared[formats[0]], {fmt: prepared[fmt] for fmt in formats[1:]}, None


def _prepare(model: str, fmt: str, source: tuple[Path, str], job: Job) -> dict | str:
    """The artifact dict of (model, format), derived in a child once per run; or an error.
    Deriving holds the machine lock too: it would load the CPU under another run's cell."""
    path, sha = source
    ident = (sha, fmt)
    if ident not in job.artifacts:
        cached = resolve.artifact_path(path, sha, fmt).exists()
        job.observer.step(f"{'inspecting' if cached else 'deriving'} {model} {fmt}", None)
        log_path = job.store.dir / "logs" / f"derive-{model}-{fmt}.log"
        job.artifacts[ident] = derive(path, sha, fmt, job.plan.derive_timeout_s, log_path,
                                      job.turn(), job.observer.tick)
    return job.artifacts[ident]


def derive(path: Path, sha: str, fmt: str, timeout_s: float, log_path: Path, turn,
           tick=None) -> dict | str:
    """The artifact dict of format `fmt` of the source at `path` (derived in a child
    under `turn`, or inspected when cached), or why it could not be had."""
    spec = {"task": "derive", "source": str(path), "source_sha256": sha, "format": fmt}
    with turn:
        outcome = run_child(spec, timeout_s, log_path, tick=tick)
    artifact = outcome.payload.get("artifact") if outcome.ok else None
    return artifact if isinstance(artifact, dict) else \
        f"preparing format {fmt} failed: {outcome.error or 'no artifact in its result'}"


def _estimate(previous: list[float] | None) -> float | None:
    return sum(previous) / len(previous) if previous else None
