"""Plotly figures of the comparative report, each from the long results DataFrame."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

HOVER = ("model: %{customdata[0]}<br>format: %{customdata[1]}<br>backend: %{customdata[2]}"
         "<br>threads: %{customdata[3]}<br>profile: %{customdata[4]}<br>%{customdata[5]}"
         "<extra></extra>")
MB = 1e6


def metric_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    if frame.empty or "metric_name" not in frame:
        return frame.iloc[0:0]
    rows = frame[(frame["status"] == "ok") & (frame["metric_name"] == name)].copy()
    rows["series"] = rows["model"] + " · " + rows["backend"]
    return rows


def _custom(rows: pd.DataFrame, extra: pd.Series) -> list[list]:
    return [list(t) for t in zip(rows["model"], rows["format"], rows["backend"],
                                 rows["threads"], rows["profile_id"], extra, strict=False)]


def _ci_text(rows: pd.DataFrame, unit: str, scale: float = 1.0) -> pd.Series:
    return rows.apply(
        lambda r: f"median {r['median'] / scale:.4g} {unit}, mean {r['mean'] / scale:.4g} "
                  f"(95% CI {r['ci_low'] / scale:.4g}..{r['ci_high'] / scale:.4g}), n={r['n']}",
        axis=1)


def bars(frame: pd.DataFrame, metric: str, title: str, unit: str, scale: float = 1.0,
         format_order: list[str] | None = None, overall: bool = False) -> go.Figure | None:
    """Grouped bars: x = format, one bar per model · backend (and tag), CI error bars.
    `overall` leaves out per-subject breakdown rows."""
    rows = overall_rows(frame, metric) if overall else metric_rows(frame, metric)
    if rows.empty:
        return None
    fig = go.Figure()
    tags = sorted(rows["metric_label"].unique())
    for (series, label), group in rows.groupby(["series", "metric_label"], sort=True):
        name = series if len(tags) == 1 else f"{series} · {label.removeprefix(metric).strip()}"
        fig.add_trace(go.Bar(
            name=name, x=group["format"], y=group["mean"] / scale,
            error_y={"type": "data", "symmetric": False,
                     "array": (group["ci_high"] - group["mean"]) / scale,
                     "arrayminus": (group["mean"] - group["ci_low"]) / scale},
            customdata=_custom(group, _ci_text(group, unit, scale)), hovertemplate=HOVER,
        ))
    fig.update_layout(title=title, barmode="group", yaxis_title=unit, xaxis_title="format",
                      legend_title="model · backend", height=420, showlegend=True)
    if format_order:
        fig.update_xaxes(categoryorder="array", categoryarray=format_order)
    return fig


def memory_vs_size(frame: pd.DataFrame, format_order: list[str]) -> go.Figure | None:
    """Peak RSS next to model file size, per format and model."""
    fig = go.Figure()
    for metric, label in (("peak_rss_bytes", "peak RSS"), ("model_file_bytes", "file size")):
        rows = metric_rows(frame, metric)
        for series, group in rows.groupby("series", sort=True):
            fig.add_trace(go.Bar(
                name=f"{label} · {series}", x=group["format"], y=group["median"] / MB,
                customdata=_custom(group, _ci_text(group, "MB", MB)), hovertemplate=HOVER,
            ))
    if not fig.data:
        return None
    fig.update_layout(title="Peak memory and model file size per format", barmode="group",
                      yaxis_title="MB", xaxis_title="format", height=420, showlegend=True)
    fig.update_xaxes(categoryorder="array", categoryarray=format_order)
    return fig


def speed_vs_size(frame: pd.DataFrame) -> go.Figure | None:
    """Decode tokens/s against file size: the trade-off a quant format buys."""
    rows = metric_rows(frame, "decode_tokens_per_s")
    if rows.empty:
        return None
    fig = go.Figure()
    for series, group in rows.groupby("series", sort=True):
        size = group["artifact_size_bytes"] / MB
        fig.add_trace(go.Scatter(
            name=series, x=size, y=group["median"], mode="markers+text",
            text=group["format"], textposition="top center", marker={"size": 12},
            customdata=_custom(group, _ci_text(group, "tokens/s")), hovertemplate=HOVER,
        ))
    fig.update_layout(title="Decode speed vs model file size", height=460, showlegend=True,
                      xaxis_title="model file size (MB)", yaxis_title="decode tokens/s (median)",
                      yaxis_rangemode="tozero", xaxis_rangemode="tozero")
    return fig


def overall_rows(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Rows of a metric without a per-subject breakdown tag."""
    rows = metric_rows(frame, name)
    if rows.empty:
        return rows
    keep = [not (isinstance(t, dict) and "subject" in t) for t in rows["metric_tags"]]
    return rows[keep]


def pareto_front(speed: list[float], quality: list[float], higher_is_better: bool) -> list[bool]:
    """True for points no other point beats on both speed and quality."""
    sign = 1 if higher_is_better else -1
    out = []
    for i, (s, q) in enumerate(zip(speed, quality, strict=True)):
        dominated = any(
            s2 >= s and sign * q2 >= sign * q and (s2 > s or sign * q2 > sign * q)
            for j, (s2, q2) in enumerate(zip(speed, quality, strict=True)) if j != i)
        out.append(not dominated)
    return out


