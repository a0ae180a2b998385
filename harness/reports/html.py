"""One self-contained HTML file (plotly.js inlined) comparing cells side by side.

It opens with the answer (harness.reports.summary: per model, the fastest and the smallest
format, the speed-quality Pareto front, flagged cells), then the charts, which come from
the metric specs of the suites in the results (harness.reports.charts), then every metric
in a collapsed table that sorts and filters in the page. This page names no metric.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

import pandas as pd

from harness.reports import charts, summary_html
from harness.reports.base import RunReporter
from harness.reports.escaping import text
from harness.reports.frames import contention, format_order, numeric, profile_bandwidths
from harness.reports.page import write_page
from harness.reports.summary import model_summary
from harness.reports.tables import collapsible_table


class HtmlReporter(RunReporter):
    """One self-contained HTML page: the summary, plotly charts and a table of every
    metric."""

    suffix: ClassVar[str] = ".html"

    def render(self, frame: pd.DataFrame, out: Path, title: str) -> Path:
        frame = numeric(frame)
        bandwidths = self._bandwidths(frame)
        figs = charts.build(frame, format_order(frame), bandwidths)
        return write_page(out, title, figs, [
            _meta(frame), summary_html.render(model_summary(frame, bandwidths)),
            _contended(frame), None, _metric_table(frame), _failures(frame),
        ])

    def _bandwidths(self, frame: pd.DataFrame) -> dict[str, float]:
        """Measured read bandwidth (GB/s) of each hardware profile the results name."""
        return profile_bandwidths(frame, self.profiles_dir)


def _meta(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "<p class='meta'>No results.</p>"
    runs = ", ".join(sorted(frame["run_id"].unique()))
    profiles = ", ".join(sorted(frame["profile_id"].unique()))
    commits = ", ".join(sorted(frame["git_commit"].unique()))
    pairs = zip(frame["backend"], frame["backend_version"], strict=True)
    versions = ", ".join(sorted({f"{b} {v}" for b, v in pairs}))
    cells = frame["cell_key"].nunique()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (f"<p class='meta'>{cells} cells · runs: {text(runs)} · hardware profiles: "
            f"{text(profiles)} · engines: {text(versions)} · harness commit: "
            f"{text(commits)} · generated {stamp}</p>")


def _metric_table(frame: pd.DataFrame) -> str:
    if frame.empty or "metric_name" not in frame:
        return "<h2>Every metric</h2><p>No metrics.</p>"
    rows = frame[frame["status"] == "ok"].sort_values(["model", "format", "backend",
                                                       "metric_label"])
    head = ("<tr><th class=l>model</th><th class=l>format</th><th>bits/weight</th>"
            "<th class=l>backend</th><th>threads</th><th class=l>metric</th><th class=l>unit</th>"
            "<th>n</th><th>median</th><th>mean</th><th>stdev</th><th>95% CI</th>"
            "<th class=l>health</th></tr>")
    body = []
    for _, r in rows.iterrows():
        scale, unit = (1e6, "MB") if r["metric_unit"] == "bytes" else (1.0, r["metric_unit"])
        n = int(r["n"])
        ci = (f"{_num(r['ci_low'] / scale)} .. {_num(r['ci_high'] / scale)}"
              if pd.notna(r["ci_low"]) else "–")
        body.append(
            f"<tr><td class=l>{text(r['model'])}</td><td class=l>{text(r['format'])}</td>"
            f"<td>{r.get('artifact_bits_per_weight', float('nan')):.3f}</td>"
            f"<td class=l>{text(r['backend'])}</td><td>{text(r['threads'])}</td>"
            f"<td class=l>{text(r['metric_label'])}</td><td class=l>{text(unit)}</td>"
            f"<td>{n}</td><td>{_num(r['median'] / scale)}</td><td>{_num(r['mean'] / scale)}</td>"
            f"<td>{_num(r['stdev'] / scale) if n > 1 else '–'}</td><td>{ci}</td>"
            f"<td class=l>{'' if contention(r.get('health')) is None else 'contended'}</td></tr>")
    return collapsible_table("metrics", "Every metric", head, body)


def _contended(frame: pd.DataFrame) -> str:
    """The cells whose timed part shared the machine: their speed is not the engine's."""
    if frame.empty or "health" not in frame:
        return ""
    cells = frame[frame["status"] == "ok"].drop_duplicates("cell_key")
    flagged = [(r, why) for _, r in cells.iterrows()
               if (why := contention(r["health"])) is not None]
    if not flagged:
        return ""
    items = "".join(
        f"<li><b>{text(r['model'])} {text(r['format'])} {text(r['backend'])} "
        f"{text(r['suite'])}</b>: contended: {text(why or 'the machine was busy')}</li>"
        for r, why in flagged)
    return (f"<h2 class='failed' id='contended-cells'>Contended cells ({len(flagged)})</h2>"
            "<p>Other work shared the machine while these cells were timed: their speed and "
            "latency say more about the machine than the engine (harness doctor; harness run "
            f"--wait-quiet).</p><ul class='failed'>{items}</ul>")


def _failures(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    failed = frame[frame["status"] == "failed"].drop_duplicates("cell_key")
    if failed.empty:
        return ""
    items = "".join(
        f"<li><b>{text(r['model'])} {text(r['format'])} {text(r['backend'])} "
        f"{text(r['suite'])}</b>: {text(r['error'])}</li>" for _, r in failed.iterrows())
    return (f"<h2 class='failed' id='failed-cells'>Failed cells ({len(failed)})</h2>"
            f"<ul class='failed'>{items}</ul>")


def _num(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.4g}"
