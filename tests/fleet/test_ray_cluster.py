"""`harness run --executor ray` on a real three-node Ray cluster (tests/fleet/conftest.py):
replication per hardware profile, refusal of a selector no node matches, a node lost
mid-cell, a driver killed and resumed, Ctrl-C."""

from __future__ import annotations

import json
import shlex
import signal
import time

import pytest

from harness.results.query import list_runs
from tests.conftest import harness_cmd
from tests.fleet.conftest import (
    PROFILES,
    cell_workers,
    start_driver,
    stop,
    wait_for,
    write_suite,
)


def stored(results) -> list[dict]:
    return [json.loads(line) for path in sorted(results.glob("*/*/cells.jsonl"))
            for line in path.read_text().splitlines() if line.strip()]


def run(suite, results, address, *args):
    return harness_cmd("run", str(suite), "--executor", "ray", "--address", address,
                       "--results-dir", str(results), "--profiles-dir",
                       str(results.parent / "profiles"), "--no-report", *args,
                       cwd=suite.parent)


def test_replicate_runs_each_cell_on_every_matching_profile(fleet, tmp_path):
    suite = write_suite(tmp_path, hardware=[{"min_memory_gb": 32}], replicate=True)
    proc = run(suite, tmp_path / "results", fleet.address)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    rows = stored(tmp_path / "results")
    assert sorted((r["suite"], r["profile_id"]) for r in rows) == [
        ("memory", "fleet-b"), ("memory", "fleet-c"),
        ("throughput", "fleet-b"), ("throughput", "fleet-c")]
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert "llama_cpp throughput on fleet-c: ok" in proc.stdout  # where each cell ran
    runs = list_runs(tmp_path / "results")
    assert {r.profile_id for r in runs} == {"fleet-b", "fleet-c"}
    assert len({r.run_id for r in runs}) == 1
    assert all(r.manifest["executor"] == "ray" for r in runs)
    for row in rows:  # each node's own profile, kept for reports
        assert (tmp_path / "profiles" / f"{row['profile_id']}.yaml").is_file()


def test_a_selector_no_node_matches_is_refused_before_the_run(fleet, tmp_path):
    suite = write_suite(tmp_path, hardware=["fleet-a", {"gpu_name": "A100"}])
    proc = run(suite, tmp_path / "results", fleet.address)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "fleet.yaml: hardware[1]: {gpu_name: A100} matches no node" in lines[0]
    assert "NVIDIA-H100-80GB-HBM3" in lines[0]  # what the fleet does have
    assert not (tmp_path / "results").exists()


def test_a_node_lost_mid_cell_has_its_cell_run_elsewhere(fleet, tmp_path):
    suite = write_suite(tmp_path, hardware=["any"])
    suite.write_text(suite.read_text().replace(
        "gen_tokens: 4\n    repetitions: 2", "gen_tokens: 32\n    repetitions: 40"))
    # the throughput cell now runs for several seconds
    results = tmp_path / "results"
    driver = start_driver(suite, results, fleet.address)
    try:
        worker = wait_for(lambda: next(iter(cell_workers(fleet)), None))
        victim = fleet.profile_running(worker.pid)
        fleet.remove(victim)
        out, _ = driver.communicate(timeout=600)
    finally:
        stop(driver)
        fleet.restore()
    assert driver.returncode == 0, out
    rows = stored(results)
    assert sorted(r["suite"] for r in rows) == ["memory", "throughput"]
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows]
    assert "running it again (try 2 of 3)" in out
    retried = [r for r in rows if r["profile_id"] != victim]
    assert len(retried) >= 1 and all(r["profile_id"] in PROFILES for r in rows)
    logs = [p.read_text() for p in results.glob("*/*/logs/*.log")]
    assert any(f"profile {victim}:" in log and "node" in log for log in logs)


def test_resume_after_the_driver_is_killed_runs_only_what_is_missing(fleet, tmp_path):
    suite = write_suite(tmp_path, hardware=["fleet-a", "fleet-c"], replicate=True)
    results = tmp_path / "results"
    driver = start_driver(suite, results, fleet.address)
    try:
        wait_for(lambda: len(stored(results)) >= 1)
        stop(driver)
    finally:
        stop(driver)
    before = stored(results)
    assert 1 <= len(before) < 4
    time.sleep(2)
    assert wait_for(lambda: not cell_workers(fleet), timeout=30)  # the dead driver's tasks end
    proc = run(suite, results, fleet.address, "--resume")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    after = stored(results)
    assert len(after) == 4 and len({r["cell_key"] for r in after}) == 4
    assert [r for r in after if r in before] == before  # finished cells untouched
    assert f"{len(before)} already stored" in proc.stdout


def test_ctrl_c_cancels_every_task_and_leaves_no_worker(fleet, tmp_path):
    suite = write_suite(tmp_path, replicate=True)
    suite.write_text(suite.read_text().replace("repetitions: 2", "repetitions: 200"))
    results = tmp_path / "results"
    driver = start_driver(suite, results, fleet.address)
    try:
        wait_for(lambda: cell_workers(fleet))
        stop(driver, signal.SIGINT)
        out = driver.stdout.read()
    finally:
        stop(driver)
    assert driver.returncode == 130, out
    assert "--executor ray --resume" in out
    assert wait_for(lambda: not cell_workers(fleet), timeout=30)
    assert not [p for p in __import__("psutil").process_iter(["cmdline"])
                if "ray::run_cell" in " ".join(p.info["cmdline"] or [])]


@pytest.mark.parametrize("flag", [["--address", "127.0.0.1:1"]])
def test_address_without_ray_executor_is_refused(tmp_path, flag):
    suite = write_suite(tmp_path)
    proc = harness_cmd("run", str(suite), *flag, cwd=tmp_path)
    assert proc.returncode == 2
    assert "--address: only means something with --executor ray" in proc.stderr


def test_without_ray_the_executor_names_the_install_command(tmp_path):
    shadow = tmp_path / "shadow" / "ray"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named ray')\n")
    suite = write_suite(tmp_path)
    proc = harness_cmd("run", str(suite), "--executor", "ray", cwd=tmp_path,
                       env={"PYTHONPATH": str(shadow.parent)})
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("error: --executor ray: Ray is not installed; fix: pip "
                                   "install -e '.[ray]'")


def test_fleet_nodes_lists_each_node_with_its_profile(fleet):
    proc = harness_cmd("fleet", "nodes", "--address", fleet.address, env={"COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr
    for profile_id in PROFILES:
        assert profile_id in proc.stdout
    assert "NVIDIA-H100-80GB-HBM3 x1" in proc.stdout
    assert "not started with harness fleet start" in proc.stdout  # the bare head


def test_fleet_start_advertises_this_machines_profile(tmp_path):
    proc = harness_cmd("fleet", "start", "--address", "10.0.0.1:6379", "--dry-run",
                       "--profiles-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    profile_id = next(tmp_path.glob("*.yaml")).stem
    command = shlex.split(proc.stdout.replace("\n", ""))
    assert command[1:3] == ["start", "--address=10.0.0.1:6379"]
    resources = json.loads(command[3].removeprefix("--resources="))
    assert resources[f"harness_profile:{profile_id}"] == 1
    assert resources["harness_slot"] == 1 and resources["harness_cpu_threads"] >= 1