def quality_vs_speed(frame: pd.DataFrame, metric: str, label: str,
                     higher_is_better: bool) -> go.Figure | None:
    """Quality against decode tokens/s, point size = file size, Pareto front drawn."""
    quality = overall_rows(frame, metric)
    speed = metric_rows(frame, "decode_tokens_per_s")
    if quality.empty or speed.empty:
        return None
    keys = ["model", "format", "backend"]
    joined = quality.merge(speed[keys + ["median"]].rename(columns={"median": "speed"}),
                           on=keys).drop_duplicates(keys)
    if joined.empty:
        return None
    size_mb = joined["artifact_size_bytes"] / MB
    fig = go.Figure()
    for series, group in joined.assign(size_mb=size_mb).groupby("series", sort=True):
        fig.add_trace(go.Scatter(
            name=series, x=group["speed"], y=group["mean"], mode="markers+text",
            text=group["format"], textposition="top center",
            marker={"size": 8 + 30 * group["size_mb"] / max(size_mb.max(), 1), "opacity": 0.7},
            customdata=_custom(group, group["size_mb"].map(lambda v: f"file {v:.0f} MB")),
            hovertemplate=HOVER))
    front = joined[pareto_front(list(joined["speed"]), list(joined["mean"]), higher_is_better)]
    front = front.sort_values("speed")
    fig.add_trace(go.Scatter(name="Pareto front", x=front["speed"], y=front["mean"],
                             mode="lines", line={"dash": "dash", "color": "black"},
                             hoverinfo="skip"))
    fig.update_layout(title=f"{label} vs decode speed (point size = file size)", height=460,
                      xaxis_title="decode tokens/s (median)", yaxis_title=label,
                      showlegend=True)
    return fig


def kl_vs_bits(frame: pd.DataFrame) -> go.Figure | None:
    """Mean KL divergence from the reference against real bits per weight."""
    rows = metric_rows(frame, "kl_divergence_mean")
    if rows.empty:
        return None
    fig = go.Figure()
    for series, group in rows.sort_values("artifact_bits_per_weight").groupby("series"):
        fig.add_trace(go.Scatter(
            name=series, x=group["artifact_bits_per_weight"], y=group["mean"].clip(lower=1e-6),
            mode="lines+markers+text", text=group["format"], textposition="top right",
            error_y={"type": "data", "array": 1.96 * group["stderr"].fillna(0)},
            customdata=_custom(group, _ci_text(group, "nats")), hovertemplate=HOVER))
    fig.update_layout(title="KL divergence from the reference vs bits per weight", height=460,
                      xaxis_title="bits per weight (real, from the file)",
                      yaxis_title="mean KL divergence (nats, log scale)", yaxis_type="log",
                      showlegend=True)
    return fig


def add_roofline(fig: go.Figure | None, frame: pd.DataFrame, bandwidth_gb_s: dict[str, float]
                 ) -> go.Figure | None:
    """Mark the memory-bandwidth limit of decode on a decode chart: each generated token
    reads every weight once, so tokens/s <= bandwidth / weight bytes. Conservative: the
    token embedding table is counted whole though a token reads one row of it."""
    rows = metric_rows(frame, "decode_tokens_per_s")
    if fig is None or rows.empty:
        return fig
    rows = rows.assign(bandwidth=rows["profile_id"].map(bandwidth_gb_s)).dropna(
        subset=["bandwidth"])
    for model, group in rows.drop_duplicates(["model", "format", "profile_id"]).groupby("model"):
        weight_bytes = group["artifact_bits_per_weight"] * group["artifact_n_params"] / 8
        limit = group["bandwidth"] * 1e9 / weight_bytes
        fig.add_trace(go.Scatter(
            name=f"roofline · {model}", x=group["format"], y=limit, mode="markers",
            marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}},
            customdata=[[b, w / MB] for b, w in zip(group["bandwidth"], weight_bytes,
                                                      strict=True)],
            hovertemplate=("roofline %{y:.0f} tokens/s = %{customdata[0]:.1f} GB/s measured "
                           "read bandwidth / %{customdata[1]:.0f} MB of weights per token "
                           "(embedding table counted whole, so a fast engine can pass it)"
                           "<extra></extra>")))
    return fig


def serving(frame: pd.DataFrame) -> go.Figure | None:
    """Serving suite: median TTFT and aggregate output tokens/s against client concurrency."""
    from plotly.colors import qualitative
    from plotly.subplots import make_subplots

    panels = (("ttft_ms", "median time to first token (ms)"),
              ("output_tokens_per_s", "output tokens/s, all requests together"))
    fig = make_subplots(rows=1, cols=2, subplot_titles=[t for _, t in panels])
    colors: dict[str, str] = {}  # one color per series in both panels
    for col, (metric, label) in enumerate(panels, start=1):
        rows = metric_rows(frame, metric)
        rows = rows[[isinstance(t, dict) and "concurrency" in t for t in rows["metric_tags"]]]
        if rows.empty:
            continue
        rows = rows.assign(concurrency=[t["concurrency"] for t in rows["metric_tags"]])
        for (series, fmt), group in rows.groupby(["series", "format"], sort=True):
            group = group.sort_values("concurrency")
            name = f"{series} · {fmt}"
            color = colors.setdefault(name, qualitative.Plotly[len(colors)
                                                               % len(qualitative.Plotly)])
            fig.add_trace(go.Scatter(
                name=name, legendgroup=name, showlegend=col == 1, x=group["concurrency"],
                y=group["median"], mode="lines+markers", line={"color": color},
                customdata=_custom(group, _ci_text(group, label.split(" (")[0])),
                hovertemplate=HOVER), row=1, col=col)
        fig.update_yaxes(title_text=label, rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text="concurrent requests", type="log", dtick=0.30103,
                         row=1, col=col)
    if not fig.data:
        return None
    fig.update_layout(title="Serving: time to first token and output tokens/s vs concurrency",
                      height=460, showlegend=True)
    return fig
