"""Where a suite's cells may run: `hardware:` entries and the node facts they match.

A node is described by what it advertises to Ray (harness.fleet.nodes): its hardware
profile id, GPUs, memory and logical CPUs. An entry of `hardware:` is `any`, a profile
id, or a selector whose every key must hold; a node matches the list if it matches any
entry.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

ANY = "any"


class HardwareSelector(BaseModel):
    """Which nodes may run a suite's cells; every key given must hold."""

    model_config = ConfigDict(extra="forbid")

    profile: str | None = Field(default=None, description="a hardware profile id")
    gpu: bool | None = Field(default=None, description="has an NVIDIA GPU (true) or none")
    gpu_name: str | None = Field(default=None, description="a GPU whose name contains this, "
                                 "e.g. H100")
    min_memory_gb: float | None = Field(default=None, gt=0, description="RAM, in GB")
    min_cpu_threads: int | None = Field(default=None, ge=1, description="logical CPUs")

    def describe(self) -> str:
        return "{" + ", ".join(f"{k}: {v}" for k, v in self.model_dump().items()
                               if v is not None) + "}"


@dataclass(frozen=True)
class NodeFacts:
    """What placement knows of a node (or of every node of one hardware profile)."""

    profile_id: str
    gpus: dict[str, int] = field(default_factory=dict)
    """GPU name -> count."""
    memory_gb: float = 0.0
    cpu_threads: int = 0


def matches(facts: NodeFacts, entry: str | HardwareSelector) -> bool:
    if isinstance(entry, str):
        return entry == ANY or entry == facts.profile_id
    if entry.profile is not None and entry.profile != facts.profile_id:
        return False
    if entry.gpu is not None and entry.gpu != bool(facts.gpus):
        return False
    if entry.gpu_name is not None and not any(entry.gpu_name.lower() in name.lower()
                                              for name in facts.gpus):
        return False
    if entry.min_memory_gb is not None and facts.memory_gb < entry.min_memory_gb:
        return False
    return entry.min_cpu_threads is None or facts.cpu_threads >= entry.min_cpu_threads


def matching(facts: NodeFacts, hardware: list[str | HardwareSelector]) -> bool:
    return any(matches(facts, entry) for entry in hardware)


def describe(hardware: list[str | HardwareSelector]) -> str:
    return "[" + ", ".join(e if isinstance(e, str) else e.describe() for e in hardware) + "]"
