"""Trend report: every stored run of one hardware profile, one chart per metric over time.

Each run is compared with the profile's baseline as `harness compare` would; points whose
verdict is "regressed" are drawn as red crosses, and the baseline run is marked.
"""

from __future__ import annotations

import html
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from harness.errors import UsageError
from harness.regression.baselines import baseline_for, load_run, runs
from harness.regression.compare import compare_runs, label, metric_label
from harness.regression.thresholds import RegressionConfig
from harness.reports.html import write_page
from harness.store import RunStore


def profile_runs(results_root: Path, profile_id: str) -> dict[str, tuple[dict, list]]:
    """Run id -> (manifest, stored cells) of every run on one hardware profile, read once."""
    out = {}
    for run_id in runs(results_root):
        manifest = RunStore(results_root, run_id).manifest()
        if manifest.get("profile_id") == profile_id:
            out[run_id] = (manifest, load_run(Path(results_root) / run_id))
    return out


def trend_frame(stored: dict[str, tuple[dict, list]]) -> pd.DataFrame:
    """One row per (run, cell, metric): time, commit, median."""
    rows = []
    for run_id, (manifest, cells) in stored.items():
        for cell in cells:
            if cell.status != "ok":
                continue
            for metric in cell.metrics:
                rows.append({"run_id": run_id, "time": manifest.get("started_at"),
                             "commit": manifest.get("git_commit"), "cell": label(cell),
                             "metric": metric_label(metric), "unit": metric.unit,
                             "median": metric.median})
    frame = pd.DataFrame(rows)
    if not frame.empty:
        frame["time"] = pd.to_datetime(frame["time"])
    return frame


def regressed_points(stored: dict[str, tuple[dict, list]], baseline: str | None,
                     config: RegressionConfig) -> set[tuple[str, str, str]]:
    """(run, cell, metric) that each run's comparison with the baseline calls regressed."""
    if baseline not in stored:
        return set()
    base = stored[baseline][1]
    out = set()
    for run_id, (_, cells) in stored.items():
        if run_id == baseline:
            continue
        try:
            comparison = compare_runs(base, cells, config)
        except UsageError:  # a run of another suite shares no cell with the baseline
            continue
        out |= {(run_id, r.cell, r.metric) for r in comparison.rows if r.verdict == "regressed"}
    return out


def render_trend(results_root: Path, profile_id: str, out: Path,
                 config: RegressionConfig | None = None) -> Path:
    stored = profile_runs(results_root, profile_id)
    frame = trend_frame(stored)
    baseline = baseline_for(results_root, profile_id)
    bad = regressed_points(stored, baseline, config or RegressionConfig())
    figs, constant = [], 0
    if not frame.empty:
        for metric, part in frame.groupby("metric", sort=True):
            if part["median"].nunique() <= 1:
                constant += 1
                continue
            figs.append(_chart(metric, part, baseline, bad))
    n_runs = frame["run_id"].nunique() if not frame.empty else 0
    meta = (f"<p class='meta'>{n_runs} runs of hardware profile {html.escape(profile_id)}; "
            f"baseline: {html.escape(baseline or 'none set')}. Red crosses: regressed against "
            f"the baseline. {constant} metrics that never changed are not drawn.</p>")
    return write_page(out, f"Trend: {profile_id}", figs, [meta, None])


def _chart(metric: str, part: pd.DataFrame, baseline: str | None,
           bad: set[tuple[str, str, str]]) -> go.Figure:
    fig = go.Figure()
    for cell, series in part.sort_values("time").groupby("cell", sort=True):
        fig.add_trace(go.Scatter(
            x=series["time"], y=series["median"], mode="lines+markers", name=cell,
            customdata=list(zip(series["run_id"], series["commit"], strict=True)),
            hovertemplate=("%{y:.4g}<br>run %{customdata[0]}<br>commit %{customdata[1]}"
                           f"<extra>{html.escape(cell)}</extra>"),
        ))
        flagged = series[[(r, cell, metric) in bad for r in series["run_id"]]]
        if not flagged.empty:
            fig.add_trace(go.Scatter(
                x=flagged["time"], y=flagged["median"], mode="markers", showlegend=False,
                name=f"{cell} regressed", hovertemplate="regressed<extra></extra>",
                marker={"symbol": "x", "size": 14, "color": "#c62828"}))
    if baseline is not None and baseline in set(part["run_id"]):
        when = part.loc[part["run_id"] == baseline, "time"].iloc[0]
        fig.add_vline(x=when, line_dash="dash", line_color="#2e7d32")
        fig.add_annotation(x=when, y=1, yref="paper", text="baseline", showarrow=False,
                           font={"color": "#2e7d32"}, yanchor="bottom")
    unit = part["unit"].iloc[0]
    fig.update_layout(title=metric, xaxis_title="run start (UTC)", yaxis_title=f"median, {unit}",
                      height=360, legend={"font": {"size": 10}})
    return fig
