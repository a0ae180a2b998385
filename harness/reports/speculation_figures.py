"""Speculative decoding: what it gains beside what it accepts.

"speculation": one panel for the speedup, then one per member metric (acceptance rate,
mean accepted length), bars per load point, one per series and format. The speedup of
a speculating cell at a load point is its median of metric `chart.against` (output
tokens/s) over that of the same server without speculation: the cell of the same run
whose backend is the speculating one's without its `:label` (llama_server for
llama_server:draft-q4_0), with the same model, format, suite, profile and point tags,
that reported no acceptance. Without such a cell no speedup is drawn. Open-loop points
are left out of the speedup: their rate is set per server (a sweep's rates follow each
server's own saturation), so their tokens/s compare schedules, not speed.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from harness.reports.figures import ChartContext, Member, _label
from harness.reports.serving_figures import _key
from harness.suites.metrics import Chart

_SAME = ["model", "format", "suite", "profile_id", "point"]


def _closed_loop(tags) -> bool:
    tags = tags if isinstance(tags, dict) else {}
    return "concurrency" in tags or tags.get("sweep") in ("synchronous", "throughput")


def _point_label(tags) -> str:
    tags = tags if isinstance(tags, dict) else {}
    for key in ("concurrency", "rate", "sweep"):
        if key in tags:
            return f"{key} {tags[key]}"
    return "all"


def speedups(chart: Chart, members: list[Member], ctx: ChartContext) -> pd.DataFrame:
    """Per speculating cell and point: `speed`, `base_speed` and `speedup`."""
    frame = ctx.frame
    speculating = set().union(*(set(m.rows["cell_key"]) for m in members))
    speed = frame[(frame["status"] == "ok") & (frame["metric_name"] == chart.against)]
    speed = speed[[_closed_loop(t) for t in speed["metric_tags"]]]
    if speed.empty:
        return pd.DataFrame()
    speed = speed.assign(point=[_key(t) for t in speed["metric_tags"]],
                         base=[str(b).partition(":")[0] for b in speed["backend"]])
    spec = speed[speed["cell_key"].isin(speculating)]
    base = speed[~speed["cell_key"].isin(speculating)
                 & (speed["backend"] == speed["base"])]
    base = base[[*_SAME, "backend", "median"]].rename(
        columns={"backend": "base", "median": "base_speed"})
    joined = spec.merge(base, on=[*_SAME, "base"], how="inner")
    return joined.assign(speed=joined["median"],
                         speedup=joined["median"] / joined["base_speed"])


def speculation(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    from harness.reports.figures import with_series

    gains = speedups(chart, members, ctx)
    panels = [("speedup (x) in output tokens/s",
               with_series(gains) if not gains.empty else gains, "speedup")]
    panels += [(_label(chart, m), m.rows, "median") for m in members]
    panels = [p for p in panels if not p[1].empty]
    if not panels:
        return None
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=[p[0] for p in panels])
    colors: dict[str, str] = {}  # one colour per series in every panel
    for col, (title, rows, value) in enumerate(panels, start=1):
        for (series, fmt), group in rows.groupby(["series", "format"], sort=True):
            name = f"{series} · {fmt}"
            shown = name in colors
            color = colors.setdefault(name, qualitative.Plotly[len(colors)
                                                               % len(qualitative.Plotly)])
            fig.add_trace(go.Bar(
                name=name, legendgroup=name, showlegend=not shown, marker={"color": color},
                x=[_point_label(t) for t in group["metric_tags"]], y=group[value],
                hovertemplate=f"{name}<br>%{{x}}: %{{y:.3g}}<extra></extra>"),
                row=1, col=col)
        fig.update_yaxes(title_text=title, rangemode="tozero", row=1, col=col)
    fig.update_layout(title=chart.title, barmode="group", height=460, showlegend=True)
    return fig
