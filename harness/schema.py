"""The one result schema. A stored line is a `CellResult`; see results/README.md.

Version 2 stores each metric's `kind` (from its suite's spec) and its quartiles; version 3
adds the machine's health while the cell ran (`health`) and, for a cell measured in several
worker processes, each sample's process index (`MetricRecord.process`). Older lines keep
loading (their new fields are None).
Version-1 lines: a metric's kind comes from its suite's spec when that suite is
installed, else from its unit (`harness.suites.metrics.kind_from_unit`), and the new
statistics are computed from the stored samples.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, model_validator

from harness.suites.metrics import Kind, declared_spec, kind_from_unit

SCHEMA_VERSION = 3


class MetricRecord(BaseModel):
    # NaN and infinities are stored as JSON's NaN/Infinity constants (which reading
    # accepts), not as null, so every stored sample reads back exactly
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    name: str
    unit: str
    higher_is_better: bool
    kind: Kind
    """speed, latency, memory, size, quality or count (harness.suites.metrics.KINDS)."""
    tags: dict[str, Any] = {}
    samples: list[float]
    stderr: float | None = None
    n: int
    median: float | None
    mean: float | None
    stdev: float | None
    min: float | None
    max: float | None
    ci_low: float | None
    """Student-t 95% confidence interval of the mean; None with fewer than two samples."""
    ci_high: float | None
    q1: float | None
    """Quartiles as pytest-benchmark computes them (harness.stats.Stats)."""
    q3: float | None
    iqr: float | None
    process: list[int] | None = None
    """With `processes: N` > 1: the worker process (0..N-1) each sample came from, in the
    order of `samples`; None when one process measured them all."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        """Fill what a version-1 record lacks: kind by unit (CellResult first tries the
        suite's spec), quartiles from the samples."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "kind" not in data and "unit" in data:
            data["kind"] = kind_from_unit(data["unit"])
        if "q1" not in data and "samples" in data:
            from harness.stats import Stats

            stats = Stats.of(data["samples"])
            data.update(q1=stats.q1, q3=stats.q3, iqr=stats.iqr)
        return data


class CellResult(BaseModel):
    """One finished cell (succeeded or failed), exactly as stored."""

    # NaN and infinities are stored as JSON's NaN/Infinity constants (which reading
    # accepts), not as null, so every stored sample reads back exactly
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")

    schema_version: int = SCHEMA_VERSION
    run_id: str
    cell_key: str
    status: Literal["ok", "failed"]
    error: str | None = None
    model: str
    model_sha256: str
    format: str
    artifact: dict[str, Any] = {}
    backend: str
    backend_version: str
    backend_config: dict[str, Any]
    """Settings as resolved on the machine that ran the cell (threads: 2)."""
    backend_request: dict[str, Any] | None = None
    """Settings as the suite file asks for them (threads: auto); what comparisons match
    on. None in records written before schema version 2."""
    backend_settings: dict[str, Any] = {}
    suite: str
    suite_params: dict[str, Any]
    seed: int
    metrics: list[MetricRecord] = []
    profile_id: str
    harness_version: str
    git_commit: str
    started_at: str
    finished_at: str
    duration_s: float
    records: list[dict[str, Any] | None] | None = None
    """What the suite kept of each item it measured (`Suite.records`), one entry per
    worker process; None for suites that keep nothing."""
    health: dict[str, Any] | None = None
    """What else the machine did while the cell's timed part ran (harness.hardware.health):
    other processes' CPU, steal, load, clocks; `contended: true` when it shared the CPU
    beyond the plan's `health` limits. None in records written before schema version 3."""

    @property
    def contended(self) -> bool:
        """Whether the cell's timed part shared the machine beyond its plan's limits."""
        return bool(self.health and self.health.get("contended"))

    @model_validator(mode="before")
    @classmethod
    def _kinds_from_specs(cls, data: Any) -> Any:
        """A version-1 metric's kind from its suite's declaration, where installed."""
        if not isinstance(data, dict) or not data.get("metrics"):
            return data
        metrics = []
        for metric in data["metrics"]:
            if isinstance(metric, dict) and "kind" not in metric:
                spec = declared_spec(str(data.get("suite")), str(metric.get("name")))
                metric = {**metric, "kind": spec.kind} if spec is not None else metric
            metrics.append(metric)
        return {**data, "metrics": metrics}
