"""A cell's stored record from what its worker processes returned."""

from __future__ import annotations

import json
from datetime import datetime, timezone

from harness import __version__
from harness.matrix import Cell
from harness.results.redact import redact
from harness.results.store import UnstorableResult, result_line
from harness.runner.child import ChildOutcome
from harness.schema import CellResult
from harness.stats import Stats


def cell_result(run_id: str, key: str, cell: Cell, model_sha: str, backend_version: str,
                artifact: dict, outcomes: list[ChildOutcome], processes: int,
                error: str | None, profile_id: str, commit: str, started: str) -> CellResult:
    """The cell's record, credentials redacted: samples of its processes concatenated in
    process order (each sample's process index kept when there are several), health
    merged, durations summed. A failed process fails the cell, naming the process. A
    child's outcome that does not make a valid record (a broken plugin's metrics) becomes
    a failed cell saying why."""
    failed = next((i for i, o in enumerate(outcomes) if not o.ok), None)
    if error is None and failed is not None:
        error = outcomes[failed].error
        if processes > 1:
            error = f"process {failed + 1} of {processes}: {error}"
    payloads = [o.payload for o in outcomes]
    fields = dict(
        run_id=run_id, cell_key=key, model=cell.model, model_sha256=model_sha,
        format=cell.format, artifact=artifact, backend=cell.backend,
        backend_version=backend_version, backend_config=redact(cell.backend_config),
        backend_request=redact(cell.backend_request), suite=cell.suite,
        suite_params=cell.suite_params, seed=cell.seed, profile_id=profile_id,
        harness_version=__version__, git_commit=commit, started_at=started,
        duration_s=round(sum(o.duration_s for o in outcomes), 3))
    try:
        shown = payloads[failed:failed + 1] if failed is not None else payloads
        metrics = [{**m, **Stats.of(m["samples"], stderr=m.get("stderr"),
                                    process=m.get("process")).record()}
                   for m in _metrics(shown, several=failed is None and len(payloads) > 1)]
        result = CellResult(
            **fields, status="ok" if error is None else "failed",
            error=_scrub(redact(error)), metrics=_scrub(metrics),
            backend_settings=_scrub(redact((payloads or [{}])[0].get("backend_settings",
                                                                       {}))),
            health=_scrub(_health(payloads)), records=_scrub(_records(payloads)),
            finished_at=now())
        result_line(result)
        return result
    except (ValueError, TypeError, KeyError, AttributeError, UnstorableResult) as exc:
        reason = str(exc).splitlines()[0][:300]
        why = f"the cell's result could not be stored ({type(exc).__name__}: {reason})"
        return CellResult(**fields, status="failed", error=_scrub(redact(
            f"{error}; {why}" if error else why)), finished_at=now())


def _metrics(payloads: list[dict], several: bool) -> list[dict]:
    """The metrics of one payload as they are; of several, each metric (name and tags)
    with every process's samples in process order and `process` naming their process."""
    if not several:
        return list(payloads[0].get("metrics", [])) if payloads else []
    merged: dict[tuple[str, str], dict] = {}
    for index, payload in enumerate(payloads):
        for metric in payload.get("metrics", []):
            ident = (metric["name"], json.dumps(metric.get("tags"), sort_keys=True,
                                                default=str))
            into = merged.setdefault(ident, {**metric, "samples": [], "process": []})
            into["samples"] = into["samples"] + list(metric["samples"])
            into["process"] = into["process"] + [index] * len(metric["samples"])
    return list(merged.values())


def _records(payloads: list[dict]) -> list[dict | None] | None:
    records = [p.get("records") for p in payloads]
    return records if any(r is not None for r in records) else None


def _health(payloads: list[dict]) -> dict | None:
    """The machine's health while the cell ran: one process's as it is, several merged."""
    healths = [p.get("health") for p in payloads]
    if len(healths) <= 1:
        return healths[0] if healths else None
    from harness.hardware.health import merge

    return merge(healths)


def _scrub(value):
    """`value` with every string made encodable (a lone surrogate from a child's bytes
    would make the line unwritable)."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, dict):
        return {_scrub(k): _scrub(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
