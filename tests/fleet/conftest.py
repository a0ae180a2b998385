"""A real Ray cluster on this machine: a head (the driver's machine, no profile) and three
nodes whose custom resources stand in for three hardware profiles."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest
import yaml

ray = pytest.importorskip("ray", reason="Ray is the `ray` extra: pip install -e '.[ray]'")

PROFILES = {
    "fleet-a": {"gpus": [], "memory_gb": 16, "threads": 2},
    "fleet-b": {"gpus": ["NVIDIA H100 80GB HBM3"], "memory_gb": 64, "threads": 2},
    "fleet-c": {"gpus": [], "memory_gb": 128, "threads": 2},
}


def stand_in(profile_id: str) -> dict:
    """A hardware profile as a node of that machine would capture it (this machine's CPU
    facts, the stand-in's GPUs and memory)."""
    spec = PROFILES[profile_id]
    return {"id": profile_id, "captured_at": "2026-12-03T00:00:00+00:00",
            "cpu": {"model": "stand-in CPU", "arch": "x86_64", "physical_cores": 1,
                    "logical_cores": spec["threads"], "isa": {}},
            "memory": {"total_bytes": spec["memory_gb"] * 10**9,
                       "read_bandwidth_gb_s": 10.0 * (1 + len(spec["gpus"]))},
            "gpus": [{"index": i, "name": name, "memory_bytes": 80 * 2**30}
                     for i, name in enumerate(spec["gpus"])],
            "os": {"system": "Linux"}, "python": "3", "libraries": {}}


class Fleet:
    """The cluster, with a way to take a node away and to bring the fleet back."""

    def __init__(self) -> None:
        from ray.cluster_utils import Cluster

        from harness.fleet.nodes import advertised, profile_cache

        self.advertised = advertised
        for profile_id in PROFILES:  # what each node captured when it joined
            path = profile_cache() / f"{profile_id}.yaml"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(yaml.safe_dump(stand_in(profile_id)))
        self.cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
        self.nodes: dict[str, object] = {}
        self.restore()

    @property
    def address(self) -> str:
        return self.cluster.address

    def restore(self) -> None:
        for profile_id in PROFILES:
            if profile_id not in self.nodes:
                self.nodes[profile_id] = self.cluster.add_node(
                    num_cpus=1, resources=self.advertised(stand_in(profile_id)))
        self.cluster.wait_for_nodes()

    def remove(self, profile_id: str) -> None:
        self.cluster.remove_node(self.nodes.pop(profile_id))

    def profile_running(self, pid: int) -> str | None:
        """The profile of the node whose raylet is an ancestor of process `pid`."""
        raylets = {node.all_processes["raylet"][0].process.pid: profile_id
                   for profile_id, node in self.nodes.items()}
        try:
            for parent in psutil.Process(pid).parents():
                if parent.pid in raylets:
                    return raylets[parent.pid]
        except psutil.NoSuchProcess:
            return None
        return None

    def shutdown(self) -> None:
        self.cluster.shutdown()


@pytest.fixture(scope="session")
def fleet():
    cluster = Fleet()
    yield cluster
    cluster.shutdown()


def write_suite(folder: Path, **extra) -> Path:
    """A small real suite: SmolLM2-135M as shipped, llama.cpp, throughput and memory."""
    suite = {"name": "fleet", "models": ["smollm2-135m"], "formats": ["source"],
             "backends": {"llama_cpp": {"threads": 1, "n_ctx": 128, "n_batch": 64}},
             "suites": {"throughput": {"prompt_lengths": [16], "gen_tokens": 4,
                                       "repetitions": 2, "warmup": 0},
                        "memory": {"prompt_tokens": 16, "gen_tokens": 4}},
             "timeout_s": 300, **extra}
    path = folder / "fleet.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def start_driver(suite: Path, results: Path, address: str, *args: str) -> subprocess.Popen:
    """`harness run --executor ray` as a user starts it, in the background."""
    return subprocess.Popen(
        ["harness", "run", str(suite), "--executor", "ray", "--address", address,
         "--results-dir", str(results), "--profiles-dir", str(results.parent / "profiles"),
         "--no-report", *args], cwd=suite.parent, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True, start_new_session=True)


def cell_workers(fleet: Fleet) -> list[psutil.Process]:
    """Running worker processes of harness cells on the fleet's nodes (not those of other
    harness runs on this machine)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = " ".join(proc.info["cmdline"] or [])
        if "harness.runner.worker" in cmd and fleet.profile_running(proc.pid):
            found.append(proc)
    return found


def wait_for(predicate, timeout: float = 180.0, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {predicate}")


def stop(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=60)
