"""Serving charts: each load point of a cell drawn at the rate it reached.

"load_curve": every member metric (one panel each) against the median of metric
`chart.against` of the same cell and the same load point (same tags), one line per
series and format, points in order of that rate: throughput-latency curves (TTFT and
TPOT at p50 and p99 against requests/s) and goodput against the offered rate, where the
suite's objectives are written under the chart and the line of "every request good"
is drawn for reference.
"""

from __future__ import annotations

import json

import pandas as pd
import plotly.graph_objects as go

from harness.reports.figures import ChartContext, Member, _label, add_line
from harness.suites.metrics import Chart


def _key(tags) -> str:
    return json.dumps(tags if isinstance(tags, dict) else {}, sort_keys=True, default=str)


def _against(ctx: ChartContext, name: str) -> pd.DataFrame:
    frame = ctx.frame
    rows = frame[(frame["status"] == "ok") & (frame["metric_name"] == name)]
    return pd.DataFrame({"cell_key": rows["cell_key"],
                         "point": [_key(t) for t in rows["metric_tags"]],
                         "x": rows["median"]})


def load_curve(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    from plotly.subplots import make_subplots

    xs = _against(ctx, chart.against or "requests_per_s")
    labels = [_label(chart, m) for m in members]
    fig = make_subplots(rows=1, cols=len(members), subplot_titles=labels)
    colors: dict[str, str] = {}
    for col, (member, label) in enumerate(zip(members, labels, strict=True), start=1):
        rows = member.rows.assign(point=[_key(t) for t in member.rows["metric_tags"]])
        rows = rows.merge(xs, on=["cell_key", "point"], how="inner")
        if rows.empty:
            continue
        for (series, fmt), group in rows.groupby(["series", "format"], sort=True):
            group = group.sort_values("x")
            add_line(fig, group, f"{series} · {fmt}", col, colors, group["point"])
        if member.spec.name == "goodput_requests_per_s":
            top = float(rows["x"].max())
            fig.add_trace(go.Scatter(name="every request within the objectives",
                                     x=[0, top], y=[0, top], mode="lines",
                                     line={"dash": "dot", "color": "grey"}), row=1, col=col)
        fig.update_yaxes(title_text=label, rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text=chart.x_label or chart.against, rangemode="tozero",
                         row=1, col=col)
    if not fig.data:
        return None
    fig.update_layout(title=_title(chart, members), height=460, showlegend=True)
    return fig


def _title(chart: Chart, members: list[Member]) -> str:
    """The chart's title, with the objectives the suite files gave where they are judged."""
    slos = set()
    for member in members:
        if member.spec.name != "goodput_requests_per_s" or "suite_params" not in member.rows:
            continue
        for params in member.rows["suite_params"]:
            slo = (params or {}).get("slo") if isinstance(params, dict) else None
            if slo:
                slos.add(", ".join(f"{k} ≤ {v:g}" for k, v in sorted(slo.items())))
    # plain text: the report escapes every title
    return chart.title + (f" (objectives: {'; '.join(sorted(slos))})" if slos else "")
