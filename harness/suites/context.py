"""What a suite may know about the cell it runs in, beyond the backend. The worker
(harness.runner.worker) builds it; suites only read it."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from harness.formats.base import Artifact
from harness.hardware.memory import MemorySampler

if TYPE_CHECKING:
    from harness.backends.base import Backend


@dataclass
class CellContext:
    artifact: Artifact
    load_time_s: float
    memory: MemorySampler
    seed: int
    extra_artifacts: dict[str, Artifact] = field(default_factory=dict)
    """The other formats the suite's parameters asked for (`SuiteParams.extra_formats`)."""
    opener: Callable[[Artifact], AbstractContextManager[Backend]] | None = None
    """Loads another instance of the cell's backend, same settings (the worker's job)."""
    take_turn: Callable[[], None] = lambda: None
    """Call before each timed repetition: in lockstep (`harness ab --lockstep`) it waits
    until the partner process has run one of its own; otherwise it returns at once."""

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed)

    def extra_backend(self, fmt: str) -> AbstractContextManager[Backend]:
        """The cell's backend, same settings, loaded with the extra format `fmt` and
        unloaded when the `with` block ends (e.g. a KL-divergence reference)."""
        if self.opener is None:
            raise RuntimeError("this cell context cannot load another backend")
        return self.opener(self.extra_artifacts[fmt])
