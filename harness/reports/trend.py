"""Trend page: one chart per metric over every stored run of one hardware profile;
points that regressed against the baseline are red crosses, the baseline run is marked."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from harness.regression.trend import Trend
from harness.reports.base import TrendReporter
from harness.reports.escaping import label, text
from harness.reports.page import write_page


class TrendHtmlReporter(TrendReporter):
    """One self-contained HTML page of a profile's history."""

    suffix: ClassVar[str] = ".html"

    def render(self, data: Trend, out: Path, title: str) -> Path:
        frame, figs, constant = data.frame, [], 0
        if not frame.empty:
            for metric, part in frame.groupby("metric", sort=True):
                if part["median"].nunique() <= 1:
                    constant += 1
                    continue
                figs.append(_chart(metric, part, data.baseline, data.regressed))
        n_runs = frame["run_id"].nunique() if not frame.empty else 0
        meta = (f"<p class='meta'>{n_runs} runs of hardware profile "
                f"{text(data.profile_id)}; baseline: "
                f"{text(data.baseline or 'none set')}. Red crosses: regressed against "
                f"the baseline (with each run's own thresholds). {constant} metrics that never "
                "changed are not drawn.</p>")
        return write_page(out, title, figs, [meta, None])


def _chart(metric: str, part: pd.DataFrame, baseline: str | None,
           bad: set[tuple[str, str, str]]) -> go.Figure:
    fig = go.Figure()
    for cell, series in part.sort_values("time").groupby("cell", sort=True):
        fig.add_trace(go.Scatter(
            x=series["time"], y=series["median"], mode="lines+markers", name=cell,
            customdata=list(zip(series["run_id"], series["commit"], strict=True)),
            hovertemplate=("%{y:.4g}<br>run %{customdata[0]}<br>commit %{customdata[1]}"
                           f"<extra>{label(cell)}</extra>"),
        ))
        flagged = series[[(r, cell, metric) in bad for r in series["run_id"]]]
        if not flagged.empty:
            fig.add_trace(go.Scatter(
                x=flagged["time"], y=flagged["median"], mode="markers", showlegend=False,
                name=f"{cell} regressed", hovertemplate="regressed<extra></extra>",
                marker={"symbol": "x", "size": 14, "color": "#c62828"}))
    at = part.loc[part["run_id"] == baseline, "time"]
    if not at.empty and pd.notna(at.iloc[0]):
        when = at.iloc[0]
        fig.add_vline(x=when, line_dash="dash", line_color="#2e7d32")
        fig.add_annotation(x=when, y=1, yref="paper", text="baseline", showarrow=False,
                           font={"color": "#2e7d32"}, yanchor="bottom")
    unit = part["unit"].iloc[0]
    fig.update_layout(title=metric, xaxis_title="run start (UTC)", yaxis_title=f"median, {unit}",
                      height=360, legend={"font": {"size": 10}})
    return fig
