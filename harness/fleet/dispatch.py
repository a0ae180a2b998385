"""Hands placed cells to Ray as the fleet has room for them, and stores what comes back.

A profile gets no more tasks at once than its alive nodes have slots (`cells_per_node`
each, matching the `harness_slot` each node advertises), so Ray never holds a task for a
profile whose nodes are gone; the driver sees the fleet again every couple of seconds.
A task whose node dies (or whose profile loses its last node before it starts) is
handed out again, to any matching profile with room, up to `node_retries` times.
"""

from __future__ import annotations

from pathlib import Path

from harness.config import Plan
from harness.fleet.nodes import PROFILE, SLOT, cluster_nodes
from harness.fleet.selectors import NodeFacts
from harness.fleet.stores import FleetStore
from harness.fleet.task import run_cell
from harness.matrix import Cell
from harness.registry import registry
from harness.runner.record import cell_result, now
from harness.schema import CellResult

POLL_S = 2.0
"""How often the driver looks at the fleet while tasks run."""
SLIVER = 0.001
"""Of a node's `harness_profile:<id>` resource: any node of the profile may take the task."""


class Fleet:
    """The alive nodes, as the driver saw them last."""

    def __init__(self, nodes: list[tuple[str, NodeFacts | None]]) -> None:
        self.nodes = nodes

    @classmethod
    def now(cls) -> Fleet:
        return cls(cluster_nodes())

    def facts(self) -> list[NodeFacts]:
        return [facts for _, facts in self.nodes if facts is not None]

    def slots(self, per_node: int) -> dict[str, int]:
        out: dict[str, int] = {}
        for facts in self.facts():
            out[facts.profile_id] = out.get(facts.profile_id, 0) + per_node
        return out


def task_for(plan: Plan, store: FleetStore, cell: Cell, key: str, source, sha: str) -> dict:
    """What the node needs to run the cell (harness.fleet.task.run_cell)."""
    suite = registry("suites").get(cell.suite)
    config = registry("backends").get(cell.backend).config_cls.model_validate(
        cell.backend_config)
    return {"run_id": store.run_id, "key": key, "commit": store.commit,
            "cell": cell.to_dict(), "source": source, "model_sha": sha,
            "formats": [cell.format, *plan.suites[cell.suite].extra_formats(),
                        *config.extra_formats()],
            "timeout_s": plan.timeout_s, "derive_timeout_s": plan.derive_timeout_s,
            "health_limits": plan.health.model_dump(),
            "processes": plan.processes if suite.timed() else 1, "lock": store.lock}


