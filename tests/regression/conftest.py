"""Stored-result builders for the comparison logic's own tests.

Comparison reads stored results only, so these tests build results the way the runner
stores them (statistics from harness.stats); the end-to-end tests use real runs.
"""

from __future__ import annotations

import numpy as np

from harness.schema import CellResult, MetricRecord
from harness.stats import summarize
from harness.suites.metrics import kind_from_unit


def metric(name: str, samples, unit: str = "tokens/s", higher_is_better: bool = True,
           stderr: float | None = None, kind: str | None = None, **tags) -> MetricRecord:
    """A stored metric; without `kind`, the kind its unit implies (as for a version-1
    record of a suite that is not installed)."""
    samples = [float(s) for s in samples]
    return MetricRecord(name=name, unit=unit, higher_is_better=higher_is_better, tags=tags,
                        samples=samples, stderr=stderr, kind=kind or kind_from_unit(unit),
                        **summarize(samples, stderr=stderr))


def cell(run_id: str, metrics: list[MetricRecord], model: str = "m", profile: str = "p1",
         status: str = "ok", suite: str = "throughput") -> CellResult:
    return CellResult(
        run_id=run_id, cell_key=f"{model}-{suite}", status=status,
        error=None if status == "ok" else "engine crashed (SIGSEGV)", model=model,
        model_sha256="a" * 64, format="q4_0", backend="llama_cpp", backend_version="0.3.36",
        backend_config={"threads": 2}, suite=suite, suite_params={}, seed=0,
        metrics=metrics if status == "ok" else [], profile_id=profile,
        harness_version="0.1.0", git_commit="abc", started_at="2026-11-22T00:00:00+00:00",
        finished_at="2026-11-22T00:00:01+00:00", duration_s=1.0)


def draws(center: float, n: int = 8, spread: float = 0.03, seed: int = 0) -> np.ndarray:
    """`n` noisy measurements around `center` (relative noise `spread`)."""
    return center * (1 + spread * np.random.default_rng(seed).standard_normal(n))
