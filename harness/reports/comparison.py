"""HTML of one comparison (baseline vs candidate): verdicts, changes with their intervals."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import plotly.graph_objects as go

from harness.regression.compare import Comparison, MetricComparison
from harness.reports.base import ComparisonReporter
from harness.reports.escaping import text
from harness.reports.page import write_page

COLORS = {"regressed": "#c62828", "improved": "#2e7d32", "unchanged": "#9e9e9e",
          "inconclusive": "#f9a825"}


class ComparisonHtmlReporter(ComparisonReporter):
    """One self-contained HTML page: a forest plot of changes and every verdict."""

    suffix: ClassVar[str] = ".html"

    def render(self, data: Comparison, out: Path, title: str | None = None) -> Path:
        title = title or f"{data.candidate_run} vs baseline {data.baseline_run}"
        summary = ", ".join(f"{n} {v}" for v, n in data.counts().items())
        sections = [
            "".join(f"<p class='failed'><b>{text(w)}</b></p>" for w in data.warnings),
            f"<p class='meta'>profiles: baseline {text(data.baseline_profile)}, "
            f"candidate {text(data.candidate_profile)}. {text(summary)}.</p>",
            _listing("Failed in the candidate, ok in the baseline (regressions)",
                     data.newly_failed),
            None,
            "<h2>Every compared metric</h2>",
            _table(data.rows),
            _listing("Only in the baseline", data.only_baseline),
            _listing("Only in the candidate", data.only_candidate),
        ]
        return write_page(out, title, [_forest(data.rows)], sections)


def format_change(row: MetricComparison) -> str:
    if row.relative:
        return f"{row.change * 100:+.1f}%"
    return f"{row.change:+.4g} {row.unit}"


def format_interval(row: MetricComparison) -> str:
    if row.ci_low is None:
        return "-"
    if row.relative:
        return f"[{row.ci_low * 100:+.1f}%, {row.ci_high * 100:+.1f}%]"
    return f"[{row.ci_low:+.4g}, {row.ci_high:+.4g}]"


def _forest(rows: list[MetricComparison]):
    """Relative changes with their intervals, one line per metric, coloured by verdict."""
    shown = [r for r in rows if r.relative and r.n_base > 1 and r.ci_low is not None]
    if not shown:
        return None
    fig = go.Figure()
    for verdict, color in COLORS.items():
        part = [r for r in shown if r.verdict == verdict]
        if not part:
            continue
        fig.add_trace(go.Scatter(
            x=[r.change * 100 for r in part], y=[f"{r.cell} · {r.metric}" for r in part],
            mode="markers", name=verdict, marker={"color": color, "size": 10},
            error_x={"type": "data", "symmetric": False,
                     "array": [(r.ci_high - r.change) * 100 for r in part],
                     "arrayminus": [(r.change - r.ci_low) * 100 for r in part]},
            hovertemplate="%{y}<br>change %{x:.1f}%<extra>" + verdict + "</extra>",
        ))
    fig.add_vline(x=0, line_color="#555")
    fig.update_layout(title="Change of each sampled metric vs its reference (the interval "
                            "of the row's method; sign as measured, see the table for "
                            "better/worse)",
                      xaxis_title="change, %", height=max(300, 28 * len(shown) + 140),
                      margin={"l": 420})
    return fig


def _table(rows: list[MetricComparison]) -> str:
    head = ("<table><tr><th class=l>verdict</th><th class=l>cell</th><th class=l>metric</th>"
            "<th>baseline</th><th>candidate</th><th>change</th><th>interval</th><th>p</th>"
            "<th class=l>threshold</th><th class=l>method</th></tr>")
    order = {"regressed": 0, "improved": 1, "inconclusive": 2, "unchanged": 3}
    lines = []
    for r in sorted(rows, key=lambda r: (order[r.verdict], r.cell, r.metric)):
        p = "-" if r.p_value is None else f"{r.p_value:.3g}"
        lines.append(
            f"<tr><td class=l style='color:{COLORS[r.verdict]}'><b>{r.verdict}</b></td>"
            f"<td class=l>{text(r.cell)}</td><td class=l>{text(r.metric)}</td>"
            f"<td>{r.base:.4g}</td><td>{r.cand:.4g}</td><td>{text(format_change(r))}</td>"
            f"<td>{text(format_interval(r))}</td><td>{p}</td><td class=l>{text(r.threshold)}</td>"
            f"<td class=l>{text(r.method)}</td></tr>")
    return head + "".join(lines) + "</table>"


def _listing(title: str, items: list[str]) -> str:
    if not items:
        return ""
    return f"<h2>{text(title)}</h2><ul>" + "".join(
        f"<li>{text(i)}</li>" for i in items) + "</ul>"
