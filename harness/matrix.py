"""Plan -> cells: the (model, format, backend, suite, params) points a run measures."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from harness.backends.capabilities import has
from harness.config import Plan
from harness.errors import UsageError
from harness.formats.base import SOURCE_FORMAT
from harness.formats.resolve import producer_for
from harness.registry import registry
from harness.results.identity import cell_key, label


@dataclass(frozen=True)
class Cell:
    """Pure data; `key()` adds what makes a result comparable and resumable."""

    model: str
    format: str
    backend: str
    suite: str
    backend_config: dict = field(hash=False)
    suite_params: dict = field(hash=False)
    seed: int = 0
    backend_request: dict | None = field(default=None, hash=False, compare=False)
    """The settings as the suite file asks for them (see harness.results.identity)."""

    def to_dict(self) -> dict:
        return asdict(self)

    def key(self, model_sha256: str, backend_version: str, profile_id: str) -> str:
        fields = {k: v for k, v in self.to_dict().items() if k != "backend_request"}
        return cell_key(fields, model_sha256, backend_version, profile_id)

    def label(self) -> str:
        return label(self)


@dataclass
class Matrix:
    cells: list[Cell]
    skipped: list[str]
    """Combinations left out because a backend cannot load that format's container or
    lacks a capability a suite needs."""


def expand(plan: Plan, models: Sequence[str] = (), formats: Sequence[str] = (),
           backends: Sequence[str] = (), suites: Sequence[str] = ()) -> Matrix:
    """Cross product of the plan, narrowed by CLI filters (each must match something)."""
    model_names = _pick("--model", [m.name for m in plan.models], models)
    fmt_names = _pick("--format", plan.formats, formats)
    missing = next((b for b in backends if b in plan.unavailable), None)
    if missing:
        raise UsageError(f"--backend {missing}: optional and not installed here; "
                         f"fix: {plan.unavailable[missing]}")
    backend_names = _pick("--backend", list(plan.backends), backends)
    suite_names = _pick("--suite", list(plan.suites), suites)
    containers = {m.name: m.container() for m in plan.models}

    cells: list[Cell] = []
    skipped = [f"{name}: optional backend not installed here ({hint})"
               for name, hint in plan.unavailable.items() if not backends or name in backends]
    for model in model_names:
        for fmt in fmt_names:
            container = containers[model] if fmt == SOURCE_FORMAT else producer_for(fmt).container
            for backend in backend_names:
                backend_cls = registry("backends").get(backend)
                if container not in backend_cls.accepts:
                    skipped.append(f"{model} {fmt} on {backend}: {backend} does not load "
                                   f"{container} files")
                    continue
                reason = backend_cls.skip_reason(fmt, plan.backends[backend])
                if reason:
                    skipped.append(f"{model} {fmt} on {backend}: {reason}")
                    continue
                for suite in suite_names:
                    missing = _missing(backend_cls, plan.backends[backend], suite,
                                       plan.suites[suite])
                    if missing:
                        skipped.append(f"{model} {fmt} {suite} on {backend}: {backend} cannot "
                                       f"{missing.capability}")
                        continue
                    cells.append(Cell(
                        model=model, format=fmt, backend=backend, suite=suite,
                        backend_config=plan.backends[backend].model_dump(),
                        backend_request=plan.backend_requests.get(backend),
                        suite_params=plan.suites[suite].model_dump(),
                        seed=plan.seed,
                    ))
    return Matrix(cells, skipped)


def _missing(backend_cls, config, suite: str, params) -> type | None:
    """The first capability mixin `suite` needs with `params` that the backend lacks
    under `config`, if any."""
    needs = registry("suites").get(suite).needs(params)
    return next((c for c in needs if not has(backend_cls, config, c)), None)


def _pick(flag: str, available: list[str], wanted: Sequence[str]) -> list[str]:
    if not wanted:
        return list(available)
    unknown = [w for w in wanted if w not in available]
    if unknown:
        raise UsageError(f"{flag} {unknown[0]!r} is not in this plan; "
                         f"fix: use one of {', '.join(available)}")
    return [a for a in available if a in wanted]
