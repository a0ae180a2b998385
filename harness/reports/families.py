"""Backends side by side per precision family (e.g. llama.cpp Q4_K_M, ONNX int4 and
PyTorch int8 next to each other), for speed, memory and perplexity on one figure."""

from __future__ import annotations

import re

import pandas as pd
import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from harness.reports.figures import MB, overall_rows

FAMILIES = ["32-bit", "16-bit", "8-bit", "≤6-bit"]
# (panel title, metric names in order of preference, scale, axis unit)
PANELS = [
    ("decode tokens/s", ["decode_tokens_per_s", "stream_decode_tokens_per_s"], 1.0,
     "tokens/s"),
    ("peak memory (MB)", ["server_peak_rss_bytes", "peak_rss_bytes"], MB, "MB"),
    ("perplexity (lower is better)", ["perplexity"], 1.0, "ppl"),
]


def family(fmt: str, quant_type: str | None) -> str:
    """The precision family of a format, from its name (or its quant type for `source`)."""
    name = (quant_type or "") if fmt == "source" else fmt
    bits = [int(b) for b in re.findall(r"(?:fp|bf|f|q|int|i)(\d+)", name.lower())]
    if not bits:
        return "other"
    top = max(bits)
    return "32-bit" if top >= 32 else "16-bit" if top >= 16 else "8-bit" if top >= 8 \
        else "≤6-bit"


def families(frame: pd.DataFrame) -> go.Figure | None:
    """One panel per metric; x = precision family, one bar per model · backend · format."""
    ok = frame[frame["status"] == "ok"] if "status" in frame else frame
    if ok.empty or ok["backend"].nunique() < 2:
        return None
    fig = make_subplots(rows=1, cols=len(PANELS), subplot_titles=[p[0] for p in PANELS])
    colors: dict[str, str] = {}
    for col, (_, names, scale, unit) in enumerate(PANELS, 1):
        rows = _preferred(frame, names)
        for (model, backend, fmt), group in rows.groupby(["model", "backend", "format"]):
            key = f"{model} · {backend} · {fmt}"
            first = key not in colors
            colors.setdefault(key, qualitative.Dark24[len(colors) % 24])
            fam = family(fmt, group["artifact_quant_type"].iloc[0])
            fig.add_trace(go.Bar(
                x=[fam], y=[group["median"].iloc[0] / scale], name=key, legendgroup=key,
                showlegend=first, marker_color=colors[key],
                hovertemplate=f"{key}<br>{group['metric_name'].iloc[0]}: %{{y:.4g}} {unit}"
                              "<extra></extra>"), row=1, col=col)
        fig.update_xaxes(categoryorder="array", categoryarray=FAMILIES + ["other"], row=1,
                         col=col)
        fig.update_yaxes(title_text=unit, row=1, col=col)
    if not fig.data:
        return None
    fig.update_layout(title="Backends side by side per precision family (median; memory of an "
                            "HTTP backend is its server's)", barmode="group", height=520,
                      legend={"font": {"size": 10}})
    return fig


def _preferred(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Per cell, the first of `names` it has (e.g. a server's RSS over the client's)."""
    parts = [overall_rows(frame, name) for name in names]
    rows = pd.concat([p for p in parts if not p.empty]) if any(not p.empty for p in parts) \
        else frame.iloc[0:0]
    if rows.empty:
        return rows
    rank = {name: i for i, name in enumerate(names)}
    rows = rows.assign(_rank=rows["metric_name"].map(rank)).sort_values("_rank")
    return rows.drop_duplicates(["model", "backend", "format"])
