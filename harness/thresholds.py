"""Per-metric thresholds in pytest-benchmark's `--benchmark-compare-fail` syntax.

`median:5%` allows the median to get 5 % worse; `mean:0.001` allows the mean to get
0.001 worse in the metric's own unit. "Worse" follows the metric's direction (lower
tokens/s, higher latency). pytest-benchmark's own parser reads the text, so anything it
accepts means the same here.

Each suite declares every metric's kind and default threshold
(harness.suites.metrics.MetricSpec); a suite file's `regression:` section overrides them.
How a metric is judged follows from its stored kind:
- quality: on the value against its tolerance (a point verdict);
- memory and size: a point verdict too (measured once, stable between identical runs);
- speed and latency: a sampled verdict (bootstrap interval and Mann-Whitney test);
- count: not judged (no row), unless the suite file names it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

from harness.suites.metrics import DEFAULT_THRESHOLDS, POINT_KINDS

Field = Literal["median", "mean", "min", "max"]
DEFAULT_SPEED = DEFAULT_THRESHOLDS["speed"]


@dataclass(frozen=True)
class Threshold:
    field: Field
    value: float
    relative: bool
    text: str

    def describe(self) -> str:
        return f"{self.field} worse by more than {self.value:g}{'%' if self.relative else ''}"


def parse_threshold(text: str) -> Threshold:
    """Parse `field:N%` / `field:X`; ValueError (with the fix) on anything else."""
    import argparse

    from pytest_benchmark.utils import (
        DifferenceRegressionCheck,
        PercentageRegressionCheck,
        parse_compare_fail,
    )

    try:
        check = parse_compare_fail(str(text).strip())
    except argparse.ArgumentTypeError:
        raise ValueError(f"'{text}' is not a threshold; fix: write it as pytest-benchmark does, "
                         "e.g. median:5% (a whole percent) or mean:0.001 (in the metric's "
                         "unit)") from None
    if check.field not in ("median", "mean", "min", "max"):
        raise ValueError(f"'{text}': {check.field} is a spread, not a level; fix: use median, "
                         "mean, min or max")
    if not isinstance(check, PercentageRegressionCheck | DifferenceRegressionCheck):
        raise ValueError(f"'{text}' is not a threshold; fix: e.g. median:5%")
    relative = isinstance(check, PercentageRegressionCheck)
    if not math.isfinite(float(check.threshold)):
        raise ValueError(f"'{text}': the allowance is not a finite number; fix: e.g. "
                         "median:5% or mean:0.001")
    return Threshold(check.field, float(check.threshold), relative, str(text).strip())


class RegressionConfig(BaseModel):
    """The `regression:` section of a suite file."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, str] = {}
    """Metric name -> threshold, judged as its kind is; `default` replaces the declared
    threshold of every speed, latency, memory and size metric not named."""
    quality: dict[str, str] = {}
    """Metric name -> tolerance, judged on the value (a point verdict) whatever its kind."""
    confidence: float = 0.95
    """Of the bootstrap interval and the test: a fraction, strictly between 0 and 1."""

    @field_validator("confidence")
    @classmethod
    def _fraction(cls, value: float) -> float:
        # `confidence: 95` would ask for an interval no change ever leaves
        if not 0 < value < 1:
            example = (f"{value / 100:g} for {value:g} %" if 1 < value < 100
                       else "0.95 for 95 %")
            raise ValueError(f"confidence {value:g} is not a fraction between 0 and 1; fix: "
                             f"write it as a fraction, e.g. {example}")
        return value

    @field_validator("thresholds", "quality")
    @classmethod
    def _parse(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            try:
                parse_threshold(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    def for_metric(self, name: str, kind: str, declared: str | None = None
                   ) -> Judgement | None:
        """How metric `name` of `kind` is judged, given the threshold its suite declares
        (None: the kind's default). Precedence: the suite file's `quality:` entry, then its
        `thresholds:` entry, then (for all but quality) its `default`, then the declared
        threshold, then the kind's default. None: a count nobody named, not judged.
        A quality metric of a suite that is no longer installed (no declaration) is judged
        against `default` as a point verdict."""
        if name in self.quality:
            return Judgement(parse_threshold(self.quality[name]), point=True)
        point = kind in POINT_KINDS
        if name in self.thresholds:
            return Judgement(parse_threshold(self.thresholds[name]), point=point or
                             kind == "count")
        if kind == "count":
            return None
        if kind == "quality" and declared is not None:
            return Judgement(parse_threshold(declared), point=True)
        text = self.thresholds.get("default") or declared or DEFAULT_SPEED
        return Judgement(parse_threshold(text), point=point)


@dataclass(frozen=True)
class Judgement:
    """The threshold a metric is judged by, and whether on its value (`point`: quality,
    memory, size) or on its samples (speed, latency)."""

    threshold: Threshold
    point: bool
