"""The nightly gate: after a run of a suite file, judge it against this machine's
baseline. With no baseline for the run's hardware profile yet, the run becomes it (when
every cell succeeded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness.errors import UsageError
from harness.regression.compare import Comparison, compare_runs
from harness.results.query import baseline_for, load_run, resolve_run, set_baseline
from harness.thresholds import RegressionConfig


@dataclass
class NightlyVerdict:
    run_id: str
    profile_id: str
    baseline_run: str | None
    """The baseline compared with; None when this run just became the baseline."""
    comparison: Comparison | None

    @property
    def regressed(self) -> bool:
        return self.comparison is not None and self.comparison.regressed


def judge(run_dir: Path, profile_id: str, failed: int, results_root: Path,
          config: RegressionConfig) -> NightlyVerdict:
    """Compare the finished run in `run_dir` with its profile's baseline, or pin it."""
    base_id = baseline_for(results_root, profile_id)
    if base_id is None:
        if failed:
            raise UsageError(f"no baseline for {profile_id} and {failed} cells failed; fix: "
                             "make the suite pass, then run nightly again")
        set_baseline(results_root, run_dir)
        return NightlyVerdict(run_dir.name, profile_id, None, None)
    base_dir = resolve_run(base_id, results_root, profile_id)
    comparison = compare_runs(load_run(base_dir), load_run(run_dir), config)
    return NightlyVerdict(run_dir.name, profile_id, base_id, comparison)
