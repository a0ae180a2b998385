"""Plotly figures of the run report, one function per chart style.

Each style draws the metrics of one `Chart` (harness.suites.metrics) declared by the
suites found in the results: it gets the chart, its members (each a declaring spec with
its rows of the long results DataFrame) and the report's context, and names no metric.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd
import plotly.graph_objects as go

from harness.suites.metrics import Chart, MetricSpec

HOVER = ("model: %{customdata[0]}<br>format: %{customdata[1]}<br>backend: %{customdata[2]}"
         "<br>threads: %{customdata[3]}<br>profile: %{customdata[4]}<br>%{customdata[5]}"
         "<extra></extra>")
MB = 1e6


@dataclass
class Member:
    """One metric a chart draws: its spec and its successful rows (with a `series` column)."""

    spec: MetricSpec
    rows: pd.DataFrame


@dataclass
class ChartContext:
    frame: pd.DataFrame
    """Every row of the report (a "pareto" chart reads the metric it is drawn against)."""
    format_order: list[str] = field(default_factory=list)
    bandwidths: dict[str, float] = field(default_factory=dict)
    """Measured read bandwidth (GB/s) per hardware profile, for rooflines."""


def with_series(rows: pd.DataFrame) -> pd.DataFrame:
    rows = rows.copy()
    rows["series"] = rows["model"] + " · " + rows["backend"]
    if "suite" in rows:
        # a suite's variant (serving:shared-prefix) is its own series beside the plain one
        labels = [str(s).partition(":")[2] for s in rows["suite"]]
        rows["series"] = [f"{s} · {label}" if label else s
                          for s, label in zip(rows["series"], labels, strict=True)]
    if "profile_id" in rows and rows["profile_id"].nunique() > 1:
        # a fleet run: each machine's bars beside the others', not drawn over them
        rows["series"] = rows["series"] + " · " + rows["profile_id"].astype(str)
    return rows


def metric_rows(frame: pd.DataFrame, name: str, suite: str | None = None) -> pd.DataFrame:
    """Successful rows of metric `name` (of `suite`, when given), with a `series` column."""
    if frame.empty or "metric_name" not in frame:
        return frame.iloc[0:0].assign(series=[])
    keep = (frame["status"] == "ok") & (frame["metric_name"] == name)
    if suite is not None:
        keep &= frame["suite"] == suite
    return with_series(frame[keep])


def overall(rows: pd.DataFrame) -> pd.DataFrame:
    """`rows` without per-subject breakdown rows (tagged `subject`)."""
    if rows.empty:
        return rows
    return rows[[not (isinstance(t, dict) and "subject" in t) for t in rows["metric_tags"]]]


def _rows(chart: Chart, members: list[Member]) -> pd.DataFrame:
    parts = [m.rows for m in members if not m.rows.empty]
    if not parts:
        return pd.DataFrame()
    rows = pd.concat(parts)
    return overall(rows) if chart.overall else rows


def _unit(chart: Chart, members: list[Member]) -> str:
    return chart.display_unit or members[0].spec.unit


def _custom(rows: pd.DataFrame, extra: pd.Series) -> list[list]:
    return [list(t) for t in zip(rows["model"], rows["format"], rows["backend"],
                                 rows["threads"], rows["profile_id"], extra, strict=False)]


def _ci_text(rows: pd.DataFrame, unit: str, scale: float = 1.0) -> pd.Series:
    return rows.apply(
        lambda r: f"median {r['median'] / scale:.4g} {unit}, mean {r['mean'] / scale:.4g} "
                  f"(95% CI {r['ci_low'] / scale:.4g}..{r['ci_high'] / scale:.4g}), n={r['n']}",
        axis=1)


def _floor(rows: pd.DataFrame) -> pd.Series:
    """The lower end of each error bar: the CI's, but not below zero for a quantity none
    of whose samples was negative (a t-interval of 2-3 noisy latencies reaches below 0;
    the hover text still gives the whole interval)."""
    return rows["ci_low"].where(rows["min"] < 0, rows["ci_low"].clip(lower=0))


def bars(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Grouped bars: x = format, one bar per model · backend (and tag), CI error bars."""
    rows = _rows(chart, members)
    if rows.empty:
        return None
    unit, scale = _unit(chart, members), chart.scale
    fig = go.Figure()
    tags = sorted(rows["metric_label"].unique())
    for (series, label), group in rows.groupby(["series", "metric_label"], sort=True):
        tag = label.removeprefix(group["metric_name"].iloc[0]).strip()
        fig.add_trace(go.Bar(
            name=series if len(tags) == 1 else f"{series} · {tag}", x=group["format"],
            y=group["mean"] / scale,
            error_y={"type": "data", "symmetric": False,
                     "array": (group["ci_high"] - group["mean"]) / scale,
                     "arrayminus": (group["mean"] - _floor(group)) / scale},
            customdata=_custom(group, _ci_text(group, unit, scale)), hovertemplate=HOVER,
        ))
    fig.update_layout(title=chart.title, barmode="group", yaxis_title=unit,
                      xaxis_title="format", legend_title="model · backend", height=420,
                      showlegend=True)
    if ctx.format_order:
        fig.update_xaxes(categoryorder="array", categoryarray=ctx.format_order)
    return fig


