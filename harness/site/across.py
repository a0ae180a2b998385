"""One plan across hardware profiles: the latest run of the plan on each profile, every
metric of every model x format x backend side by side (one column per profile), and each
profile's ratio to the reference profile (the first, by id).

Cells pair by model, format, backend, suite and metric (name and tags), the names the plan
gives them, so the same suite file run on two machines lines up whatever `threads: auto`
resolved to on each."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
import plotly.graph_objects as go

from harness.reports.escaping import text
from harness.reports.frames import contention
from harness.reports.page import write_page
from harness.results.store import CELLS_FILE
from harness.site import urls
from harness.site.catalog import Catalog, Folder
from harness.site.markup import HARDWARE_COLUMNS, hardware, link, number, ratio, scale, table
from harness.site.pages import Built, render

KEY = ["model", "format", "backend", "suite", "metric_label"]
CONTENDED = "†"
TIMED = ("speed", "latency")
"""Kinds of metric a busy machine distorts (marked CONTENDED when their cell was)."""
GRID = "<style>body>div{display:inline-block;width:49.5%!important;vertical-align:top}</style>"
"""Charts two abreast (plotly's wrapper divs are the page body's only divs)."""


def load(folders: Iterable[Folder]) -> pd.DataFrame:
    """The long results frame (harness.results.frame) of `folders`, oldest run first, each
    row's profile its folder's."""
    from harness.results.frame import load_frame

    parts = [load_frame([f.dir]).assign(profile_id=f.profile_id, run_id=f.run_id)
             for f in sorted(folders, key=lambda f: (f.run_id, str(f.dir)))
             if (f.dir / CELLS_FILE).is_file()]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def metric_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, format, backend, suite, metric) and profile, from the newest run
    of `frame` (`load`) that measured it: its median and quartiles, unit, direction, run,
    and whether its cell ran contended (speed and latency metrics only)."""
    columns = [*KEY, "profile_id", "run_id", "median", "q1", "q3", "metric_unit",
               "higher_is_better", "contended"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    ok = frame[(frame["status"] == "ok") & frame["metric_name"].notna()]
    busy = [contention(h) is not None and kind in TIMED
            for h, kind in zip(ok["health"], ok["kind"], strict=True)]
    return ok.assign(contended=busy)[columns].drop_duplicates(
        [*KEY, "profile_id"], keep="last").sort_values([*KEY, "profile_id"], ignore_index=True)


def write(plan: str, folders: dict[str, Folder], catalog: Catalog, built: Built) -> None:
    page = urls.across_page(plan)
    rows = metric_rows(load(folders.values()))
    profiles = list(folders)
    meta = (f"<p class='meta'>The latest run of plan {text(plan)} on each of "
            f"{len(profiles)} hardware profiles. Values and bars are medians (whiskers: the "
            f"samples' interquartile range); each ratio is a "
            f"profile's value over {text(profiles[0])}'s (green: better by the metric's "
            f"direction, red: worse). {CONTENDED}: the cell shared its machine while timed "
            "(its speed says more about the machine than the engine).</p>")
    sections = [meta, _machines(folders, catalog), "<h2>Every metric</h2>",
                _table(rows, profiles), "<h2>Charts</h2>", GRID, None]
    links = [(built.trends[(p, plan)], f"trend on {p}") for p in profiles
             if (p, plan) in built.trends]
    render(built, page, links, lambda path: write_page(
        path, f"{plan} across hardware profiles", metric_bars(rows, profiles), sections))
    built.across[plan] = page


def _machines(folders: dict[str, Folder], catalog: Catalog) -> str:
    rows = [[f"<b>{text(profile)}</b>", link(urls.href(urls.run_page(f.run_id),
                                                        urls.across_page(f.plan)), f.run_id),
             *hardware(catalog.hardware(profile))] for profile, f in folders.items()]
    return table([("profile", True), ("run", True), *HARDWARE_COLUMNS], rows)


def _table(rows: pd.DataFrame, profiles: list[str]) -> str:
    if rows.empty:
        return "<p>No metric was measured on these profiles.</p>"
    by = {(tuple(r[k] for k in KEY), r["profile_id"]): r for _, r in rows.iterrows()}
    out = []
    for key, group in rows.groupby(KEY, sort=True):
        first = group.iloc[0]
        unit, higher = first["metric_unit"], first["higher_is_better"]
        found = [by.get((tuple(key), p)) for p in profiles]
        values = [_value(r) for r in found]
        base = found[0]["median"] if found[0] is not None else None
        ratios = [ratio(r["median"], base, higher) if r is not None and base is not None
                  else "–" for r in found[1:]]
        out.append([*(text(k) for k in key), text(scale(unit)[1]),
                    "higher" if higher else "lower", *values, *ratios])
    columns = [("model", True), ("format", True), ("backend", True), ("suite", True),
               ("metric", True), ("unit", True), ("better", True),
               *((p, False) for p in profiles),
               *((f"{p} / {profiles[0]}", False) for p in profiles[1:])]
    return table(columns, out)


def _value(row) -> str:
    if row is None:
        return "–"
    mark = CONTENDED if row["contended"] else ""
    return f"{number(row['median'], row['metric_unit'])}{mark}"


def metric_bars(rows: pd.DataFrame, profiles: list[str],
                x: tuple[str, ...] = ("model", "format", "backend")) -> list[go.Figure]:
    """One grouped bar chart per metric of `rows` (`metric_rows`): a bar per profile for
    each value of the `x` columns (the median), whiskers from q1 to q3 of its samples."""
    figs = []
    for (suite, metric), part in rows.groupby(["suite", "metric_label"], sort=True):
        factor, unit = scale(part["metric_unit"].iloc[0])
        higher = bool(part["higher_is_better"].iloc[0])
        fig = go.Figure()
        for profile in profiles:
            mine = part[part["profile_id"] == profile]
            if mine.empty:
                continue
            y = mine["median"] / factor
            fig.add_trace(go.Bar(
                x=[" ".join(str(v) for v in values)
                   for values in zip(*(mine[c] for c in x), strict=True)],
                y=y, name=profile, error_y=_error(mine, factor)))
        fig.update_layout(title={"text": f"{metric} · {suite}", "font": {"size": 13}},
                          barmode="group", height=360, legend={"title": {"text": "profile"}},
                          yaxis_title=f"{unit} ({'higher' if higher else 'lower'} is better)")
        figs.append(fig)
    return figs


def _error(rows: pd.DataFrame, factor: float) -> dict | None:
    """The interquartile range of the samples as error bars (None when no row has one)."""
    low, high = rows["q1"].astype(float), rows["q3"].astype(float)
    if low.isna().all():
        return None
    median = rows["median"].astype(float)
    return {"type": "data", "symmetric": False,
            "array": ((high - median) / factor).fillna(0).tolist(),
            "arrayminus": ((median - low) / factor).fillna(0).tolist()}
