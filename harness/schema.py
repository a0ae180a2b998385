"""The one result schema. A stored line is a `CellResult`; see results/README.md."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SCHEMA_VERSION = 1


class MetricRecord(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    unit: str
    higher_is_better: bool
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


class CellResult(BaseModel):
    """One finished cell (succeeded or failed), exactly as stored."""

    model_config = ConfigDict(extra="forbid")

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
