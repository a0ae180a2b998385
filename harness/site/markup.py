"""HTML pieces of the site's own pages. Every stored value passes `text` on its way in;
every link is relative (`urls.href`)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.reports.escaping import text
from harness.site.urls import INDEX, href

Column = tuple[str, bool]
"""A table column: its heading and whether it is text (left-aligned) rather than a number."""


def link(url: str, label: object) -> str:
    return f"<a href='{text(url)}'>{text(label)}</a>"


def nav(page: str, links: Sequence[tuple[str, object]] = ()) -> str:
    """The bar above a page's title: the index, then `links` (site path, label)."""
    home = [] if page == INDEX else [link(href(INDEX, page), "index")]
    items = [*home, *(link(href(t, page), lab) for t, lab in links)]
    return f"<nav>{' '.join(items)}</nav>" if items else ""


def table(columns: Sequence[Column], rows: Sequence[Sequence[str]]) -> str:
    """A table of cells that are HTML already (escaped, or built of escaped parts)."""
    head = "".join(f"<th{' class=l' if left else ''}>{text(name)}</th>"
                   for name, left in columns)
    body = "".join("<tr>" + "".join(f"<td{' class=l' if left else ''}>{cell}</td>"
                                    for (_, left), cell in zip(columns, row, strict=True))
                   + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def scale(unit: object) -> tuple[float, str]:
    """How a unit is shown: bytes as MB, everything else as stored."""
    return (1e6, "MB") if unit == "bytes" else (1.0, str(unit))


def number(value: object, unit: object = None) -> str:
    """A stored number as the pages show it (4 significant digits; bytes as MB)."""
    try:
        value = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return "–"
    if math.isnan(value):
        return "–"
    return f"{value / scale(unit)[0]:.4g}"


def ratio(value: float, reference: float, higher_is_better: object) -> str:
    """`value / reference`, green when better, red when worse (by the metric's direction)."""
    try:
        r = float(value) / float(reference)
    except (TypeError, ValueError, ZeroDivisionError):
        return "–"
    if math.isnan(r) or math.isinf(r):
        return "–"
    better = r > 1 if bool(higher_is_better) else r < 1
    color = "#2e7d32" if better and abs(r - 1) >= 0.005 else \
        "#c62828" if abs(r - 1) >= 0.005 else "#555"
    return f"<span style='color:{color}'>{r:.2f}×</span>"


def hardware(facts: dict) -> list[str]:
    """A hardware profile (its YAML, {} when none) as cells: CPU, cores, memory, read
    bandwidth, GPUs, OS."""
    if not facts:
        return ["no profile file", "–", "–", "–", "–", "–"]
    cpu = facts.get("cpu") if isinstance(facts.get("cpu"), dict) else {}
    memory = facts.get("memory") if isinstance(facts.get("memory"), dict) else {}
    gpus = facts.get("gpus") if isinstance(facts.get("gpus"), list) else []
    system = facts.get("os") if isinstance(facts.get("os"), dict) else {}
    total = memory.get("total_bytes")
    ram = f"{float(total) / 2**30:.0f} GiB" if isinstance(total, int | float) else "–"
    bandwidth = memory.get("read_bandwidth_gb_s")
    gpu = ", ".join(f"{g.get('name', '?')} ({float(g.get('memory_bytes') or 0) / 2**30:.0f} "
                    "GiB)" for g in gpus if isinstance(g, dict)) or "none"
    return [text(cpu.get("model", "–")),
            text(f"{cpu.get('physical_cores', '?')} / {cpu.get('logical_cores', '?')}"),
            text(ram), text(f"{bandwidth} GB/s" if bandwidth is not None else "–"),
            text(gpu), text(f"{system.get('system', '')} {system.get('release', '')}".strip()
                            or "–")]


HARDWARE_COLUMNS: list[Column] = [("CPU", True), ("cores (physical / logical)", False),
                                  ("memory", False), ("read bandwidth", False),
                                  ("GPUs", True), ("OS", True)]
