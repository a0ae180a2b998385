"""One self-contained HTML file (plotly.js inlined) comparing cells side by side."""

from __future__ import annotations

import html
from datetime import datetime, timezone
from pathlib import Path
from typing import ClassVar

import pandas as pd

from harness.reports import figures
from harness.reports.base import Reporter
from harness.reports.families import families

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.failed{color:#b00020}
.meta{color:#555;font-size:.9rem}
"""


class HtmlReporter(Reporter):
    """One self-contained HTML page: plotly charts and a table of every metric."""

    name: ClassVar[str] = "html"
    suffix: ClassVar[str] = ".html"

    def render(self, frame: pd.DataFrame, out: Path, title: str) -> Path:
        order = _format_order(frame)
        decode = figures.bars(frame, "decode_tokens_per_s",
                              "Decode tokens/s per model x format (roofline: memory bandwidth)",
                              "tokens/s", format_order=order)
        figs = [
            figures.add_roofline(decode, frame, self._bandwidths(frame)),
            families(frame),
            figures.bars(frame, "prefill_tokens_per_s", "Prefill tokens/s per model x format",
                         "tokens/s", format_order=order),
            figures.bars(frame, "ttft_ms", "Time to first token", "ms", format_order=order),
            figures.bars(frame, "stream_decode_tokens_per_s",
                         "Decode tokens/s through streaming generate (every engine; includes "
                         "token selection and, over HTTP, the network)", "tokens/s",
                         format_order=order),
            figures.serving(frame),
            figures.memory_vs_size(frame, order),
            figures.speed_vs_size(frame),
            figures.bars(frame, "perplexity", "Perplexity per model x format (lower is better)",
                         "ppl", format_order=order, overall=True),
            figures.bars(frame, "mmlu_accuracy", "MMLU accuracy per model x format", "fraction",
                         format_order=order, overall=True),
            figures.bars(frame, "humaneval_pass_at_1", "HumanEval pass@1 per model x format",
                         "fraction", format_order=order, overall=True),
            figures.quality_vs_speed(frame, "perplexity", "perplexity", higher_is_better=False),
            figures.quality_vs_speed(frame, "mmlu_accuracy", "MMLU accuracy",
                                     higher_is_better=True),
            figures.kl_vs_bits(frame),
        ]
        return write_page(out, title, figs, [
            _meta(frame), None, "<h2>Every metric</h2>", _metric_table(frame), _failures(frame),
        ])

    def _bandwidths(self, frame: pd.DataFrame) -> dict[str, float]:
        """Measured read bandwidth (GB/s) of each hardware profile the results name."""
        from harness.hardware.profile import load_profile

        out = {}
        for profile_id in frame.get("profile_id", pd.Series(dtype=str)).dropna().unique():
            path = self.profiles_dir / f"{profile_id}.yaml"
            if path.is_file():
                out[profile_id] = load_profile(path)["memory"]["read_bandwidth_gb_s"]
        return out


def write_page(out: Path, title: str, figs: list, sections: list[str | None]) -> Path:
    """A self-contained page: the title, then `sections` in order, where a None section
    stands for the charts (plotly.js inlined once, with the first chart)."""
    charts, first = [], True
    for fig in figs:
        if fig is None:
            continue
        charts.append(fig.to_html(full_html=False, include_plotlyjs=first,
                                  config={"displaylogo": False}))
        first = False
    body = "\n".join([f"<h1>{html.escape(title)}</h1>",
                      *("\n".join(charts) if s is None else s for s in sections)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                   f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
                   f"<body>{body}</body></html>", encoding="utf-8")
    return out


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
    return (f"<p class='meta'>{cells} cells · runs: {html.escape(runs)} · hardware profiles: "
            f"{html.escape(profiles)} · engines: {html.escape(versions)} · harness commit: "
            f"{html.escape(commits)} · generated {stamp}</p>")


def _metric_table(frame: pd.DataFrame) -> str:
    if frame.empty or "metric_name" not in frame:
        return "<p>No metrics.</p>"
    rows = frame[frame["status"] == "ok"].sort_values(["model", "format", "backend",
                                                       "metric_label"])
    head = ("<tr><th class=l>model</th><th class=l>format</th><th>bits/weight</th>"
            "<th class=l>backend</th><th>threads</th><th class=l>metric</th><th class=l>unit</th>"
            "<th>n</th><th>median</th><th>mean</th><th>stdev</th><th>95% CI</th></tr>")
    body = []
    for _, r in rows.iterrows():
        scale, unit = (1e6, "MB") if r["metric_unit"] == "bytes" else (1.0, r["metric_unit"])
        n = int(r["n"])
        ci = (f"{_num(r['ci_low'] / scale)} .. {_num(r['ci_high'] / scale)}"
              if pd.notna(r["ci_low"]) else "–")
        body.append(
            f"<tr><td class=l>{html.escape(r['model'])}</td><td class=l>{r['format']}</td>"
            f"<td>{r.get('artifact_bits_per_weight', float('nan')):.3f}</td>"
            f"<td class=l>{r['backend']}</td><td>{r['threads']}</td>"
            f"<td class=l>{html.escape(str(r['metric_label']))}</td><td class=l>{unit}</td>"
            f"<td>{n}</td><td>{_num(r['median'] / scale)}</td><td>{_num(r['mean'] / scale)}</td>"
            f"<td>{_num(r['stdev'] / scale) if n > 1 else '–'}</td><td>{ci}</td></tr>")
    return f"<table>{head}{''.join(body)}</table>"


def _failures(frame: pd.DataFrame) -> str:
    if frame.empty:
        return ""
    failed = frame[frame["status"] == "failed"].drop_duplicates("cell_key")
    if failed.empty:
        return ""
    items = "".join(
        f"<li><b>{html.escape(r['model'])} {r['format']} {r['backend']} {r['suite']}</b>: "
        f"{html.escape(str(r['error']))}</li>" for _, r in failed.iterrows())
    return f"<h2 class='failed'>Failed cells ({len(failed)})</h2><ul class='failed'>{items}</ul>"


def _num(value: float) -> str:
    return "–" if pd.isna(value) else f"{value:.4g}"
