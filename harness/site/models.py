"""One page per model: every hardware profile x format x backend that ran it, its metrics
side by side, from the latest run of each plan on each profile.

The page opens with the per-model summary of the run report (harness.reports.summary:
fastest and smallest format, the speed-quality Pareto front, flagged cells) for each
profile, then a table per suite (one row per profile x format x backend, one column per
metric) and a chart per metric (a bar per profile)."""

from __future__ import annotations

from functools import partial

import pandas as pd

from harness.reports.escaping import text
from harness.reports.page import write_page
from harness.site import urls
from harness.site.across import CONTENDED, GRID, load, metric_bars, metric_rows
from harness.site.catalog import Catalog
from harness.site.markup import link, number, scale, table
from harness.site.pages import Built, render

ROW = ["profile_id", "format", "backend"]


def write_all(catalog: Catalog, built: Built) -> None:
    frame = load(f for plan in catalog.plans() for f in catalog.latest(plan).values())
    rows = metric_rows(frame)
    for model in sorted(set(rows["model"]) | set(frame.get("model", ()))):
        page = urls.model_page(model)
        mine = rows[rows["model"] == model]
        cells = frame[frame["model"] == model] if not frame.empty else frame
        sections = [_meta(model, mine), _summary(cells, catalog), "<h2>Every metric</h2>",
                    *_tables(mine, page), *_flagged(cells), "<h2>Charts</h2>", GRID, None]
        figs = metric_bars(mine, sorted(set(mine["profile_id"])), ("format", "backend"))
        render(built, page, _links(mine, built), partial(
            write_page, title=f"{model} on every profile, format and backend", figs=figs,
            sections=sections))
        built.models[model] = page


def _summary(cells: pd.DataFrame, catalog: Catalog) -> str:
    """The run report's per-model summary, for this model on each profile."""
    if cells.empty:
        return ""
    from harness.reports import summary_html
    from harness.reports.frames import numeric, profile_bandwidths
    from harness.reports.summary import model_summary

    cells = numeric(cells)
    return summary_html.render(model_summary(cells, profile_bandwidths(
        cells, catalog.profiles_dir)))


def _meta(model: str, rows: pd.DataFrame) -> str:
    profiles = sorted(set(rows["profile_id"]))
    return (f"<p class='meta'>{text(model)}: {len(profiles)} hardware profiles "
            f"({text(', '.join(profiles))}); values are medians from the latest run of each "
            f"plan on each profile. {CONTENDED}: the cell shared its machine while timed.</p>")


def _links(rows: pd.DataFrame, built: Built) -> list[tuple[str, object]]:
    runs = sorted(set(rows["run_id"]))
    return [(built.runs[r], f"run {r}") for r in runs if r in built.runs]


def _tables(rows: pd.DataFrame, page: str) -> list[str]:
    """Per suite: one row per profile x format x backend, one column per metric."""
    out = []
    for suite, part in rows.groupby("suite", sort=True):
        metrics = sorted(set(part["metric_label"]))
        units = {m: scale(part.loc[part["metric_label"] == m, "metric_unit"].iloc[0])[1]
                 for m in metrics}
        body = []
        for (profile, fmt, backend), cell in part.groupby(ROW, sort=True):
            values = {r["metric_label"]: r for _, r in cell.iterrows()}
            run = cell["run_id"].iloc[-1]
            body.append([f"<b>{text(profile)}</b>", text(fmt), text(backend),
                         link(urls.href(urls.run_page(run), page), run),
                         *(_value(values.get(m)) for m in metrics)])
        columns = [("profile", True), ("format", True), ("backend", True), ("run", True),
                   *((f"{m} ({units[m]})", False) for m in metrics)]
        out += [f"<h3>{text(suite)}</h3>", table(columns, body)]
    return out or ["<p>No metric was measured.</p>"]


def _flagged(cells: pd.DataFrame) -> list[str]:
    """The model's failed and contended cells on each profile, where the summary's flags
    link to (the ids the run report gives the same lists)."""
    from harness.reports.frames import contention
    from harness.reports.summary_html import ANCHORS

    if cells.empty:
        return []
    one = cells.drop_duplicates(["profile_id", "run_id", "cell_key"])
    why = {"failed": [(r, r["error"]) for _, r in one.iterrows() if r["status"] == "failed"],
           "contended": [(r, contention(r["health"]) or "the machine was busy")
                         for _, r in one.iterrows() if r["status"] == "ok"
                         and contention(r["health"]) is not None]}
    out = []
    for status, flagged in why.items():
        if not flagged:
            continue
        items = "".join(f"<li><b>{text(r['profile_id'])} {text(r['format'])} "
                        f"{text(r['backend'])} {text(r['suite'])}</b>: {text(reason)}</li>"
                        for r, reason in flagged)
        out.append(f"<h2 class='failed' id='{ANCHORS[status]}'>{status.capitalize()} cells "
                   f"({len(flagged)})</h2><ul class='failed'>{items}</ul>")
    return out


def _value(row) -> str:
    if row is None:
        return "–"
    return number(row["median"], row["metric_unit"]) + (CONTENDED if row["contended"] else "")
