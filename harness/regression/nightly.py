"""The nightly gate: after a run of a suite file, judge it against this machine's recent
history of the same plan (harness.regression.history), falling back to the pinned baseline.

- With no baseline for the run's hardware profile yet, the run becomes it (when every cell
  succeeded and none was contended).
- The night is compared with the baseline as `harness compare` would; that gives the
  quality, memory and size verdicts, the newly failed cells and the contended warnings.
- Each speed and latency row of a clean cell with at least three clean nights of history
  is then judged against the level of that history instead (steps detected, so an accepted
  change moves the reference; contended and failed nights left out, so they never do).
- A contended cell's speed and latency rows stay inconclusive: a busy night fails the gate
  only through a non-speed regression or a newly failed cell.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import UsageError
from harness.regression.compare import Comparison, compare_runs
from harness.regression.history import (
    HISTORY,
    SAMPLED,
    HistoryRow,
    clean,
    history_points,
    judge_metric,
    requested,
)
from harness.results.identity import label, match_key, metric_label
from harness.results.query import baseline_for, list_runs, load_run, resolve_run, set_baseline
from harness.results.store import read_manifest
from harness.schema import CellResult
from harness.suites.metrics import declared_spec
from harness.thresholds import RegressionConfig


@dataclass
class NightlyVerdict:
    run_id: str
    profile_id: str
    baseline_run: str | None
    """The baseline compared with; None when this run just became the baseline (or, when
    contended, was refused as one)."""
    comparison: Comparison | None
    history_rows: list[HistoryRow] = field(default_factory=list)
    """The rows judged against history (they replace their baseline rows in `comparison`)."""
    contended: bool = False
    """Some timed cell of this night shared the machine: its speed verdicts are
    inconclusive."""
    contended_cells: list[str] = field(default_factory=list)
    """'<cell>: <reasons>' for each contended cell."""
    method: str = "baseline"
    """history, history + baseline (some rows lacked history), or baseline."""
    history_runs: list[str] = field(default_factory=list)
    """The earlier runs of the plan that history was drawn from, oldest first."""

    @property
    def regressed(self) -> bool:
        return self.comparison is not None and self.comparison.regressed


def judge(run_dir: Path, profile_id: str, failed: int, results_root: Path,
          config: RegressionConfig, profiles_dir: Path | None = None,
          history: int = HISTORY) -> NightlyVerdict:
    """Judge the finished run in `run_dir` against its history and its profile's baseline,
    or pin it as the baseline. `profiles_dir`: where the noise floor is read (None: none)."""
    night = load_run(run_dir)
    busy = contended_cells(night)
    base_id = baseline_for(results_root, profile_id)
    if base_id is None:
        if failed:
            raise UsageError(f"no baseline for {profile_id} and {failed} cells failed; fix: "
                             "make the suite pass, then run nightly again")
        if not busy:
            set_baseline(results_root, run_dir)
        return NightlyVerdict(run_dir.name, profile_id, None, None, contended=bool(busy),
                              contended_cells=busy, method="none")
    plan_name = read_manifest(run_dir).get("plan_name")
    earlier = previous_runs(results_root, profile_id, plan_name, run_dir.name, history)
    noise = noise_floor(profiles_dir, profile_id, plan_name, read_manifest(run_dir))
    base = load_run(resolve_run(base_id, results_root, profile_id))
    comparison, rows, method = judge_cells(night, [cells for _, cells in earlier], base,
                                           config, noise)
    paired = reference_rows(results_root, profile_id, run_dir, night, earlier, config)
    if paired:
        rows, method = _replace_rows(comparison, rows, paired), "reference"
    return NightlyVerdict(run_dir.name, profile_id, base_id, comparison, rows, bool(busy),
                          busy, method, [run_id for run_id, _ in earlier])


def reference_rows(root: Path, profile_id: str, run_dir: Path, night: list[CellResult],
                   earlier: list[tuple[str, list[CellResult]]], config: RegressionConfig
                   ) -> list[HistoryRow]:
    """The night's speed and latency rows as ratios to the reference run beside it
    (harness.regression.reference); none when the night ran without one."""
    from harness.regression.reference import Night, judge_against_reference, pair_cells

    def pairs(run: Path, cells: list[CellResult]):
        ref_id = read_manifest(run).get("reference_run")
        if not ref_id:
            return None
        try:
            ref = load_run(resolve_run(ref_id, root, profile_id))
        except UsageError:  # a reference run deleted since: that night has no ratio
            return None
        return pair_cells(cells, ref)

    tonight = pairs(run_dir, night)
    if not tonight:
        return []
    history = []
    for run_id, cells in earlier:
        found = pairs(resolve_run(run_id, root, profile_id), cells)
        if found:
            history.append(Night(run_id, found))
    return judge_against_reference(Night(run_dir.name, tonight), history, config)


def _replace_rows(comparison: Comparison, rows: list[HistoryRow], paired: list[HistoryRow]
                  ) -> list[HistoryRow]:
    """`paired` in place of the comparison's rows of the same cell and metric; the history
    rows they replace dropped."""
    at = {(r.cell, r.metric): i for i, r in enumerate(comparison.rows)}
    for row in paired:
        index = at.get((row.cell, row.metric))
        if index is None:
            comparison.rows.append(row.to_comparison())
        else:
            row.mde = comparison.rows[index].mde
            comparison.rows[index] = row.to_comparison()
    done = {(r.cell, r.metric) for r in paired}
    return [r for r in rows if (r.cell, r.metric) not in done] + paired


def contended_cells(cells: list[CellResult]) -> list[str]:
    out = []
    for cell in cells:
        if cell.contended:
            reasons = "; ".join(str(r) for r in cell.health.get("reasons") or [])
            out.append(f"{label(cell)}: {reasons or 'the machine was busy'}")
    return out


def previous_runs(root: Path, profile_id: str, plan_name: str | None, run_id: str,
                  limit: int = HISTORY) -> list[tuple[str, list[CellResult]]]:
    """The last `limit` runs of `plan_name` on `profile_id` before `run_id` with at least
    one clean cell (a run that failed or was contended throughout is no history)."""
    out: list[tuple[str, list[CellResult]]] = []
    for run in reversed(list_runs(root, profile_id, plan_name)):
        if len(out) >= limit:
            break
        if run.run_id >= run_id:
            continue
        cells = run.cells()
        if any(clean(c) for c in cells):
            out.append((run.run_id, cells))
    return out[::-1]


def noise_floor(profiles_dir: Path | None, profile_id: str, plan_name: str | None,
                manifest: dict):
    """The stored noise floor of the plan on the profile (None: none to read)."""
    if profiles_dir is None or not plan_name:
        return None
    try:
        from harness.regression.noise import NoiseFloor
    except ImportError:  # a harness without noise floors: history alone
        return None
    return NoiseFloor.load(profiles_dir, profile_id, plan_name, manifest.get("plan_file"))


def judge_cells(night: list[CellResult], history: list[list[CellResult]],
                baseline: list[CellResult] | None, config: RegressionConfig,
                noise=None) -> tuple[Comparison, list[HistoryRow], str]:
    """`night` compared with `baseline` (None: no baseline rows), its clean speed and
    latency rows then judged against `history` (runs oldest first) where it is long enough.
    Returns the comparison (history rows in place of their baseline rows), those rows, and
    the method (history, history + baseline, baseline)."""
    comparison = _baseline_comparison(night, history, baseline, config, noise)
    as_requested = requested(night, *history)
    points = history_points(history, as_requested)
    night_labels = Counter(label(c) for c in night)
    rows, considered = [], 0
    for cell in night:
        # a label two cells share (other suite parameters) cannot be told apart in rows
        if not clean(cell) or night_labels[label(cell)] > 1:
            continue
        key = match_key(cell, as_requested)
        for metric in cell.metrics:
            name = metric_label(metric.name, metric.tags)
            cv = noise.cv(label(cell), name) if noise is not None else None
            spec = declared_spec(cell.suite, metric.name)
            judgement = config.for_metric(metric.name, metric.kind,
                                          spec.threshold if spec else None, cv)
            if metric.kind not in SAMPLED or judgement is None or judgement.point:
                continue
            considered += 1
            row = judge_metric(cell, points.get((key, name), []), metric,
                               judgement.threshold, cv, config.false_alarm)
            if row is not None:
                rows.append(row)
    rows = _replace_rows(comparison, [], rows)
    method = ("baseline" if not rows else "history" if len(rows) == considered
              else "history + baseline")
    return comparison, rows, method


def _baseline_comparison(night: list[CellResult], history: list[list[CellResult]],
                         baseline: list[CellResult] | None, config: RegressionConfig,
                         noise) -> Comparison:
    if baseline and night:
        try:
            extra = {"noise": noise} if noise is not None else {}
            return compare_runs(baseline, night, config, **extra)
        except UsageError:
            if not history:  # nothing else to judge the night by: say why
                raise
    first = night[0] if night else None
    last = history[-1][0] if history and history[-1] else None
    return Comparison(last.run_id if last else "history", first.run_id if first else "",
                      last.profile_id if last else "", first.profile_id if first else "")
