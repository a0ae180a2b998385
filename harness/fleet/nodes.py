"""A node's hardware profile as Ray custom resources, and back.

A node joins the fleet with `harness fleet start`, which captures its hardware profile
once (cached in the node's harness cache) and starts Ray with resources naming it:

- `harness_profile:<id>`: 1, the profile id (cells placed on a profile ask for a sliver
  of it, so any node of that profile may take them);
- `harness_slot`: 1, shared by the cells a node runs at once (`cells_per_node`);
- `harness_gpu:<name>`: the count of each GPU kind, `harness_memory_gb`,
  `harness_cpu_threads`: what `hardware:` selectors match on.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from harness.cache import cache_dir
from harness.fleet.selectors import NodeFacts

PROFILE, SLOT, GPU = "harness_profile:", "harness_slot", "harness_gpu:"
MEMORY_GB, CPU_THREADS = "harness_memory_gb", "harness_cpu_threads"


def advertised(profile: dict) -> dict[str, float]:
    """The Ray resources a node with this hardware profile starts with."""
    out = {PROFILE + profile["id"]: 1.0, SLOT: 1.0,
           MEMORY_GB: float(round(profile["memory"]["total_bytes"] / 1e9)),
           CPU_THREADS: float(profile["cpu"]["logical_cores"])}
    for gpu in profile.get("gpus") or []:
        name = GPU + _slug(gpu["name"])
        out[name] = out.get(name, 0.0) + 1.0
    return out


def facts_of(resources: dict[str, float]) -> NodeFacts | None:
    """What a node advertises, or None for a node started without a profile."""
    ids = [name[len(PROFILE):] for name in resources if name.startswith(PROFILE)]
    if len(ids) != 1:
        return None
    gpus = {name[len(GPU):]: int(count) for name, count in resources.items()
            if name.startswith(GPU)}
    return NodeFacts(ids[0], gpus, float(resources.get(MEMORY_GB, 0.0)),
                     int(resources.get(CPU_THREADS, 0)))


def cluster_nodes() -> list[tuple[str, NodeFacts | None]]:
    """(Ray node id, facts) of every alive node of the connected cluster."""
    import ray

    return [(node["NodeID"], facts_of(node.get("Resources") or {}))
            for node in ray.nodes() if node.get("Alive")]


def node_profile(profile_id: str) -> dict:
    """This node's hardware profile under the id it advertises, captured once and cached
    (a node's id is its own fingerprint, or $HARNESS_PROFILE_ID when it was started)."""
    from harness.hardware.profile import capture

    path = profile_cache() / f"{profile_id}.yaml"
    if path.is_file():
        return yaml.safe_load(path.read_text())
    profile = {**capture(), "id": profile_id}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{id(profile)}.tmp")
    tmp.write_text(yaml.safe_dump(profile, sort_keys=False))
    tmp.replace(path)
    return profile


def profile_cache() -> Path:
    return cache_dir() / "fleet" / "profiles"


def _slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
