"""The suite extension point and the metric record suites return."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from harness.errors import HarnessError
from harness.suites.metrics import Chart, Family, Kind, MetricSpec, find_spec

__all__ = ["Chart", "Family", "Kind", "Metric", "MetricSpec", "Suite", "SuiteParams"]

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.suites.context import CellContext


class SuiteParams(BaseModel):
    """Parameters of a suite as written in a suite file; subclasses add fields."""

    model_config = ConfigDict(extra="forbid")

    def required_context(self) -> int:
        """Tokens of context the suite needs from the backend (checked at load time)."""
        return 0

    def extra_formats(self) -> list[str]:
        """Other formats of the same model the suite needs (e.g. a KL reference); the
        runner prepares them and hands them over in `CellContext.extra_artifacts`."""
        return []


@dataclass
class Metric:
    """One measured quantity: every sample kept, statistics computed by the store."""

    name: str
    unit: str
    samples: list[float]
    higher_is_better: bool
    tags: dict[str, Any] = field(default_factory=dict)
    """What distinguishes two metrics of one name in one cell (e.g. prompt_tokens)."""
    stderr: float | None = None
    """Standard error of a single-valued estimate (accuracy, perplexity), when the suite
    knows it from the underlying per-item data."""
    kind: Kind | None = None
    """From the suite's spec (`Suite.metric` or `MetricSpec.measure` fill it)."""

    def to_dict(self) -> dict:
        return asdict(self)


class Suite(ABC):
    """Given a loaded backend and validated parameters, produce metrics.

    Runs inside the cell's child process. Must not branch on the concrete backend.
    Every metric it returns is declared in `metrics` (unit, direction, kind, threshold,
    chart); build them with `self.metric(name, samples, tags)`.
    """

    name: ClassVar[str]
    params_cls: ClassVar[type[SuiteParams]] = SuiteParams
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[type, ...]] = ()
    """Capability mixins (harness.backends.capabilities) the suite uses; a backend
    lacking one is skipped for this suite."""

    @classmethod
    def needs(cls, params: SuiteParams) -> tuple[type, ...]:
        """The capability mixins a run with `params` uses (some parameters switch parts
        off)."""
        return cls.requires
    samples_memory: ClassVar[bool] = False
    """Run the RSS sampler thread during the cell. Off by default: a thread waking every
    few milliseconds steals CPU from the engine and would bias speed measurements."""

    metrics: ClassVar[tuple[MetricSpec, ...]] = ()
    """Every metric the suite can return; a metric not declared here fails the cell."""

    @abstractmethod
    def run(self, backend: Backend, params: SuiteParams, ctx: CellContext) -> list[Metric]:
        """Measure and return metrics; raise to fail the cell."""

    def records(self) -> dict[str, Any] | None:
        """Per-item records of the last `run` worth keeping beside its metrics (the serving
        suite's every request); stored with the cell as `records`."""
        return None

    @classmethod
    def timed(cls) -> bool:
        """Whether the suite measures speed or latency: its cells are the ones machine
        health can spoil and `processes: N` repeats."""
        return any(spec.kind in ("speed", "latency") for spec in cls.metrics)

    @classmethod
    def spec(cls, name: str) -> MetricSpec:
        """The declared spec of metric `name`; HarnessError if the suite declares none."""
        spec = find_spec(cls.metrics, name)
        if spec is None:
            raise HarnessError(f"suite {cls.name} returned metric '{name}', which it does not "
                               f"declare; fix: add a MetricSpec for it to {cls.__name__}.metrics")
        return spec

    def metric(self, name: str, samples: list[float], tags: dict[str, Any] | None = None,
               stderr: float | None = None) -> Metric:
        """Metric `name` with its declared unit, direction and kind."""
        return self.spec(name).measure(samples, tags, stderr, name=name)

    def measure(self, backend: Backend, params: SuiteParams, ctx: CellContext) -> list[Metric]:
        """`run`, then check every metric against its declaration (what the worker calls)."""
        metrics = self.run(backend, params, ctx)
        for metric in metrics:
            spec = self.spec(metric.name)
            if (metric.unit, metric.higher_is_better) != (spec.unit, spec.higher_is_better) or \
                    metric.kind not in (None, spec.kind):
                raise HarnessError(
                    f"suite {self.name}: metric {metric.name} is {metric.unit}, "
                    f"higher_is_better={metric.higher_is_better}, kind {metric.kind}, but its "
                    f"spec says {spec.unit}, {spec.higher_is_better}, {spec.kind}; fix: build "
                    "it with self.metric(...)")
            metric.kind = spec.kind
        return metrics
