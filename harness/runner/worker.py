"""Child-process entry: `python -m harness.runner.worker SPEC.json OUT.json`.

Runs one task (derive an artifact, or run one cell) and writes its outcome to
OUT.json. If this process dies instead (segfault, OOM kill, timeout), the
parent records the cause from the exit status; nothing here needs to survive.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import traceback
from contextlib import contextmanager
from pathlib import Path

from harness.formats import resolve
from harness.formats.base import Artifact
from harness.hardware.memory import MemorySampler
from harness.registry import registry
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
    config = backend_cls.config_cls.model_validate(cell["backend_config"])

    @contextmanager
    def opener(other: Artifact):
        instance = backend_cls(config)
        instance.load(Path(other.path))
        try:
            yield instance
        finally:
            instance.unload()

    with MemorySampler(enabled=suite_cls.samples_memory) as memory:
        backend = backend_cls(config)
        params = suite_cls.params_cls.model_validate(cell["suite_params"])
        start = time.perf_counter()
        backend.load(Path(artifact.path))
        load_time = time.perf_counter() - start
        try:
            extra = {fmt: Artifact(**a) for fmt, a in spec.get("extra_artifacts", {}).items()}
            ctx = CellContext(artifact=artifact, load_time_s=load_time, memory=memory,
                              seed=cell["seed"], extra_artifacts=extra, opener=opener)
            metrics = suite_cls().measure(backend, params, ctx)
            settings = backend.settings()
        finally:
            backend.unload()
    return {"metrics": [m.to_dict() for m in metrics], "backend_settings": settings}


TASKS = {"derive": derive_task, "cell": cell_task}


def _die_with_parent() -> None:
    """On Linux, have the kernel kill this process if the runner dies (no orphans
    left running and disturbing the timings of a resumed run)."""
    if sys.platform.startswith("linux"):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None).prctl(pr_set_pdeathsig, signal.SIGKILL)


def main(argv: list[str]) -> int:
    _die_with_parent()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    spec_path, out_path = Path(argv[0]), Path(argv[1])
    spec = json.loads(spec_path.read_text())
    try:
        outcome = {"status": "ok", **TASKS[spec["task"]](spec)}
        code = 0
    except Exception as exc:  # any failure of the task is the cell's outcome, not ours
        traceback.print_exc()
        outcome = {"status": "failed", "error": f"{type(exc).__name__}: {exc}"}
        code = 1
    out_path.write_text(json.dumps(outcome))
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
