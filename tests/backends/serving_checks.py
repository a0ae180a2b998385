"""What the tests of batching servers share: a serving-suite run on a loaded backend,
and the check that a closed loop's requests were served at once and counted exactly."""

from __future__ import annotations

from pathlib import Path

from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.suites.context import CellContext
from harness.suites.serving import ServingParams, ServingSuite


def run_serving(backend, params: ServingParams, path: Path, fmt: str) -> tuple[list, dict]:
    """(metrics, request records by point) of the serving suite on `backend`."""
    suite = ServingSuite()
    with MemorySampler(enabled=False) as memory:
        ctx = CellContext(artifact=resolve.describe(path, fmt, "-"), load_time_s=0.0,
                          memory=memory, seed=0)
        metrics = suite.run(backend, params, ctx)
    return metrics, suite.records()["requests"]


def assert_batched(point: list[dict], requests: int, max_tokens: int) -> None:
    assert len(point) == requests and all(r["error"] is None for r in point)
    # batching: some request got its first token while another was still generating
    spans = [(r["chunks"][0][0], r["chunks"][-1][0]) for r in point]
    assert any(a[0] < b[0] < a[1] for a in spans for b in spans if a is not b), spans
    # the server's own token counts: every request ran to max_tokens, counted exactly
    assert all(sum(n for _, n in r["chunks"]) == max_tokens for r in point)
