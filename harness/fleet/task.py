"""What a Ray task does on the node it lands on: one cell, start to stored record.

The node fetches the model into its own cache and checks its sha256 against the
driver's, derives (or finds cached) the formats the cell needs, and runs the cell's
worker processes as child processes under the node's machine lock, exactly as a local
run does; the record and the log go back to the driver, which stores them. Only the
task's description travels to the node and only the record and log travel back: models
and derived files never pass through Ray's object store.
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from contextlib import nullcontext
from pathlib import Path

from harness.cache import sha256_path
from harness.errors import HarnessError, UsageError
from harness.fleet.nodes import PROFILE, node_profile
from harness.matrix import Cell
from harness.registry import registry
from harness.results.identity import AUTO, MACHINE_DEPENDENT
from harness.runner.child import run_child
from harness.runner.locks import MachineLock
from harness.runner.record import cell_result, now
from harness.runner.rounds import cell_spec, derive, interpreter

LOG_LIMIT = 1 << 20
"""The tail of a cell's log sent back to the driver, in bytes."""


def run_cell(task: dict) -> dict:
    """Run one cell here. `task`: run_id, key, commit, cell (Cell fields), source (a
    ModelSource), model_sha, formats, timeout_s, derive_timeout_s, health_limits,
    processes, lock. Returns the record (as JSON data), the log's tail, the profile."""
    import ray

    context = ray.get_runtime_context()
    profile_id = next(name[len(PROFILE):] for name in context.get_assigned_resources()
                      if name.startswith(PROFILE))
    work = Path(tempfile.mkdtemp(prefix="harness-cell-"))
    try:
        result = _run(task, profile_id, work)
        log = work / "cell.log"
        return {"result": result.model_dump(mode="json"), "log": _tail(log),
                "profile": node_profile(profile_id), "node_id": context.get_node_id()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(task: dict, profile_id: str, work: Path):
    cell = on_this_node(Cell(**task["cell"]))
    backend_version = registry("backends").get(cell.backend).version()
    started = now()
    turn = (lambda: MachineLock(task["run_id"], _say)) if task["lock"] else nullcontext
    artifact, extra, error = _prepare(task, work, turn)
    outcomes = []
    for process in range(task["processes"] if error is None else 0):
        spec = cell_spec(cell, artifact, extra, task["health_limits"], process)
        with turn():
            outcome = run_child(spec, task["timeout_s"], work / "cell.log",
                                python=interpreter(cell))
        outcomes.append(outcome)
        if not outcome.ok:
            break
    return cell_result(task["run_id"], task["key"], cell, task["model_sha"], backend_version,
                       artifact, outcomes, task["processes"], error, profile_id,
                       task["commit"], started)


def on_this_node(cell: Cell) -> Cell:
    """The cell with the settings the suite left to the machine (threads: auto) resolved
    on this node rather than on the driver."""
    request = cell.backend_request or {}
    auto = {name: AUTO for name in MACHINE_DEPENDENT if request.get(name, AUTO) == AUTO
            and name in cell.backend_config}
    if not auto:
        return cell
    config = registry("backends").get(cell.backend).config_cls
    resolved = config.model_validate({**cell.backend_config, **auto}).model_dump()
    return Cell(**{**cell.to_dict(), "backend_config": resolved})


def _prepare(task: dict, work: Path, turn) -> tuple[dict, dict, str | None]:
    """(artifact of the cell's format, the other formats' artifacts, error or None):
    the model in this node's cache, verified against the driver's sha256."""
    try:
        path = task["source"].resolve()
        sha = sha256_path(path)
    except (HarnessError, UsageError, OSError) as exc:
        return {}, {}, f"model on this node: {exc}"
    if sha != task["model_sha"]:
        return {}, {}, (f"the model file on this node ({path}) has sha256 {sha[:12]}, the "
                        f"driver's has {task['model_sha'][:12]}: not the same model")
    prepared = {}
    for fmt in dict.fromkeys(task["formats"]):
        prepared[fmt] = derive(path, sha, fmt, task["derive_timeout_s"],
                               work / "cell.log", turn())
        if isinstance(prepared[fmt], str):
            return {}, {}, prepared[fmt]
    first, *others = dict.fromkeys(task["formats"])
    return prepared[first], {fmt: prepared[fmt] for fmt in others}, None


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _tail(path: Path) -> str:
    try:
        with open(path, "rb") as log:
            size = log.seek(0, 2)
            log.seek(max(0, size - LOG_LIMIT))
            return log.read().decode("utf-8", "replace")
    except OSError:
        return ""
