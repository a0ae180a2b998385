"""The suite extension point and the metric record suites return."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from harness.backends.base import Backend
    from harness.runner.context import CellContext


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

    def to_dict(self) -> dict:
        return asdict(self)


class Suite(ABC):
    """Given a loaded backend and validated parameters, produce metrics.

    Runs inside the cell's child process. Must not branch on the concrete backend.
    """

    name: ClassVar[str]
    params_cls: ClassVar[type[SuiteParams]] = SuiteParams
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    """Backend capabilities the suite uses (see harness.backends.base.CAPABILITIES)."""

    @classmethod
    def needs(cls, params: SuiteParams) -> tuple[str, ...]:
        """The capabilities a run with `params` uses (some parameters switch parts off)."""
        return cls.requires
    samples_memory: ClassVar[bool] = False
    """Run the RSS sampler thread during the cell. Off by default: a thread waking every
    few milliseconds steals CPU from the engine and would bias speed measurements."""

    @abstractmethod
    def run(self, backend: Backend, params: SuiteParams, ctx: CellContext) -> list[Metric]:
        """Measure and return metrics; raise to fail the cell."""
