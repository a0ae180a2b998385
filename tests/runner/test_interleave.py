"""Timed cells in several worker processes, interleaved round-robin; between-process stats.

The test plugins record each run of a tick suite ("<tag> <suite> <pid>") in the file
HARNESS_TEST_ORDER names, so the order the runner ran cells in is asserted exactly.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.config import load_plan
from harness.matrix import expand
from harness.registry import registry
from harness.results.store import read_cells, read_manifest
from harness.runner.rounds import interleave
from harness.runner.runner import run_matrix, run_plans
from harness.stats import Stats, per_process
from tests.conftest import PLUGIN_DIR

PREFLIGHT = {"quiet": True, "other_cpu": 0.01, "findings": []}


@pytest.fixture(scope="module")
def profiles(tmp_path_factory) -> Path:
    """One hardware profile for the module (capturing it takes a while)."""
    return tmp_path_factory.mktemp("profiles")


@pytest.fixture(autouse=True)
def plugins(tmp_path: Path, monkeypatch) -> Path:
    """The test plugins in this process and in the workers; the order file's path."""
    if str(PLUGIN_DIR) not in sys.path:
        sys.path.insert(0, str(PLUGIN_DIR))
    registry("backends").rescan()
    registry("suites").rescan()
    monkeypatch.setenv("PYTHONPATH", str(PLUGIN_DIR))
    monkeypatch.setenv("HARNESS_TEST_ORDER", str(tmp_path / "order.txt"))
    return tmp_path / "order.txt"


def _plan(tmp_path: Path, smol, name: str, tags=("A", "B"), suites="{tick: }",
          processes: int = 1, fail_b: int = 0):
    path = tmp_path / f"{name}-{len(suites)}.yaml"
    path.write_text(f"""\
name: {name}
models: [{{name: m, path: {smol[0]}}}]
backends: {{faulty: {{tag: {tags[0]}}}, faulty-b: {{tag: {tags[1]}, fail_from: {fail_b}}}}}
suites: {suites}
processes: {processes}
timeout_s: 120
""")
    plan = load_plan(path)
    return plan, expand(plan)


def _order(order_file: Path) -> list[str]:
    if not order_file.exists():
        return []
    return [" ".join(line.split()[:2]) for line in order_file.read_text().splitlines()]


def _cells(run_dir: Path) -> dict:
    return {(c.backend, c.suite): c for c in read_cells(run_dir / "cells.jsonl")}


def test_timed_cells_run_round_robin_and_are_stored_once(tmp_path, smol, profiles,
                                                         plugins) -> None:
    plan, matrix = _plan(tmp_path, smol, "rr", suites="{tick: , tick-count: }", processes=3)
    summary = run_matrix(plan, matrix, tmp_path / "r", profiles, lock=False,
                         preflight=PREFLIGHT)
    assert _order(plugins) == ["A tick", "A tick-count", "B tick", "B tick-count",
                               "A tick", "B tick", "A tick", "B tick"]
    pids = [line.split()[2] for line in plugins.read_text().splitlines()]
    assert len(set(pids)) == len(pids)  # every run in a process of its own
    assert (summary.ok, summary.failed) == (4, 0)
    lines = (summary.dir / "cells.jsonl").read_text().splitlines()
    assert len(lines) == 4  # each cell stored once, after its last process
    cells = _cells(summary.dir)
    for backend in ("faulty", "faulty-b"):
        tick = cells[(backend, "tick")].metrics[0]
        assert len(tick.samples) == 3 and tick.process == [0, 1, 2]
        assert len(cells[(backend, "tick")].health["per_process"]) == 3
        count = cells[(backend, "tick-count")].metrics[0]
        assert count.samples == [1.0] and count.process is None
    manifest = read_manifest(summary.dir)
    assert manifest["processes"] == 3 and manifest["preflight"] == PREFLIGHT


