"""A stored run as a pytest-benchmark JSON file, so `pytest-benchmark compare` reads it.

pytest-benchmark measures seconds per iteration, so the speed and latency metrics (by the
kind stored with each record) are converted to seconds per unit of work: tokens/s to
seconds per token, requests/s to seconds per request, ms to s. Every converted sample goes
into `data`, and the statistics are those of the converted samples, computed by
harness.stats.Stats exactly as pytest-benchmark's own Stats class would (the stored
statistics are of the unconverted samples: the median of 1/x is not 1/median of x, and
the mean is not). Other kinds (memory, quality, counts) are not timings and are left out;
`harness compare` covers them.
"""

from __future__ import annotations

import platform
from datetime import datetime, timezone

from harness.regression.compare import label, metric_label
from harness.schema import CellResult, MetricRecord
from harness.stats import Stats

EXPORTED_KINDS = frozenset({"speed", "latency"})
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}


def seconds_per_iteration(metric: MetricRecord) -> tuple[list[float], str] | None:
    """(samples in seconds per iteration, what one iteration is), or None for metrics that
    are not timings (or whose unit says no time: a speed not per second)."""
    if metric.kind not in EXPORTED_KINDS:
        return None
    if metric.kind == "speed" and metric.unit.endswith("/s"):
        samples = [1.0 / s for s in metric.samples if s > 0]
        return samples, metric.unit.removesuffix("/s").removesuffix("s") or "call"
    if metric.kind == "latency" and metric.unit in _SECONDS:
        return [s * _SECONDS[metric.unit] for s in metric.samples], "call"
    return None


def to_pytest_benchmark(cells: list[CellResult], manifest: dict, profile: dict | None) -> dict:
    from pytest_benchmark import __version__ as pb_version

    benchmarks = []
    for cell in cells:
        if cell.status != "ok":
            continue
        for metric in cell.metrics:
            converted = seconds_per_iteration(metric)
            if converted is None or not converted[0]:
                continue
            samples, unit = converted
            entry_stats = Stats.of(samples).pytest_benchmark()
            name = f"{label(cell).replace(' ', '-')}::{metric_label(metric)}"
            benchmarks.append({
                "group": f"{cell.suite}: {metric.name}",
                "name": name,
                "fullname": f"harness/{cell.run_id}::{name}",
                "params": None,
                "param": None,
                "extra_info": {
                    "harness_metric": metric.name, "harness_unit": metric.unit,
                    "harness_kind": metric.kind,
                    "seconds_per": unit, "tags": metric.tags, "cell_key": cell.cell_key,
                    "model": cell.model, "model_sha256": cell.model_sha256,
                    "format": cell.format, "backend": cell.backend,
                    "backend_version": cell.backend_version, "suite": cell.suite,
                    "threads": cell.backend_config.get("threads"),
                    "profile_id": cell.profile_id,
                },
                "options": {"disable_gc": False, "timer": "perf_counter", "min_rounds": 1,
                            "max_time": 0, "min_time": 0, "warmup": False},
                "stats": entry_stats,
            })
    return {
        "machine_info": _machine_info(profile, manifest),
        "commit_info": _commit_info(manifest),
        "benchmarks": benchmarks,
        "datetime": manifest.get("started_at")
        or datetime.now(timezone.utc).isoformat(),
        "version": pb_version,
    }


def _machine_info(profile: dict | None, manifest: dict) -> dict:
    cpu = (profile or {}).get("cpu", {})
    return {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": {"brand_raw": cpu.get("model", ""), "count": cpu.get("logical_cores")},
        "harness_profile_id": manifest.get("profile_id"),
    }


def _commit_info(manifest: dict) -> dict:
    commit = manifest.get("git_commit") or ""
    return {"id": commit.removesuffix("-dirty"), "time": manifest.get("started_at"),
            "author_time": manifest.get("started_at"), "dirty": commit.endswith("-dirty"),
            "project": "harness", "branch": None}
