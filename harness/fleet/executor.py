"""`harness run --executor ray`: the matrix as Ray tasks, placed by hardware profile.

The driver (this process) keeps the plan, the store and resume as a local run does:
it expands the matrix, places each cell on the hardware profiles its suite allows
(harness.fleet.placement), skips what the resumed run stored, and stores each record as
its task ends (harness.fleet.stores). A node runs `cells_per_node` cells at once (one by
default: timed cells never share its CPUs or GPU): the driver hands a profile no more
tasks than its alive nodes have slots, so nothing waits on a node that is gone. A node
that dies mid-cell has the cell run again on another matching node, up to
`node_retries` times; Ctrl-C cancels every task (their worker processes are killed, and
a cell's child processes die with them).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from harness.config import Plan
from harness.errors import UsageError
from harness.fleet import dispatch
from harness.fleet.placement import place
from harness.fleet.stores import FleetStore
from harness.matrix import Matrix
from harness.registry import registry
from harness.results.identity import cell_key
from harness.runner.rounds import resolve_source
from harness.runner.runner import (
    RunSummary,
    _ignore_file_size_signal,
    _Silent,
    git_commit,
    skip_stored,
)

log = logging.getLogger(__name__)
INSTALL = "pip install -e '.[ray]'"
ANY_PROFILE = "any"


@dataclass
class Attempt:
    """A placed cell on its way through the fleet."""

    placed: object
    key: str
    task: dict
    tries: int = 0
    causes: list[str] = field(default_factory=list)


def import_ray():
    try:
        import ray
    except ImportError:
        raise UsageError(f"--executor ray: Ray is not installed; fix: {INSTALL}") from None
    return ray


def run_on_ray(plan: Plan, matrix: Matrix, results_root: Path, profiles_dir: Path,
               address: str | None = None, resume: str | None = None,
               retry_failed: bool = False, observer=None, lock: bool = True):
    """Run the matrix on the Ray cluster at `address` (None: a one-node cluster of this
    machine); the RunSummary of the run, whose `dirs` are its per-profile folders."""
    ray = import_ray()
    observer = observer or _Silent()
    _ignore_file_size_signal()
    _connect(ray, address, profiles_dir)
    try:
        nodes = dispatch.Fleet.now()
        placed = place(plan, matrix.cells, nodes.facts())
        store = FleetStore.open(plan, results_root, git_commit(), resume,
                                lock and plan.cells_per_node == 1)
        try:
            summary = RunSummary(store.run_id, Path(results_root), "", False)
            todo = _todo(plan, placed, store, observer, summary, retry_failed, matrix)
            dispatch.Dispatcher(plan, store, profiles_dir, observer, summary).run(todo)
            summary.dirs = store.dirs()
            summary.profile_id = ", ".join(sorted(store.stores))
        finally:
            store.release()
    finally:
        ray.shutdown()
    return summary


def _connect(ray, address: str | None, profiles_dir: Path) -> None:
    """Join the cluster at `address`, or start a one-node cluster advertising this
    machine's hardware profile."""
    from harness.fleet.nodes import advertised
    from harness.hardware.profile import current_profile, load_profile

    quiet = {"logging_level": logging.WARNING, "log_to_driver": False,
             "include_dashboard": False}
    if address:
        try:
            ray.init(address=address, **quiet)
        except (ConnectionError, RuntimeError, ValueError) as exc:
            raise UsageError(f"--address {address}: no Ray cluster there ({exc}); fix: start "
                             "the head with harness fleet start --head, or leave --address "
                             "out to run on this machine") from None
        return
    _, path, _ = current_profile(profiles_dir)
    # "local": a new cluster of this machine even where one was started (ray start)
    ray.init(address="local", resources=advertised(load_profile(path)), **quiet)


def _todo(plan: Plan, placed: list, store: FleetStore, observer, summary,
          retry_failed: bool, matrix: Matrix) -> list[Attempt]:
    """The attempts still to run; counts (and reports) what the resumed run holds."""
    stored = store.stored()
    observer.run_started(store.run_id, len(placed), len(matrix.skipped))
    sources = _Sources(plan, observer)
    todo = []
    for item in placed:
        cell = item.cell
        sha = sources.sha(cell.model)
        version = registry("backends").get(cell.backend).version()
        fields = {k: v for k, v in cell.to_dict().items() if k != "backend_request"}
        fields["backend_config"] = cell.backend_request or cell.backend_config
        key = cell_key(fields, sha, version, item.replica or ANY_PROFILE)
        if skip_stored(stored.get(key), retry_failed, summary, observer):
            continue
        task = dispatch.task_for(plan, store, cell, key, sources.source(cell.model), sha)
        todo.append(Attempt(item, key, task, causes=[sources.error(cell.model)]
                            if sources.error(cell.model) else []))
    if stored:
        observer.message(f"resuming Ray run {store.run_id}: {summary.already_done} cells "
                         "already stored")
    return todo


class _Sources:
    """Each model resolved and hashed once on the driver: its sha256 is part of the cell
    key, and every node checks its own copy against it."""

    def __init__(self, plan: Plan, observer) -> None:
        self.models = {m.name: m for m in plan.models}
        self.observer = observer
        self.found: dict[str, tuple[str, str | None]] = {}

    def _resolve(self, model: str) -> tuple[str, str | None]:
        if model not in self.found:
            self.observer.step(f"fetching model {model}", None)
            found = resolve_source(self.models[model])
            self.found[model] = ("unavailable", found) if isinstance(found, str) \
                else (found[1], None)
        return self.found[model]

    def sha(self, model: str) -> str:
        return self._resolve(model)[0]

    def error(self, model: str) -> str | None:
        return self._resolve(model)[1]

    def source(self, model: str):
        return self.models[model]
