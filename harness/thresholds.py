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

A speed or latency threshold may also be written `auto` or `auto:K`: K times the metric's
noise floor on this machine (the between-process coefficient of variation that `harness
calibrate` stores in the hardware profile, harness.regression.noise), as `median:X%` with
X = K * cv * 100, never below 1 %. K defaults to z(1 - a/2) * sqrt(2), a being
`false_alarm`: the spread of a difference of two runs is sqrt(2) times that of one. Without
a stored floor the metric is judged at its declared threshold, with a warning.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as Setting

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


AUTO = "auto"
MIN_AUTO_PERCENT = 1.0
"""An `auto` threshold never goes below this: a floor measured on a very quiet machine
would otherwise flag changes too small to matter."""


def parse_auto(text: str) -> float | None:
    """K of `auto:K` (None for plain `auto`: the default multiple); ValueError with the fix
    on a malformed K. Call only on text for which `is_auto` holds."""
    _, sep, multiple = str(text).strip().partition(":")
    if not sep:
        return None
    try:
        k = float(multiple)
    except ValueError:
        k = math.nan
    if not math.isfinite(k) or k <= 0:
        raise ValueError(f"'{text}': {multiple!r} is not a positive multiple of the noise "
                         "floor; fix: write auto (the default multiple) or e.g. auto:3")
    return k


def is_auto(text: str) -> bool:
    text = str(text).strip()
    return text == AUTO or text.startswith(AUTO + ":")


def default_multiple(false_alarm: float) -> float:
    """K of plain `auto`: a difference of two runs, each with the floor's relative spread
    cv, has spread cv * sqrt(2); z(1 - a/2) of those is crossed by chance with rate a."""
    from harness.stats import normal_quantile

    return normal_quantile(1 - false_alarm) * math.sqrt(2)


def auto_threshold(text: str, cv: float, false_alarm: float) -> Threshold:
    """`auto`/`auto:K` resolved against a coefficient of variation `cv` (a fraction)."""
    k = parse_auto(text) or default_multiple(false_alarm)
    percent = max(MIN_AUTO_PERCENT, math.ceil(k * cv * 1000 - 1e-9) / 10)
    return Threshold("median", percent, True, f"median:{percent:g}%")


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


class Reference(BaseModel):
    """`regression.reference`: a pinned install run beside each night
    (harness.regression.reference)."""

    model_config = ConfigDict(extra="forbid")

    python: str
    """The pinned install's interpreter (or a wrapper script that runs it)."""
    processes: int = Setting(default=5, ge=2, le=100)
    """Process pairs per timed cell: the night's ratio is their mean."""
    suites: list[str] | None = None
    """The suites run beside the reference (None: every timed suite of the plan); the
    plan's other suites run once, after them, into the same run."""


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
    false_alarm: float = 0.01
    """The rate at which an `auto` threshold may be crossed by noise alone (sets its default
    multiple of the noise floor, and the minimum detectable effect `compare` prints)."""
    reference: Reference | None = None
    """`harness nightly` runs the timed cells beside this pinned install and judges speed
    as the ratio to it (None: against the night's history alone)."""

    @field_validator("false_alarm")
    @classmethod
    def _rate(cls, value: float) -> float:
        if not 0 < value < 0.5:
            raise ValueError(f"false_alarm {value:g} is not a rate between 0 and 0.5; fix: "
                             "write it as a fraction, e.g. 0.01 for 1 %")
        return value

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
                if is_auto(text):
                    parse_auto(text)
                else:
                    parse_threshold(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    @field_validator("quality")
    @classmethod
    def _no_auto_quality(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            if is_auto(text):  # quality is deterministic: there is no noise floor to scale
                raise ValueError(f"{name}: a quality tolerance cannot be auto; fix: write the "
                                 "tolerance itself, e.g. mean:1%")
        return value

    def for_metric(self, name: str, kind: str, declared: str | None = None,
                   cv: float | None = None) -> Judgement | None:
        """How metric `name` of `kind` is judged, given the threshold its suite declares
        (None: the kind's default) and its noise floor `cv` (None: none stored).
        Precedence: the suite file's `quality:` entry, then its `thresholds:` entry, then
        (for all but quality) its `default`, then the declared threshold, then the kind's
        default. None: a count nobody named, not judged. A quality metric of a suite that is
        no longer installed (no declaration) is judged against `default` as a point verdict.
        `auto` resolves from `cv`; without one (or for a kind judged on its value, which has
        no floor) it falls back to the declared threshold."""
        if name in self.quality:
            return Judgement(parse_threshold(self.quality[name]), point=True)
        point = kind in POINT_KINDS
        if name in self.thresholds:
            text, point = self.thresholds[name], point or kind == "count"
        elif kind == "count":
            return None
        elif kind == "quality" and declared is not None:
            return Judgement(parse_threshold(declared), point=True)
        else:
            text = self.thresholds.get("default") or declared or DEFAULT_SPEED
        if not is_auto(text):
            return Judgement(parse_threshold(text), point=point)
        fallback = parse_threshold(declared or DEFAULT_THRESHOLDS.get(kind, DEFAULT_SPEED))
        if point:  # judged on its value: no noise floor applies
            return Judgement(fallback, point=True)
        if cv is None:
            return Judgement(fallback, point=False, auto=text, missing_floor=True)
        return Judgement(auto_threshold(text, cv, self.false_alarm), point=False, auto=text)


@dataclass(frozen=True)
class Judgement:
    """The threshold a metric is judged by, and whether on its value (`point`: quality,
    memory, size) or on its samples (speed, latency)."""

    threshold: Threshold
    point: bool
    auto: str | None = None
    """The `auto`/`auto:K` text this threshold was resolved from (None: written out)."""
    missing_floor: bool = False
    """`auto` without a stored noise floor: `threshold` is the declared fallback."""