def test_two_plans_interleave_and_alternate_each_round(tmp_path, smol, profiles,
                                                       plugins) -> None:
    jobs = [_plan(tmp_path, smol, "side-a", tags=("A1", "A2")),
            _plan(tmp_path, smol, "side-b", tags=("B1", "B2"))]
    summaries = run_plans(jobs, tmp_path / "r", profiles, lock=False, processes=2)
    assert _order(plugins) == ["A1 tick", "B1 tick", "A2 tick", "B2 tick",
                               "B1 tick", "A1 tick", "B2 tick", "A2 tick"]
    assert [s.ok for s in summaries] == [2, 2] and summaries[0].dir != summaries[1].dir
    for summary in summaries:
        assert read_manifest(summary.dir)["processes"] == 2
        for cell in _cells(summary.dir).values():
            assert cell.metrics[0].process == [0, 1]


def test_a_failed_process_fails_its_cell_naming_the_process(tmp_path, smol, profiles,
                                                            plugins) -> None:
    plan, matrix = _plan(tmp_path, smol, "fails", processes=3, fail_b=1)
    summary = run_matrix(plan, matrix, tmp_path / "r", profiles, lock=False)
    # B's second process refuses in `load`, before its suite records; B runs no more
    assert _order(plugins) == ["A tick", "B tick", "A tick", "A tick"]
    cells = _cells(summary.dir)
    failed = cells[("faulty-b", "tick")]
    assert failed.status == "failed"
    assert failed.error.startswith("process 2 of 3: ") and "refused on run 2" in failed.error
    assert cells[("faulty", "tick")].metrics[0].process == [0, 1, 2]
    assert (summary.ok, summary.failed) == (1, 1)


def test_resume_runs_no_stored_cell_in_any_round(tmp_path, smol, profiles, plugins) -> None:
    plan, matrix = _plan(tmp_path, smol, "again", processes=2, fail_b=1)
    run_matrix(plan, matrix, tmp_path / "r", profiles, lock=False)
    plugins.unlink()
    plan, matrix = _plan(tmp_path, smol, "again", suites="{tick: , tick-count: }",
                         processes=2, fail_b=1)
    summary = run_matrix(plan, matrix, tmp_path / "r", profiles, lock=False, resume="latest")
    assert _order(plugins) == ["A tick-count", "B tick-count"]
    assert (summary.already_done, summary.kept_failed, summary.ok) == (2, 1, 2)
    assert len(_cells(summary.dir)) == 4


def test_interleave_order_of_unequal_jobs() -> None:
    def cells(job: str, counts: list[int]):
        return [SimpleNamespace(name=f"{job}{i + 1}", processes=n, done=False)
                for i, n in enumerate(counts)]

    order = [(r, p.name) for r, p in interleave([cells("A", [2, 1, 2]), cells("B", [2])])]
    assert order == [(0, "A1"), (0, "B1"), (0, "A2"), (0, "A3"),
                     (1, "B1"), (1, "A1"), (1, "A3")]


def test_between_process_interval_is_wide_when_process_means_differ() -> None:
    samples = [10.0, 10.001, 10.002, 11.0, 11.001, 11.002, 12.0, 12.001, 12.002]
    process = [0, 0, 0, 1, 1, 1, 2, 2, 2]
    within = Stats.of(samples)
    between = Stats.of(samples, process=process)
    assert per_process(samples, process) == [samples[:3], samples[3:6], samples[6:]]
    # the process means 10, 11, 12 (+0.001): t(0.975, 2) * 1 / sqrt(3) = 2.484
    assert between.ci_high - between.ci_low == pytest.approx(2 * 2.4841, abs=1e-3)
    assert between.ci_high - between.ci_low > 1.5 * (within.ci_high - within.ci_low)
    assert (between.mean, between.stddev, between.rounds) == (within.mean, within.stddev, 9)
    one = Stats.of(samples[:3], process=[0, 0, 0])  # one process: the within interval
    assert (one.ci_low, one.ci_high) == (Stats.of(samples[:3]).ci_low,
                                         Stats.of(samples[:3]).ci_high)
