"""The noise floor of a machine: how far identical runs of a speed metric drift apart here.

`harness calibrate SUITE` runs the suite's timed cells in R worker processes (interleaved)
and stores, per (cell label, metric label), the between-process coefficient of variation of
the per-process medians: the spread one whole run has around another on this machine, which
pooled within-run samples understate. It lives in the hardware profile YAML:

    noise_floor:
      <plan name>:
        <cell label>:
          <metric label>: {cv: 0.012, runs: 8, measured_at: 2026-...}

`auto` thresholds (harness.thresholds) resolve from it, and `compare` prints from it the
minimum detectable effect of a one-run-against-one-run comparison.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import yaml

from harness.errors import UsageError
from harness.schema import CellResult

SAMPLED_KINDS = ("speed", "latency")
POWER = 0.9
"""The power at which the minimum detectable effect is stated."""
Floors = dict[tuple[str, str], dict]
"""(cell label, metric label) -> {cv, runs, measured_at}."""


def _profile_path(profiles_dir: Path, profile_id: str) -> Path:
    return Path(profiles_dir) / f"{profile_id}.yaml"


def load_noise_floor(profiles_dir: Path, profile_id: str, plan_name: str) -> Floors:
    """The stored floor of plan `plan_name` on profile `profile_id` ({} when none)."""
    path = _profile_path(profiles_dir, profile_id)
    try:
        profile = yaml.safe_load(path.read_text()) if path.is_file() else None
    except (OSError, yaml.YAMLError):
        return {}  # a damaged profile has no usable floor; `auto` then warns and falls back
    plans = (profile or {}).get("noise_floor") if isinstance(profile, dict) else None
    cells = plans.get(plan_name) if isinstance(plans, dict) else None
    out: Floors = {}
    for cell, metrics in (cells or {}).items():
        for metric, entry in (metrics or {}).items():
            if isinstance(entry, dict) and isinstance(entry.get("cv"), int | float):
                out[(str(cell), str(metric))] = dict(entry)
    return out


def store_noise_floor(profiles_dir: Path, profile_id: str, plan_name: str,
                      floors: Floors) -> Path:
    """Replace plan `plan_name`'s floor in the profile (other plans' floors are kept);
    written to a temporary file and renamed, so a crash never leaves half a profile."""
    path = _profile_path(profiles_dir, profile_id)
    if not path.is_file():
        raise UsageError(f"{path}: no hardware profile {profile_id} to store the noise floor "
                         "in; fix: run harness profile first (or harness calibrate, which "
                         "captures it)")
    profile = yaml.safe_load(path.read_text()) or {}
    nested: dict[str, dict] = {}
    for (cell, metric), entry in sorted(floors.items()):
        nested.setdefault(cell, {})[metric] = entry
    profile.setdefault("noise_floor", {})[plan_name] = nested
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(yaml.safe_dump(profile, sort_keys=False))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def between_process_cv(samples: list[float], process: list[int] | None) -> float | None:
    """Coefficient of variation of the per-process medians (None below two processes)."""
    if not process:
        return None
    from harness.stats import per_process

    medians = [statistics.median(g) for g in per_process(samples, process) if g]
    finite = [m for m in medians if math.isfinite(m)]
    if len(finite) < 2 or statistics.fmean(finite) == 0:
        return None
    return statistics.stdev(finite) / abs(statistics.fmean(finite))


def floors_of_run(cells: list[CellResult]) -> Floors:
    """The floor each ok cell's speed and latency metrics show across their processes."""
    from harness.results.identity import label, metric_label

    now = datetime.now(timezone.utc).isoformat(timespec="seconds")
    out: Floors = {}
    for cell in cells:
        if cell.status != "ok":
            continue
        for metric in cell.metrics:
            if metric.kind not in SAMPLED_KINDS:
                continue
            cv = between_process_cv(metric.samples, metric.process)
            if cv is not None:
                out[(label(cell), metric_label(metric.name, metric.tags))] = {
                    "cv": round(cv, 6), "runs": len(set(metric.process or [])),
                    "measured_at": now}
    return out


def minimum_detectable_effect(cv: float, false_alarm: float, power: float = POWER) -> float:
    """The relative change (a fraction) that one run against one run, each with relative
    spread `cv`, detects with `power` at a two-sided false-alarm rate `false_alarm`:
    (z(1 - a/2) + z(power)) * sqrt(2) * cv."""
    from harness.stats import normal_quantile

    z_alpha = normal_quantile(1 - false_alarm)
    z_power = normal_quantile(2 * power - 1)  # one-sided quantile `power`
    return (z_alpha + z_power) * math.sqrt(2) * cv


@dataclass
class NoiseFloor:
    """The stored floor that thresholds and the printed MDE of one comparison come from."""

    profile_id: str
    plan_name: str = ""
    suite_file: str = "SUITE.yaml"
    floors: Floors = field(default_factory=dict)

    @classmethod
    def load(cls, profiles_dir: Path, profile_id: str, plan_name: str,
             suite_file: str | None = None) -> NoiseFloor:
        return cls(profile_id, plan_name, suite_file or "SUITE.yaml",
                   load_noise_floor(profiles_dir, profile_id, plan_name) if plan_name else {})

    def cv(self, cell: str, metric: str) -> float | None:
        entry = self.floors.get((cell, metric))
        return None if entry is None else float(entry["cv"])

    def missing(self, cell: str, metric: str, judged_at: str) -> str:
        """The warning for an `auto` threshold that had no floor to resolve from."""
        return (f"no noise floor for {cell} {metric} on {self.profile_id}: run harness "
                f"calibrate {self.suite_file}; judged at {judged_at}")
