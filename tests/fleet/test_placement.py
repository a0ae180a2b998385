"""Placement by hardware profile, without a cluster: selectors, replication, refusals,
and a profile as Ray resources and back."""

from __future__ import annotations

import pytest

from harness.config import load_plan
from harness.errors import ConfigError
from harness.fleet.nodes import advertised, facts_of
from harness.fleet.placement import place
from harness.fleet.selectors import HardwareSelector, NodeFacts, matches
from harness.matrix import expand
from tests.conftest import ROOT
from tests.fleet.conftest import stand_in

NODES = [NodeFacts("laptop", {}, 16, 8), NodeFacts("ws", {"NVIDIA-H100-80GB-HBM3": 2}, 256, 64),
         NodeFacts("server", {}, 512, 128)]


def plan_with(tmp_path, extra: str):
    suite = tmp_path / "s.yaml"
    suite.write_text((ROOT / "suites" / "smoke.yaml").read_text() + extra)
    plan = load_plan(suite)
    return plan, expand(plan).cells


@pytest.mark.parametrize(("entry", "expected"), [
    ("any", {"laptop", "ws", "server"}),
    ("ws", {"ws"}),
    (HardwareSelector(gpu=True), {"ws"}),
    (HardwareSelector(gpu=False, min_memory_gb=100), {"server"}),
    (HardwareSelector(gpu_name="h100"), {"ws"}),
    (HardwareSelector(min_cpu_threads=64), {"ws", "server"}),
    (HardwareSelector(profile="laptop", gpu=True), set()),
])
def test_selectors_match_on_every_key_they_give(entry, expected):
    assert {n.profile_id for n in NODES if matches(n, entry)} == expected


def test_replicate_places_each_cell_once_per_matching_profile(tmp_path):
    plan, cells = plan_with(tmp_path, "hardware: [laptop, {gpu: true}]\nreplicate: true\n")
    placed = place(plan, cells, NODES)
    assert len(placed) == 2 * len(cells)
    assert sorted({p.replica for p in placed}) == ["laptop", "ws"]
    assert all(p.profiles == [p.replica] for p in placed)


def test_without_replicate_a_cell_may_run_on_any_matching_profile(tmp_path):
    plan, cells = plan_with(tmp_path, "hardware: [{min_memory_gb: 200}]\n")
    placed = place(plan, cells, NODES)
    assert len(placed) == len(cells)
    assert all(p.replica is None and p.profiles == ["ws", "server"] for p in placed)


def test_an_entry_no_node_matches_is_one_line_naming_it(tmp_path):
    plan, cells = plan_with(tmp_path, "hardware: [any, {gpu_name: A100}]\n")
    with pytest.raises(ConfigError) as err:
        place(plan, cells, NODES)
    assert str(err.value).startswith(f"{plan.file}: hardware[1]: {{gpu_name: A100}} matches "
                                     "no node (nodes: laptop (no GPU, 16 GB, 8 CPU threads);")
    assert "\n" not in str(err.value)


def test_a_profile_survives_the_trip_through_ray_resources():
    facts = facts_of(advertised(stand_in("fleet-b")))
    assert facts == NodeFacts("fleet-b", {"NVIDIA-H100-80GB-HBM3": 1}, 64.0, 2)
    assert facts_of({"CPU": 4.0, "memory": 1e9}) is None  # a node not started by the harness
