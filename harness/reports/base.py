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

    def __init__(self, profiles_dir: Path = Path("hardware_profiles")) -> None:
        self.profiles_dir = profiles_dir
        """Hardware profiles the results name (a report may show e.g. bandwidth limits)."""

    @abstractmethod
    def render(self, frame: pd.DataFrame, out: Path, title: str) -> Path:
        """Write the report to `out` and return its path. Reads only `frame`."""
