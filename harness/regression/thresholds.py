"""Per-metric thresholds in pytest-benchmark's `--benchmark-compare-fail` syntax.

`median:5%` allows the median to get 5 % worse; `mean:0.001` allows the mean to get
0.001 worse in the metric's own unit. "Worse" follows the metric's direction (lower
tokens/s, higher latency). pytest-benchmark's own parser reads the text, so anything it
accepts means the same here. Speed-like metrics default to `median:5%`; quality metrics
(single-valued and deterministic for a given engine, corpus and questions) have their own
tolerances below, which a suite file's `regression:` section overrides.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, field_validator

Field = Literal["median", "mean", "min", "max"]
DEFAULT_SPEED = "median:5%"
DEFAULT_QUALITY = {
    "perplexity": "mean:1%",
    "bits_per_byte": "mean:1%",
    "nll_per_token": "mean:1%",
    "mmlu_accuracy": "mean:0.02",
    "humaneval_pass_at_1": "mean:0.02",
    "kl_divergence_mean": "mean:0.005",
    "kl_divergence_median": "mean:0.005",
    "kl_divergence_p99": "mean:0.05",
    "kl_divergence_max": "mean:0.5",
    "same_top1_pct": "mean:1.0",
}
"""Metric name -> tolerance: relative for perplexity-like ones, absolute (fraction of
questions, nats, percentage points) for the others."""


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
    return Threshold(check.field, float(check.threshold), relative, str(text).strip())


class RegressionConfig(BaseModel):
    """The `regression:` section of a suite file."""

    model_config = ConfigDict(extra="forbid")

    thresholds: dict[str, str] = {}
    """Metric name (or `default`) -> threshold for sampled metrics (speed, latency, memory)."""
    quality: dict[str, str] = {}
    """Metric name -> tolerance for quality metrics (perplexity, accuracy, KL)."""
    confidence: float = 0.95

    @field_validator("thresholds", "quality")
    @classmethod
    def _parse(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            try:
                parse_threshold(text)
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
        return value

    def for_metric(self, name: str) -> tuple[Threshold, bool]:
        """(threshold, whether the metric is a quality metric) for metric `name`."""
        if name in self.quality:
            return parse_threshold(self.quality[name]), True
        if name in self.thresholds:
            return parse_threshold(self.thresholds[name]), False
        if name in DEFAULT_QUALITY:
            return parse_threshold(DEFAULT_QUALITY[name]), True
        return parse_threshold(self.thresholds.get("default", DEFAULT_SPEED)), False
