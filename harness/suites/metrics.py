"""What a suite declares about each metric it measures, written once.

A `MetricSpec` gives a metric's unit, direction and kind; the regression threshold it is
judged by; how the run report draws it (`Chart`); and which panel of the precision-family
chart it feeds (`Family`). Thresholds, reports and the pytest-benchmark export read these
declarations (looked up by the suite name stored with each result), so a plugin suite gets
its verdicts, charts and export with no edit to the core.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, get_args

if TYPE_CHECKING:
    from harness.suites.base import Metric

Kind = Literal["speed", "latency", "memory", "size", "quality", "count"]
KINDS: tuple[str, ...] = get_args(Kind)
"""speed: work per second; latency: a duration; memory: bytes held while running; size: bytes
on disk; quality: what the model computes (perplexity, accuracy, KL), deterministic for a
given engine and input; count: a descriptive figure (tokens scored, questions asked,
programs run, a diagnostic of the reference) that is never judged."""
DEFAULT_THRESHOLDS = {"speed": "median:5%", "latency": "median:5%", "memory": "median:5%",
                      "size": "median:5%"}
"""The threshold of a kind whose spec declares none; quality must declare its own."""
POINT_KINDS = frozenset({"quality", "memory", "size"})
"""Kinds measured once per cell and stable between identical runs: judged on the value."""
_COUNT_UNITS = frozenset({"tokens", "questions", "programs", "requests", "items"})


def kind_from_unit(unit: str) -> str:
    """The kind of a metric known only by its unit (a version-1 record of a suite that is
    not installed): per second is speed, s/ms latency, bytes memory, a count noun a count,
    anything else (ppl, fraction, nats, %) quality."""
    if unit.endswith("/s"):
        return "speed"
    if unit in ("s", "ms", "us", "ns"):
        return "latency"
    if unit == "bytes":
        return "memory"
    return "count" if unit in _COUNT_UNITS else "quality"


@dataclass(frozen=True)
class Chart:
    """How the run report draws a metric. Specs that name the same `title` share one
    figure (their metrics in declaration order); figures appear by `order`.

    Styles (harness.reports.figures.STYLES): "bars" (grouped bars per format with CI
    error bars), "roofline" (bars plus the memory-bandwidth limit of each model),
    "grouped" (medians of several metrics side by side, legend prefixed by `label`),
    "vs_size" (median against model file size), "pareto" (the metric against the median of
    metric `against`, point size = file size, Pareto front), "vs_bits" (mean against real
    bits per weight, log scale), "concurrency" and "vs_depth" (median against the
    `concurrency` or `depth` tag, one panel per metric titled `label`), "load_curve" (each
    load point against the median of metric `against` at that point), "speculation"
    (speedup in metric `against` over the same server without speculation, beside the
    member metrics).
    """

    title: str
    style: str = "bars"
    order: int = 100
    scale: float = 1.0
    display_unit: str | None = None
    """Axis unit after dividing by `scale` (default: the metric's unit)."""
    overall: bool = True
    """Leave out per-subject breakdown rows (tagged `subject`)."""
    label: str | None = None
    """Axis, legend or panel label where the style needs one."""
    against: str | None = None
    """"pareto": the metric (by name, any suite) on the x axis."""
    x_label: str | None = None


@dataclass(frozen=True)
class Family:
    """A panel of the precision-family chart (formats bucketed by real bits per weight,
    backends side by side). Specs naming one `panel` feed it; per cell the metric with the
    lowest `rank` is drawn (e.g. a server's RSS before the client's)."""

    panel: str
    rank: int = 0
    order: int = 0
    scale: float = 1.0
    display_unit: str | None = None
    note: str | None = None
    """Said in the figure title when the panel is drawn."""


@dataclass(frozen=True)
class MetricSpec:
    """One metric a suite measures. `name` may hold a `{placeholder}` for a family of
    names (humaneval_pass_at_{k}); an exact name is matched before a pattern."""

    name: str
    unit: str
    higher_is_better: bool
    kind: Kind
    threshold: str | None = None
    """Default regression threshold, pytest-benchmark syntax ("median:5%", "mean:0.02");
    None means the kind's default. Required for quality; never used for count."""
    chart: Chart | tuple[Chart, ...] | None = None
    family: Family | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name}: kind '{self.kind}' is not one of "
                             f"{', '.join(KINDS)}; fix: pick one of them")
        if self.kind == "quality" and self.threshold is None:
            raise ValueError(f"metric {self.name}: a quality metric needs a threshold; fix: "
                             "declare its tolerance, e.g. threshold='mean:1%'")

    @property
    def charts(self) -> tuple[Chart, ...]:
        if self.chart is None:
            return ()
        return self.chart if isinstance(self.chart, tuple) else (self.chart,)

    @property
    def default_threshold(self) -> str | None:
        """The declared threshold, else the kind's; None for a count."""
        return self.threshold or DEFAULT_THRESHOLDS.get(self.kind)

    @cached_property
    def _pattern(self) -> re.Pattern | None:
        if "{" not in self.name:
            return None
        parts = re.split(r"\{[^}]*\}", self.name)
        return re.compile("(.+)".join(re.escape(p) for p in parts) + r"\Z")

    def matches(self, name: str) -> bool:
        return name == self.name or bool(self._pattern and self._pattern.match(name))

    def measure(self, samples: list[float], tags: dict[str, Any] | None = None,
                stderr: float | None = None, name: str | None = None) -> Metric:
        """A `Metric` with this spec's unit, direction and kind (`name` fills a pattern)."""
        from harness.suites.base import Metric

        return Metric(name or self.name, self.unit, [float(s) for s in samples],
                      self.higher_is_better, dict(tags or {}), stderr, self.kind)


def find_spec(specs: tuple[MetricSpec, ...], name: str) -> MetricSpec | None:
    """The spec declaring `name`: an exact name first, then a pattern."""
    exact = next((s for s in specs if s.name == name), None)
    return exact or next((s for s in specs if s.matches(name)), None)


def declared_specs(suite: str) -> tuple[MetricSpec, ...] | None:
    """The metric specs of the installed suite `suite`; None when it is not installed
    (or cannot be imported here): its results then get only what the records carry."""
    from harness.registry import registry

    try:
        cls = registry("suites").get(suite)
    except Exception:  # an uninstalled or broken plugin must not stop reading results
        return None
    return tuple(getattr(cls, "metrics", ()))


def declared_spec(suite: str, name: str) -> MetricSpec | None:
    specs = declared_specs(suite)
    return None if specs is None else find_spec(specs, name)
