"""One self-contained HTML file (plotly.js inlined) comparing cells side by side.

The charts come from the metric specs of the suites in the results (harness.reports.charts);
this page names no metric.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

import pandas as pd
import yaml

from harness.reports import charts
from harness.reports.base import RunReporter
from harness.reports.escaping import text
from harness.reports.page import write_page

log = logging.getLogger(__name__)
NUMERIC = ("artifact_bits_per_weight", "artifact_size_bytes", "artifact_n_params")
"""Artifact fields the charts compute with (the stored `artifact` is free-form)."""


class HtmlReporter(RunReporter):
    """One self-contained HTML page: plotly charts and a table of every metric."""

    suffix: ClassVar[str] = ".html"

    def render(self, frame: pd.DataFrame, out: Path, title: str) -> Path:
        frame = _numeric(frame)
        figs = charts.build(frame, _format_order(frame), self._bandwidths(frame))
        return write_page(out, title, figs, [
            _meta(frame), _contended(frame), None, "<h2>Every metric</h2>",
            _metric_table(frame), _failures(frame),
        ])

    def _bandwidths(self, frame: pd.DataFrame) -> dict[str, float]:
        """Measured read bandwidth (GB/s) of each hardware profile the results name."""
        from harness.hardware.profile import load_profile

        out = {}
        for profile_id in frame.get("profile_id", pd.Series(dtype=str)).dropna().unique():
            path = self.profiles_dir / f"{profile_id}.yaml"
            if Path(str(profile_id)).name != profile_id or not path.is_file():
                continue  # a stored id is no path: it names a file in profiles_dir or none
            try:
                out[profile_id] = float(load_profile(path)["memory"]["read_bandwidth_gb_s"])
            except (OSError, ValueError, KeyError, TypeError, yaml.YAMLError) as exc:
                log.warning("%s: no read bandwidth (%s); the report draws no roofline", path,
                            exc)
        return out


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with the artifact fields the charts compute with as numbers (else NaN)."""
    present = [c for c in NUMERIC if c in frame]
    return frame.assign(**{c: pd.to_numeric(frame[c], errors="coerce") for c in present})


def _format_order(frame: pd.DataFrame) -> list[str]:
    if frame.empty:
        return []
    rows = frame.dropna(subset=["artifact_bits_per_weight"]) if "artifact_bits_per_weight" in \
        frame else frame
    if rows.empty:
        return list(dict.fromkeys(frame["format"]))
    bpw = rows.groupby("format")["artifact_bits_per_weight"].max()
    return list(bpw.sort_values(ascending=False).index)


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
        return "<p>No metrics.</p>"
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
    return f"<table>{head}{''.join(body)}</table>"


def contention(health) -> str | None:
    """Why a cell's timed part was contended ('' when no reason was stored), else None."""
    if not isinstance(health, dict) or not health.get("contended"):
        return None
    return "; ".join(str(r) for r in health.get("reasons") or [])


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
    return (f"<h2 class='failed'>Contended cells ({len(flagged)})</h2><p>Other work shared "
            "the machine while these cells were timed: their speed and latency say more "
            "about the machine than the engine (harness doctor; harness run --wait-quiet)."
            f"</p><ul class='failed'>{items}</ul>")


def _failures(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    failed = frame[frame["status"] == "failed"].drop_duplicates("cell_key")
    if failed.empty:
        return ""
    items = "".join(
        f"<li><b>{text(r['model'])} {text(r['format'])} {text(r['backend'])} "
        f"{text(r['suite'])}</b>: {text(r['error'])}</li>" for _, r in failed.iterrows())
    return f"<h2 class='failed'>Failed cells ({len(failed)})</h2><ul class='failed'>{items}</ul>"


def _num(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.4g}"
