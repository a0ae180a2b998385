"""Which hardware profiles may run each cell: decided before anything runs.

Every entry of the suite's `hardware:` must match some node, or the run is refused with
one line naming the entry and what the nodes are; with `replicate: true` a cell becomes
one task per matching profile (the hardware comparison), else one task that any
matching profile may take.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.config import Plan
from harness.errors import ConfigError
from harness.fleet.selectors import NodeFacts, describe, matches
from harness.matrix import Cell


@dataclass
class Placed:
    """A cell and the hardware profiles that may run it (one, when replicated)."""

    cell: Cell
    profiles: list[str]
    replica: str | None = None
    """The profile this copy of a replicated cell is for; None: any of `profiles`."""


def matching_profiles(plan: Plan, nodes: list[NodeFacts]) -> list[str]:
    """The profile ids the plan's `hardware:` lets run its cells; refuses an entry no
    node matches (before the run starts, not after)."""
    profiles = {facts.profile_id: facts for facts in nodes}
    if not profiles:
        raise ConfigError(plan.file, "hardware", "no node of the cluster advertises a "
                          "hardware profile", "start each node with harness fleet start")
    for i, entry in enumerate(plan.hardware):
        if not any(matches(facts, entry) for facts in profiles.values()):
            shown = entry if isinstance(entry, str) else entry.describe()
            raise ConfigError(plan.file, f"hardware[{i}]", f"{shown} matches no node (nodes: "
                              f"{_inventory(profiles.values())})",
                              "start a matching node (harness fleet start) or change "
                              f"hardware: {describe(plan.hardware)}")
    return [pid for pid, facts in profiles.items()
            if any(matches(facts, entry) for entry in plan.hardware)]


def place(plan: Plan, cells: list[Cell], nodes: list[NodeFacts]) -> list[Placed]:
    profiles = matching_profiles(plan, nodes)
    if plan.replicate:
        return [Placed(cell, [pid], pid) for cell in cells for pid in profiles]
    return [Placed(cell, list(profiles)) for cell in cells]


def _inventory(nodes) -> str:
    parts = []
    for facts in nodes:
        gpus = ", ".join(f"{n} x{c}" for n, c in facts.gpus.items()) or "no GPU"
        parts.append(f"{facts.profile_id} ({gpus}, {facts.memory_gb:g} GB, "
                     f"{facts.cpu_threads} CPU threads)")
    return "; ".join(parts)
