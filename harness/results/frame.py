"""Stored results as one long pandas DataFrame: one row per (cell, metric), the cell's
fields repeated; a failed cell (no metrics) is one row with empty metric columns.

`COLUMNS` declares every column a reporter may read; loading always gives all of them,
in this order, so a consumer never meets a missing column on an empty or failed run.
Columns not declared (new record fields) follow after them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from harness.results.identity import metric_label
from harness.results.query import result_files
from harness.results.store import read_cells

CELL_COLUMNS = {
    "run_id": "the run the cell belongs to",
    "cell_key": "identity of the cell on its machine (harness.results.identity)",
    "status": "ok or failed",
    "error": "why a failed cell failed",
    "model": "model name in the suite file", "model_sha256": "sha256 of the source file",
    "format": "quant format name",
    "backend": "backend name", "backend_version": "engine package versions",
    "backend_config": "settings as resolved on the machine",
    "backend_request": "settings as the suite file asks for them (threads: auto)",
    "backend_settings": "what the loaded engine reported",
    "threads": "resolved CPU threads",
    "suite": "suite name", "suite_params": "suite parameters", "seed": "seed",
    "profile_id": "hardware profile", "harness_version": "harness version",
    "git_commit": "harness commit", "started_at": "UTC start", "finished_at": "UTC end",
    "duration_s": "wall time of the cell",
    "health": "the machine's health while the cell's timed part ran (contended, reasons)",
    "run_read_bandwidth_gb_s": "read bandwidth the run's preflight re-measured (run.json)",
    "artifact_path": "file or folder measured", "artifact_container": "gguf, hf, onnx...",
    "artifact_sha256": "sha256 of the artifact", "artifact_size_bytes": "artifact size",
    "artifact_quant_type": "quant type read from the file",
    "artifact_bits_per_weight": "bits per weight read from the file",
    "artifact_n_params": "parameters",
}
METRIC_COLUMNS = {
    "metric_name": "metric name as the suite declares it",
    "metric_label": "name plus tags: what tells two metrics of one name apart",
    "metric_unit": "unit", "metric_tags": "tags", "kind": "speed, latency, memory, size, "
    "quality or count", "higher_is_better": "direction",
    "samples": "every sample", "stderr": "standard error of a single-valued estimate",
    "n": "samples", "median": "median", "mean": "mean", "stdev": "sample standard deviation",
    "min": "min", "max": "max", "q1": "first quartile", "q3": "third quartile",
    "iqr": "interquartile range", "ci_low": "95% CI of the mean, low",
    "ci_high": "95% CI of the mean, high",
}
COLUMNS = {**CELL_COLUMNS, **METRIC_COLUMNS}
_RENAMED = {"name": "metric_name", "unit": "metric_unit", "tags": "metric_tags"}


def load_frame(paths: Iterable[str | Path]) -> pd.DataFrame:
    """Every metric of every cell in `paths` (run folders, cells.jsonl files or a results
    root) as one long DataFrame with the declared columns."""
    rows = []
    for file in result_files(paths):
        bandwidth = _run_bandwidth(file.parent)
        for cell in read_cells(file):
            rows += [{**row, "run_read_bandwidth_gb_s": bandwidth} for row in _rows(cell)]
    frame = pd.DataFrame(rows)
    extra = [c for c in frame.columns if c not in COLUMNS]
    return frame.reindex(columns=[*COLUMNS, *extra])


def _run_bandwidth(directory: Path) -> float | None:
    """The memory bandwidth re-measured before the run (None: not measured or unreadable)."""
    from harness.errors import UsageError
    from harness.results.store import RUN_FILE, read_manifest

    if not (directory / RUN_FILE).is_file():
        return None
    try:
        value = (read_manifest(directory).get("preflight") or {}).get("read_bandwidth_gb_s")
    except (UsageError, AttributeError):
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool) \
        and math.isfinite(value) and value > 0
    return float(value) if ok else None


def _rows(cell) -> list[dict]:
    base = cell.model_dump(exclude={"metrics"})
    artifact = base.pop("artifact") or {}
    base.update({f"artifact_{k}": v for k, v in artifact.items()})
    base["threads"] = cell.backend_config.get("threads")
    if not cell.metrics:
        return [base]
    out = []
    for metric in cell.metrics:
        fields = {_RENAMED.get(k, k): v for k, v in metric.model_dump().items()}
        fields["metric_label"] = metric_label(metric.name, metric.tags)
        out.append({**base, **fields})
    return out
