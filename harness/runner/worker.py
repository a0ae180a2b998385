"""Child-process entry: `python -m harness.runner.worker OUT_FD PARENT_PID`.

Reads one task (derive an artifact, or run one cell) as JSON on stdin and writes its
outcome as JSON to the inherited file descriptor OUT_FD. If this process dies instead
(segfault, OOM kill, timeout), the parent records the cause from the exit status;
nothing here needs to survive, and nothing is left on disk.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from harness.config import HealthLimits
from harness.formats import resolve
from harness.formats.base import Artifact
from harness.hardware.health import HealthWindow
from harness.hardware.memory import MemorySampler
from harness.registry import registry
from harness.runner.turns import Turns
from harness.suites.context import CellContext


def derive_task(spec: dict) -> dict:
    source = Path(spec["source"])
    path = resolve.derive(source, spec["source_sha256"], spec["format"])
    return {"artifact": resolve.describe(path, spec["format"], spec["source_sha256"]).to_dict()}


def cell_task(spec: dict) -> dict:
    cell = spec["cell"]
    artifact = Artifact(**spec["artifact"])
    backend_cls = registry("backends").get(cell["backend"])
    suite_cls = registry("suites").get(cell["suite"])
    extra = {fmt: Artifact(**a) for fmt, a in spec.get("extra_artifacts", {}).items()}
    config = backend_cls.config_cls.model_validate(cell["backend_config"]).with_artifacts(
        {cell["format"]: artifact.path, **{fmt: a.path for fmt, a in extra.items()}})

    @contextmanager
    def opener(other: Artifact):
        instance = backend_cls(config)
        instance.load(Path(other.path))
        try:
            yield instance
        finally:
            instance.unload()

    limits = spec.get("health_limits") or HealthLimits().model_dump()
    with HealthWindow(limits, PARENT_PID, paused="turns" in spec) as health, \
            MemorySampler(enabled=suite_cls.samples_memory) as memory:
        turns = Turns.from_spec(spec, waiting=health.pause, granted=health.resume)
        take_turn = turns.take if turns else _no_turns
        take_turn()  # in lockstep, even loading runs alone
        backend = backend_cls(config)
        params = suite_cls.params_cls.model_validate(cell["suite_params"])
        start = time.perf_counter()
        backend.load(Path(artifact.path))
        load_time = time.perf_counter() - start
        try:
            ctx = CellContext(artifact=artifact, load_time_s=load_time, memory=memory,
                              seed=cell["seed"], extra_artifacts=extra, opener=opener,
                              take_turn=take_turn)
            suite = suite_cls()
            metrics = suite.measure(backend, params, ctx)
            settings = backend.settings()
        finally:
            backend.unload()
    return {"metrics": [m.to_dict() for m in metrics], "backend_settings": settings,
            "health": health.result, "records": suite.records()}


def _no_turns() -> None:
    pass


TASKS = {"derive": derive_task, "cell": cell_task}


OUTCOME_FD: int | None = None
"""Where this worker sends its outcome (the test plugins use it to send a garbled one)."""
PARENT_PID: int | None = None
"""The runner, whose own (polling) CPU time counts as the cell's in its health."""


def _die_with_parent(parent_pid: int) -> None:
    """On Linux, have the kernel kill this process if the runner dies (no orphans
    left running and disturbing the timings of a resumed run); a runner that died
    before this line ran is caught by the parent check."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig, pr_set_child_subreaper = 1, 36
        libc = ctypes.CDLL(None)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL)
        # a server's own children (vLLM's engine core) that it leaves behind come back to
        # this process, which reaps them: their CPU time then counts as the cell's, not
        # as another process's in the cell's health (harness.backends.server_process)
        libc.prctl(pr_set_child_subreaper, 1)
    if parent_pid and os.getppid() != parent_pid:
        os._exit(1)


def main(argv: list[str]) -> int:
    from harness.runner import worker  # this module by its name, also when run as __main__

    global PARENT_PID  # of the module whose TASKS run (__main__ when run with -m)
    out_fd, parent_pid = int(argv[0]), int(argv[1]) if len(argv) > 1 else 0
    worker.OUTCOME_FD = out_fd
    PARENT_PID = parent_pid or None
    _die_with_parent(parent_pid)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    spec = json.loads(sys.stdin.buffer.read())
    devnull = os.open(os.devnull, os.O_RDONLY)  # what the task starts reads nothing of ours
    os.dup2(devnull, 0)
    os.close(devnull)
    try:
        outcome = {"status": "ok", **TASKS[spec["task"]](spec)}
        code = 0
    except Exception as exc:  # any failure of the task is the cell's outcome, not ours
        traceback.print_exc()
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        code = 1
    with os.fdopen(out_fd, "wb") as out:
        out.write(json.dumps(outcome).encode("utf-8", "backslashreplace"))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
