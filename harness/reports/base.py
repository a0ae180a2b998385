"""The reporter extension point: stored results -> one file. Reporters never touch a
backend; each kind reads one shape of stored data.

- `RunReporter`: the results of one or more runs, as `harness.results.frame.load_frame`
  gives them (`harness run --reporter NAME`, `harness report --reporter NAME`).
- `ComparisonReporter`: a `harness.regression.compare.Comparison` of two runs
  (`harness compare --html`, `harness nightly`).
- `TrendReporter`: a `harness.regression.trend.Trend`, every run of one hardware profile
  over time (`harness trend`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from harness.errors import UsageError

if TYPE_CHECKING:
    import pandas as pd

    from harness.regression.compare import Comparison
    from harness.regression.trend import Trend


class Reporter(ABC):
    """Renders stored results to a file. The registry's entry-point name is its name."""

    name: ClassVar[str]
    suffix: ClassVar[str] = ".html"
    renders: ClassVar[str] = ""
    """What it renders, in words (for `harness list reporters` and errors)."""

    def __init__(self, profiles_dir: Path = Path("hardware_profiles")) -> None:
        self.profiles_dir = profiles_dir
        """Hardware profiles the results name (a report may show e.g. bandwidth limits)."""

    @abstractmethod
    def render(self, data: Any, out: Path, title: str) -> Path:
        """Write the report to `out` and return its path. Reads only `data`."""


class RunReporter(Reporter):
    renders: ClassVar[str] = "runs"

    @abstractmethod
    def render(self, data: pd.DataFrame, out: Path, title: str) -> Path:
        """`data`: the long results frame (one row per cell and metric)."""


class ComparisonReporter(Reporter):
    renders: ClassVar[str] = "comparisons"

    @abstractmethod
    def render(self, data: Comparison, out: Path, title: str) -> Path:
        """`data`: every matched metric with its verdict, unmatched and failed cells."""


class TrendReporter(Reporter):
    renders: ClassVar[str] = "trends"

    @abstractmethod
    def render(self, data: Trend, out: Path, title: str) -> Path:
        """`data`: every run of one hardware profile, with the points that regressed."""


def reporter(name: str, kind: type[Reporter], profiles_dir: Path) -> Reporter:
    """The registered reporter `name`, which must render what `kind` renders."""
    from harness.registry import registry

    cls = registry("reporters").get(name)
    if not issubclass(cls, kind):
        fitting = [n for n in registry("reporters").names()
                   if issubclass(registry("reporters").get(n), kind)]
        raise UsageError(f"reporter '{name}' renders {cls.renders or 'something else'}, not "
                         f"{kind.renders}; fix: use one of {', '.join(fitting)}")
    return cls(profiles_dir)
