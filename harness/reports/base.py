"""The reporter extension point."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import ClassVar

import pandas as pd


class Reporter(ABC):
    """Renders a results DataFrame (as `harness.store.load_frame` gives it) to a file."""

    name: ClassVar[str]
    suffix: ClassVar[str]

    @abstractmethod
    def render(self, frame: pd.DataFrame, out: Path, title: str) -> Path:
        """Write the report to `out` and return its path. Reads only `frame`."""
