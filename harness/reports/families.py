"""Backends side by side per precision family (e.g. llama.cpp Q4_K_M, ONNX int4 and
PyTorch int8 next to each other): one panel per `Family` the suites declare (speed,
memory, perplexity...), formats bucketed by the bits per weight read from each file."""

from __future__ import annotations

import math

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from harness.reports.escaping import label
from harness.reports.figures import metric_rows, overall
from harness.suites.metrics import Family, MetricSpec

FAMILIES = ["32-bit", "16-bit", "8-bit", "≤6-bit"]
ORDER = 15
"""Where the figure sits among the charts (harness.suites.metrics.Chart.order)."""
TITLE = "Backends side by side per precision family (median)"


def family(bits_per_weight: float | None) -> str:
    """The precision family of a format from its real bits per weight. Cut-offs sit below
    each nominal width, where formats keeping some tensors wider still land: f16 16.0,
    hf-int8 12.2 (int8 layers, wide embeddings: with Q8_0's 8.5 and ONNX int8, not with
    f16), q8_0 8.5, q4_k_m 6.2, onnx-int4 5.0."""
    if bits_per_weight is None or not math.isfinite(bits_per_weight):
        return "other"
    if bits_per_weight >= 24:
        return "32-bit"
    if bits_per_weight >= 14:
        return "16-bit"
    return "8-bit" if bits_per_weight >= 7 else "≤6-bit"


def families(frame: pd.DataFrame, specs: dict[str, tuple[MetricSpec, ...]]) -> go.Figure | None:
    """One panel per declared family panel; x = precision family, one bar per model ·
    backend · format. `specs`: suite name -> its declared metrics."""
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    if ok.empty or ok["backend"].nunique() < 2:
        return None
    panels = _panels(specs)
    if not panels:
        return None
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=list(panels))
    colors: dict[str, str] = {}
    for col, members in enumerate(panels.values(), 1):
        first = members[0][1]
        unit = first.display_unit or members[0][2].unit
        rows = _preferred(frame, members)
        for (model, backend, fmt), group in rows.groupby(["model", "backend", "format"]):
            key = f"{model} · {backend} · {fmt}"
            show = key not in colors
            colors.setdefault(key, qualitative.Dark24[len(colors) % 24])
            fig.add_trace(go.Bar(
                x=[family(group["artifact_bits_per_weight"].iloc[0])],
                y=[group["median"].iloc[0] / first.scale], name=key, legendgroup=key,
                showlegend=show, marker_color=colors[key],
                hovertemplate=f"{label(key)}<br>{label(group['metric_name'].iloc[0])}: "
                              f"%{{y:.4g}} {label(unit)}<extra></extra>"), row=1, col=col)
        fig.update_xaxes(categoryorder="array", categoryarray=FAMILIES + ["other"], row=1,
                         col=col)
        fig.update_yaxes(title_text=unit, row=1, col=col)
    if not fig.data:
        return None
    notes = sorted({f.note for ms in panels.values() for _, f, _ in ms if f.note})
    title = TITLE[:-1] + "".join(f"; {n}" for n in notes) + ")"
    fig.update_layout(title=title, barmode="group", height=520, legend={"font": {"size": 10}})
    return fig


def _panels(specs: dict[str, tuple[MetricSpec, ...]]
            ) -> dict[str, list[tuple[str, Family, MetricSpec]]]:
    """Panel title -> its (suite, family, spec) members by preference, panels in order."""
    members = [(suite, spec.family, spec) for suite, declared in sorted(specs.items())
               for spec in declared if spec.family is not None]
    members.sort(key=lambda m: (m[1].order, m[1].rank))
    panels: dict[str, list] = {}
    for member in members:
        panels.setdefault(member[1].panel, []).append(member)
    return panels


def _preferred(frame: pd.DataFrame, members: list[tuple[str, Family, MetricSpec]]
               ) -> pd.DataFrame:
    """Per cell, the first metric of `members` it has (e.g. a server's RSS over the
    client's)."""
    parts = [overall(metric_rows(frame, spec.name, suite)).assign(_rank=i)
             for i, (suite, _, spec) in enumerate(members)]
    parts = [p for p in parts if not p.empty]
    if not parts:
        return frame.iloc[0:0]
    rows = pd.concat(parts).sort_values("_rank", kind="stable")
    return rows.drop_duplicates(["model", "backend", "format"])
