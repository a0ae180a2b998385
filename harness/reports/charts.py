"""The run report's charts, built from the metric specs of the suites in the results.

Each stored row names its suite; the installed suite's `metrics` declare which charts
draw it. Specs naming one chart title share a figure; figures follow `Chart.order`, with
the precision-family figure at `families.ORDER`. A suite that is not installed here has
no declarations: its metrics appear in the report's table only.
"""

from __future__ import annotations

import logging

import pandas as pd

from harness.reports import families as fam
from harness.reports.figures import STYLES, ChartContext, Member, with_series
from harness.suites.metrics import Chart, MetricSpec, declared_specs

log = logging.getLogger(__name__)


def suite_specs(frame: pd.DataFrame) -> dict[str, tuple[MetricSpec, ...]]:
    """Suite name -> its declared metrics, for every installed suite in `frame`."""
    if frame.empty or "suite" not in frame:
        return {}
    out = {}
    for suite in sorted(frame["suite"].dropna().unique()):
        specs = declared_specs(suite)
        if specs is None:
            log.info("suite %s is not installed: its metrics get the table only", suite)
        else:
            out[suite] = specs
    return out


def spec_rows(frame: pd.DataFrame, suite: str, spec: MetricSpec) -> pd.DataFrame:
    """Successful rows of `suite` that `spec` declares (a pattern spec: every match)."""
    if frame.empty or "metric_name" not in frame:
        return with_series(frame.iloc[0:0])
    ok = frame[(frame["status"] == "ok") & (frame["suite"] == suite)]
    names = [n for n in ok["metric_name"].dropna().unique() if spec.matches(n)]
    own = [n for n in names if n == spec.name or not _declared_exactly(frame, suite, n)]
    return with_series(ok[ok["metric_name"].isin(own)])


def _declared_exactly(frame: pd.DataFrame, suite: str, name: str) -> bool:
    specs = declared_specs(suite) or ()
    return any(s.name == name for s in specs)


def build(frame: pd.DataFrame, format_order: list[str], bandwidths: dict[str, float]) -> list:
    """Every figure the declared charts give for `frame`, in order (None where a chart has
    nothing to draw)."""
    specs = suite_specs(frame)
    ctx = ChartContext(frame, format_order, bandwidths)
    charts: dict[str, tuple[Chart, list[Member]]] = {}
    for suite, declared in specs.items():
        for spec in declared:
            for chart in spec.charts:
                entry = charts.setdefault(chart.title, (chart, []))
                rows = spec_rows(frame, suite, spec)
                same = next((i for i, m in enumerate(entry[1]) if m.spec.name == spec.name),
                            None)
                if same is None:
                    entry[1].append(Member(spec, rows))
                else:  # a variant of the suite (serving:shared-prefix): one panel, more lines
                    entry[1][same] = Member(spec, pd.concat([entry[1][same].rows, rows]))
    items = [(chart.order, chart, members) for chart, members in charts.values()]
    items.append((fam.ORDER, None, []))
    figs = []
    for _, chart, members in sorted(items, key=lambda item: item[0]):
        if chart is None:
            figs.append(fam.families(frame, specs))
            continue
        style = STYLES.get(chart.style)
        if style is None:
            log.warning("chart '%s' names style '%s', which is not one of %s; drawn as bars",
                        chart.title, chart.style, ", ".join(STYLES))
            style = STYLES["bars"]
        figs.append(style(chart, members, ctx))
    return figs
