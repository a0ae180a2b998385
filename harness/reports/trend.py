"""Trend page: one chart per metric over every stored run of one hardware profile.

Points that regressed (as `harness nightly` judged them) are red crosses; contended nights
are hollow grey markers that say why in their hover; each detected step is a dotted
vertical line labelled with its change; the current level's noise band (level +- 2 sd of
its segment) is shaded; the baseline run is marked."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import pandas as pd
import plotly.graph_objects as go

from harness.regression.trend import BAND_SD, Band, Trend, TrendStep
from harness.reports.base import TrendReporter
from harness.reports.escaping import label, text
from harness.reports.page import write_page

CONTENDED = {"symbol": "circle-open", "size": 11, "color": "#9e9e9e", "line": {"width": 2}}


class TrendHtmlReporter(TrendReporter):
    """One self-contained HTML page of a profile's history."""

    suffix: ClassVar[str] = ".html"

    def render(self, data: Trend, out: Path, title: str) -> Path:
        frame, figs, constant = data.frame, [], 0
        if not frame.empty:
            for metric, part in frame.groupby("metric", sort=True):
                # a file size differs between formats but not over runs: nothing to see
                if part.groupby("cell")["median"].nunique().max() <= 1:
                    constant += 1
                    continue
                figs.append(_chart(metric, part, data))
        n_runs = frame["run_id"].nunique() if not frame.empty else 0
        busy = frame.loc[frame["contended"].astype(bool), "run_id"].nunique() \
            if not frame.empty else 0
        meta = (f"<p class='meta'>{n_runs} runs of hardware profile "
                f"{text(data.profile_id)}; baseline: {text(data.baseline or 'none set')}; "
                f"{busy} contended (hollow grey: not used as history); {len(data.steps)} "
                "steps detected (dotted lines). Red crosses: regressed as nightly judged "
                "them (against the recent clean runs of their plan, else the baseline, with "
                f"each run's own thresholds). Shaded: the current level ± {BAND_SD:g} sd. "
                f"{constant} metrics that never changed in any cell are not drawn.</p>")
        return write_page(out, title, figs, [meta, None])


def _chart(metric: str, part: pd.DataFrame, data: Trend) -> go.Figure:
    fig = go.Figure()
    for cell, series in part.sort_values("time").groupby("cell", sort=True):
        for band in (b for b in data.bands if (b.cell, b.metric) == (cell, metric)):
            _band(fig, band)
        fig.add_trace(go.Scatter(
            x=series["time"], y=series["median"], mode="lines+markers", name=cell,
            customdata=list(zip(series["run_id"], series["commit"], strict=True)),
            hovertemplate=("%{y:.4g}<br>run %{customdata[0]}<br>commit %{customdata[1]}"
                           f"<extra>{label(cell)}</extra>"),
        ))
        busy = series[series["contended"].astype(bool)]
        if not busy.empty:
            fig.add_trace(go.Scatter(
                x=busy["time"], y=busy["median"], mode="markers", showlegend=False,
                name=f"{cell} contended", marker=CONTENDED,
                customdata=list(zip(busy["run_id"], busy["health"], strict=True)),
                hovertemplate=("contended: %{customdata[1]}<br>run %{customdata[0]} (not "
                               f"used as history)<extra>{label(cell)}</extra>")))
        flagged = series[[(r, cell, metric) in data.regressed for r in series["run_id"]]]
        if not flagged.empty:
            fig.add_trace(go.Scatter(
                x=flagged["time"], y=flagged["median"], mode="markers", showlegend=False,
                name=f"{cell} regressed", hovertemplate="regressed<extra></extra>",
                marker={"symbol": "x", "size": 14, "color": "#c62828"}))
        for step in (s for s in data.steps if (s.cell, s.metric) == (cell, metric)):
            _step(fig, step)
    at = part.loc[part["run_id"] == data.baseline, "time"]
    if not at.empty and pd.notna(at.iloc[0]):
        when = at.iloc[0]
        fig.add_vline(x=when, line_dash="dash", line_color="#2e7d32")
        fig.add_annotation(x=when, y=1, yref="paper", text="baseline", showarrow=False,
                           font={"color": "#2e7d32"}, yanchor="bottom")
    unit = part["unit"].iloc[0]
    fig.update_layout(title=metric, xaxis_title="run start (UTC)", yaxis_title=f"median, {unit}",
                      height=360, legend={"font": {"size": 10}})
    return fig


def _band(fig: go.Figure, band: Band) -> None:
    lo, hi = band.level - BAND_SD * band.sd, band.level + BAND_SD * band.sd
    fig.add_trace(go.Scatter(
        x=[band.start, band.end, band.end, band.start, band.start], y=[hi, hi, lo, lo, hi],
        mode="lines", fill="toself", fillcolor="rgba(33, 150, 243, 0.12)",
        line={"width": 0}, showlegend=False, name=f"{band.cell} noise band",
        hovertemplate=(f"noise band: level {band.level:.4g} ± {BAND_SD:g} × sd {band.sd:.3g}"
                       f"<extra>{label(band.cell)}</extra>")))


def _step(fig: go.Figure, step: TrendStep) -> None:
    if pd.isna(step.time):
        return
    fig.add_vline(x=step.time, line_dash="dot", line_color="#6a1b9a")
    fig.add_annotation(x=step.time, y=0, yref="paper", yanchor="bottom", showarrow=False,
                       text=f"step {step.change * 100:+.0f}%", font={"color": "#6a1b9a"},
                       hovertext=label(f"{step.cell}: level moved {step.change * 100:+.1f}% "
                                      f"from run {step.run_id}"))
