"""One cell identity for the whole harness: its key, its match key and its label.

- The **key** says "this exact measurement": the cell as run (settings resolved on this
  machine) plus the model file, the engine version and the hardware profile. It makes a
  run resumable.
- The **match key** says "the same experiment": the key without the hardware profile and
  with the settings *as requested* (`threads: auto` stays `auto`), so the same suite file
  run on two machines gives cells that `harness compare` can pair.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Protocol

AUTO = "auto"
MACHINE_DEPENDENT = ("threads",)
"""Backend settings whose default depends on the machine; unset, they are requested as
`auto`."""


class _CellLike(Protocol):
    model: str
    format: str
    backend: str
    suite: str


def _digest(payload: dict) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def requested_settings(resolved: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """The backend settings as the suite file asks for them: `resolved` with each
    machine-dependent setting the file left out (or wrote as `auto`) shown as `auto`."""
    out = dict(resolved)
    for name in MACHINE_DEPENDENT:
        if name in out and raw.get(name, AUTO) == AUTO:
            out[name] = AUTO
    return out


def cell_key(cell: dict, model_sha256: str, backend_version: str, profile_id: str) -> str:
    """The key of a cell (`cell`: model, format, backend, suite, backend_config as resolved,
    suite_params, seed) on one machine."""
    return _digest({**cell, "model_sha256": model_sha256, "backend_version": backend_version,
                    "profile_id": profile_id})


def match_key(result, as_requested: bool = True) -> str:
    """What must be equal for two stored results to be compared (any hardware): with
    `as_requested`, the settings as the suite file asked for them where the record has
    them (schema 2), else the settings as resolved. A comparison with a record of schema 1
    matches both sides on resolved settings (harness.regression.compare)."""
    request = getattr(result, "backend_request", None)
    settings = request if as_requested and request is not None else result.backend_config
    return _digest({"model": result.model, "model_sha256": result.model_sha256,
                    "format": result.format, "backend": result.backend,
                    "backend_version": result.backend_version, "backend_config": settings,
                    "suite": result.suite, "suite_params": result.suite_params,
                    "seed": result.seed})


def label(cell: _CellLike) -> str:
    """How people read a cell: `model format backend suite`."""
    return f"{cell.model} {cell.format} {cell.backend} {cell.suite}"


def metric_label(name: str, tags: dict | None) -> str:
    """A metric name with the tags that tell two metrics of one name apart."""
    if not tags:
        return name
    return f"{name} [{', '.join(f'{k}={v}' for k, v in sorted(tags.items()))}]"