def grouped(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Medians of several metrics side by side per format (e.g. peak RSS and file size)."""
    fig = go.Figure()
    unit = _unit(chart, members)
    for member in members:
        label = _label(chart, member)
        for series, group in member.rows.groupby("series", sort=True):
            fig.add_trace(go.Bar(
                name=f"{label} · {series}", x=group["format"], y=group["median"] / chart.scale,
                customdata=_custom(group, _ci_text(group, unit, chart.scale)),
                hovertemplate=HOVER,
            ))
    if not fig.data:
        return None
    fig.update_layout(title=chart.title, barmode="group", yaxis_title=unit,
                      xaxis_title="format", height=420, showlegend=True)
    fig.update_xaxes(categoryorder="array", categoryarray=ctx.format_order)
    return fig


def vs_size(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Median against model file size: the trade-off a quant format buys."""
    rows = _rows(chart, members)
    if rows.empty:
        return None
    fig = go.Figure()
    unit = _unit(chart, members)
    for series, group in rows.groupby("series", sort=True):
        fig.add_trace(go.Scatter(
            name=series, x=group["artifact_size_bytes"] / MB, y=group["median"] / chart.scale,
            mode="markers+text", text=group["format"], textposition="top center",
            marker={"size": 12}, customdata=_custom(group, _ci_text(group, unit, chart.scale)),
            hovertemplate=HOVER,
        ))
    fig.update_layout(title=chart.title, height=460, showlegend=True,
                      xaxis_title="model file size (MB)",
                      yaxis_title=chart.label or f"{unit} (median)",
                      yaxis_rangemode="tozero", xaxis_rangemode="tozero")
    return fig


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


def pareto(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """The metric against the median of `chart.against` (any suite), point size = file
    size, Pareto front drawn."""
    quality = overall(_rows(chart, members))
    speed = metric_rows(ctx.frame, chart.against or "")
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
    higher = members[0].spec.higher_is_better
    front = joined[pareto_front(list(joined["speed"]), list(joined["mean"]), higher)]
    front = front.sort_values("speed")
    fig.add_trace(go.Scatter(name="Pareto front", x=front["speed"], y=front["mean"],
                             mode="lines", line={"dash": "dash", "color": "black"},
                             hoverinfo="skip"))
    fig.update_layout(title=chart.title, height=460, showlegend=True,
                      xaxis_title=chart.x_label or f"{chart.against} (median)",
                      yaxis_title=chart.label or members[0].spec.name)
    return fig


def vs_bits(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Mean against real bits per weight, log scale, 95 % error bars from the stderr."""
    rows = _rows(chart, members)
    if rows.empty:
        return None
    fig = go.Figure()
    unit = _unit(chart, members)
    for series, group in rows.sort_values("artifact_bits_per_weight").groupby("series"):
        fig.add_trace(go.Scatter(
            name=series, x=group["artifact_bits_per_weight"], y=group["mean"].clip(lower=1e-6),
            mode="lines+markers+text", text=group["format"], textposition="top right",
            error_y={"type": "data", "array": 1.96 * group["stderr"].fillna(0)},
            customdata=_custom(group, _ci_text(group, unit)), hovertemplate=HOVER))
    fig.update_layout(title=chart.title, height=460,
                      xaxis_title="bits per weight (real, from the file)",
                      yaxis_title=chart.label or f"{unit} (log scale)", yaxis_type="log",
                      showlegend=True)
    return fig


def roofline(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Bars, plus the memory-bandwidth limit of decode: each generated token reads every
    weight once, so tokens/s <= bandwidth / weight bytes. Conservative: the token embedding
    table is counted whole though a token reads one row of it. The bandwidth is the one the
    run's preflight re-measured (the machine as it was), else its hardware profile's."""
    fig = bars(chart, members, ctx)
    if fig is None:
        return fig
    rows = roofline_limits(_rows(chart, members), ctx.bandwidths).dropna(subset=["bandwidth"])
    several = rows["profile_id"].nunique() > 1
    for (model, profile), group in rows.drop_duplicates(
            ["model", "format", "profile_id", "bandwidth"]).groupby(["model", "profile_id"]):
        fig.add_trace(go.Scatter(
            name=f"roofline · {model}" + (f" · {profile}" if several else ""),
            x=group["format"], y=group["limit"], mode="markers",
            marker={"symbol": "line-ew-open", "size": 40, "line": {"width": 3}},
            customdata=[[b, w / MB, s] for b, w, s in zip(
                group["bandwidth"], group["weight_bytes"], group["source"], strict=True)],
            hovertemplate=("roofline %{y:.0f} tokens/s = %{customdata[0]:.1f} GB/s read "
                           "bandwidth (%{customdata[2]}) / %{customdata[1]:.0f} MB of "
                           "weights per token (embedding table counted whole, so a fast "
                           "engine can pass it)<extra></extra>")))
    return fig


def roofline_limits(rows: pd.DataFrame, bandwidths: dict[str, float]) -> pd.DataFrame:
    """`rows` with the roofline of decode: `bandwidth` (GB/s, the run's re-measured one, else
    its profile's in `bandwidths`; NaN: none), `source` (which of the two), `weight_bytes`
    (bits per weight x parameters / 8) and `limit` (tokens/s = bandwidth / weight bytes)."""
    measured = run_bandwidth(rows)
    bandwidth = measured.fillna(rows["profile_id"].map(bandwidths)).astype(float)
    weight_bytes = rows["artifact_bits_per_weight"] * rows["artifact_n_params"] / 8
    return rows.assign(
        bandwidth=bandwidth, weight_bytes=weight_bytes, limit=bandwidth * 1e9 / weight_bytes,
        source=measured.notna().map({True: "re-measured before this run",
                                     False: "from the hardware profile"}))


def run_bandwidth(rows: pd.DataFrame) -> pd.Series:
    """Each row's run's re-measured read bandwidth in GB/s (NaN where not measured)."""
    if "run_read_bandwidth_gb_s" not in rows:
        return pd.Series(float("nan"), index=rows.index)
    return pd.to_numeric(rows["run_read_bandwidth_gb_s"], errors="coerce")


def concurrency(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Median against the `concurrency` tag, one panel per metric (one color per series
    in every panel)."""
    return _against_tag(chart, members, "concurrency", None, "concurrent requests",
                        {"type": "log", "dtick": 0.30103})


def vs_depth(chart: Chart, members: list[Member], ctx: ChartContext) -> go.Figure | None:
    """Median against the `depth` tag (tokens already in the KV cache; none is 0), one
    panel per metric; nothing to draw unless some row has a depth."""
    if not any(isinstance(t, dict) and t.get("depth") for m in members
               for t in m.rows["metric_tags"]):
        return None
    return _against_tag(chart, members, "depth", 0, "tokens already in the KV cache",
                        {"rangemode": "tozero"})


def _against_tag(chart: Chart, members: list[Member], tag: str, default, x_title: str,
                 x_axis: dict) -> go.Figure | None:
    from plotly.subplots import make_subplots

    labels = [_label(chart, m) for m in members]
    fig = make_subplots(rows=1, cols=len(members), subplot_titles=labels)
    colors: dict[str, str] = {}
    for col, (member, label) in enumerate(zip(members, labels, strict=True), start=1):
        rows = member.rows
        values = [t.get(tag, default) if isinstance(t, dict) else None
                  for t in rows["metric_tags"]]
        rest = [_other_tags(t, tag) if default is not None and isinstance(t, dict) else ""
                for t in rows["metric_tags"]]
        rows = rows.assign(x=values, rest=rest)
        rows = rows[rows["x"].notna()]
        if rows.empty:
            continue
        for (series, fmt, others), group in rows.groupby(["series", "format", "rest"],
                                                         sort=True):
            group = group.sort_values("x")
            add_line(fig, group, f"{series} · {fmt}{others}", col, colors,
                     _ci_text(group, label.split(" (")[0]))
        fig.update_yaxes(title_text=label, rangemode="tozero", row=1, col=col)
        fig.update_xaxes(title_text=x_title, row=1, col=col, **x_axis)
    if not fig.data:
        return None
    fig.update_layout(title=chart.title, height=460, showlegend=True)
    return fig


def add_line(fig: go.Figure, group: pd.DataFrame, name: str, col: int,
             colors: dict[str, str], hover: pd.Series) -> None:
    """`group`'s medians against its `x` as one line in panel `col`, in the colour `name`
    has in every panel (shown in the legend once)."""
    from plotly.colors import qualitative

    color = colors.setdefault(name, qualitative.Plotly[len(colors) % len(qualitative.Plotly)])
    fig.add_trace(go.Scatter(
        name=name, legendgroup=name, showlegend=col == 1, x=group["x"], y=group["median"],
        mode="lines+markers", line={"color": color}, customdata=_custom(group, hover),
        hovertemplate=HOVER), row=1, col=col)


def _other_tags(tags: dict, tag: str) -> str:
    rest = {k: v for k, v in tags.items() if k != tag}
    return (" · " + ", ".join(f"{k}={v}" for k, v in sorted(rest.items()))) if rest else ""


def _label(chart: Chart, member: Member) -> str:
    """The label `member`'s own declaration of this chart gives it (else its name)."""
    return next((c.label for c in member.spec.charts if c.title == chart.title and c.label),
                member.spec.name)


Style = Callable[[Chart, list[Member], ChartContext], "go.Figure | None"]
STYLES: dict[str, Style] = {"bars": bars, "roofline": roofline, "grouped": grouped,
                            "vs_size": vs_size, "pareto": pareto, "vs_bits": vs_bits,
                            "concurrency": concurrency, "vs_depth": vs_depth}
"""Chart style name (what a `Chart` names) -> the function that draws it."""

# these draw with the helpers above
from harness.reports.serving_figures import load_curve  # noqa: E402
from harness.reports.speculation_figures import speculation  # noqa: E402

STYLES["load_curve"] = load_curve
STYLES["speculation"] = speculation