class Dispatcher:
    def __init__(self, plan: Plan, store: FleetStore, profiles_dir: Path, observer,
                 summary) -> None:
        import ray

        self.ray, self.plan, self.store = ray, plan, store
        self.profiles_dir, self.observer, self.summary = Path(profiles_dir), observer, summary
        self.stored = store.stored()
        self.remote = ray.remote(run_cell)
        self.in_flight: dict = {}
        """Ray object ref -> (attempt, profile id)."""

    def run(self, todo: list) -> None:
        queue = []
        for attempt in todo:  # a cell whose model the driver could not have fails at once
            if attempt.causes:
                self._finish(attempt, attempt.causes[-1], None)
            else:
                queue.append(attempt)
        try:
            while queue or self.in_flight:
                fleet = Fleet.now()
                queue = self._requeue_stranded(fleet, queue)
                queue = self._submit(queue, fleet)
                if not self.in_flight:
                    for attempt in queue:
                        self._finish(attempt, "no alive node of its hardware profiles ("
                                     f"{', '.join(attempt.placed.profiles)}) is left", None)
                    return
                ready, _ = self.ray.wait(list(self.in_flight), num_returns=1, timeout=POLL_S)
                for ref in ready:
                    queue = self._collect(ref, *self.in_flight.pop(ref), queue)
        except BaseException:  # Ctrl-C or a store error: no task may run on
            for ref in self.in_flight:
                self.ray.cancel(ref, force=True)
            raise

    def _submit(self, queue: list, fleet: Fleet) -> list:
        free = fleet.slots(self.plan.cells_per_node)
        for _, profile in self.in_flight.values():
            free[profile] = free.get(profile, 0) - 1
        left = []
        for attempt in queue:
            profile = max(attempt.placed.profiles, key=lambda p: free.get(p, 0))
            if free.get(profile, 0) <= 0:
                left.append(attempt)
                continue
            free[profile] -= 1
            resources = {PROFILE + profile: SLIVER, SLOT: 1 / self.plan.cells_per_node}
            ref = self.remote.options(num_cpus=0, max_retries=0, resources=resources
                                      ).remote(attempt.task)
            self.in_flight[ref] = (attempt, profile)
            self.observer.step(f"{attempt.placed.cell.label()} on {profile}", None)
        return left

    def _requeue_stranded(self, fleet: Fleet, queue: list) -> list:
        """Tasks handed to a profile that has lost its last node since: taken back."""
        alive = fleet.slots(1)
        for ref, (attempt, profile) in list(self.in_flight.items()):
            if alive.get(profile, 0) == 0:
                self.ray.cancel(ref, force=True)
                del self.in_flight[ref]
                queue = self._fault(attempt, profile, f"every node of profile {profile} left "
                                    "before the cell could run", queue)
        return queue

    def _collect(self, ref, attempt, profile: str, queue: list) -> list:
        exceptions = self.ray.exceptions
        node_faults = (exceptions.NodeDiedError, exceptions.WorkerCrashedError,
                       exceptions.ObjectLostError, exceptions.LocalRayletDiedError,
                       exceptions.TaskUnschedulableError, exceptions.RaySystemError)
        try:
            out = self.ray.get(ref)
        except node_faults as exc:
            return self._fault(attempt, profile, _first_line(exc), queue)
        except exceptions.RayError as exc:
            cause = exc.cause if isinstance(exc, exceptions.RayTaskError) else exc
            self._finish(attempt, f"on profile {profile}: {type(cause).__name__}: "
                         f"{_first_line(cause)}", profile)
            return queue
        self._store(CellResult.model_validate(out["result"]), attempt, out)
        return queue

    def _fault(self, attempt, profile: str, cause: str, queue: list) -> list:
        attempt.tries += 1
        attempt.causes.append(f"profile {profile}: {cause}")
        if attempt.tries > self.plan.node_retries:
            self._finish(attempt, f"node failed {attempt.tries} times ("
                         f"{'; '.join(attempt.causes)})", profile)
            return queue
        self.observer.message(f"warning: {attempt.placed.cell.label()}: {cause}; "
                              f"running it again (try {attempt.tries + 1} of "
                              f"{self.plan.node_retries + 1})")
        return [attempt, *queue]

    def _finish(self, attempt, error: str, profile: str | None) -> None:
        """Store the attempt as failed with `error` (it never ran to a record)."""
        task = attempt.task
        cell = attempt.placed.cell
        version = registry("backends").get(cell.backend).version()
        result = cell_result(task["run_id"], attempt.key, cell, task["model_sha"], version,
                             {}, [], task["processes"], error,
                             profile or attempt.placed.profiles[0], task["commit"], now())
        self._store(result, attempt, None)

    def _store(self, result: CellResult, attempt, out: dict | None) -> None:
        if out is not None:
            _keep_profile(self.profiles_dir, out["profile"])
        store = self.store.put(result, self.stored.get(attempt.key) == "failed")
        if out is not None or attempt.causes:
            logs = store.dir / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            head = "".join(f"[harness] {cause}\n" for cause in attempt.causes)
            node = f"[harness] ran on Ray node {out['node_id']}\n" if out else ""
            (logs / f"{attempt.key}.log").write_text(head + node + (out or {}).get("log", ""))
        summary = self.summary
        self.observer.cell_finished(result)
        summary.contended += result.contended
        if result.status == "ok":
            summary.ok += 1
        else:
            summary.failed += 1
            summary.failures.append(f"{attempt.placed.cell.label()} "
                                    f"[{result.profile_id}]: {result.error}")


def _keep_profile(profiles_dir: Path, profile: dict) -> None:
    """A node's hardware profile, kept beside this machine's for reports (once)."""
    from harness.hardware.profile import write_profile

    if not (profiles_dir / f"{profile['id']}.yaml").is_file():
        write_profile(profile, profiles_dir)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return (lines[0] if lines else type(exc).__name__)[:300]
