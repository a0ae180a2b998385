"""What a suite may know about the cell it runs in, beyond the backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from harness.formats.base import Artifact
from harness.hardware.memory import MemorySampler


@dataclass
class CellContext:
    artifact: Artifact
    load_time_s: float
    memory: MemorySampler
    seed: int
    extra_artifacts: dict[str, Artifact] = field(default_factory=dict)

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)
