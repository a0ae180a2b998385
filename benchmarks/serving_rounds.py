"""What the serving comparisons share: one round of the harness's serving suite on a
loaded backend, the ABBA order of rounds, and the medians printed side by side."""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.suites.context import CellContext
from harness.suites.serving import ServingParams, ServingSuite


def serving_round(backend, path: Path, fmt: str, params: ServingParams) -> dict:
    """The metrics of one serving-suite run on `backend`, by name."""
    with MemorySampler(enabled=False) as memory:
        ctx = CellContext(artifact=resolve.describe(path, fmt, "-"), load_time_s=0,
                          memory=memory, seed=0)
        return {m.name: m for m in ServingSuite().run(backend, params, ctx)}


def harness_turn(i: int) -> bool:
    """Whether round `i` is the harness's: A B B A A B B A ..., so that a drift of the
    machine falls on both tools alike."""
    return i % 4 in (0, 3)


def print_medians(rows: dict[str, list[dict]], figures: tuple[str, ...], other: str) -> None:
    for key in figures:
        h = statistics.median(r[key] for r in rows["harness"])
        o = statistics.median(r[key] for r in rows[other])
        print(f"  {key:22s} harness {h:9.2f}  {other} {o:9.2f}  ratio {h / o:.3f}")
