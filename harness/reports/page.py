"""The self-contained HTML page every HTML reporter writes (plotly.js inlined once)."""

from __future__ import annotations

from pathlib import Path

from harness.reports.escaping import figure, text

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.failed{color:#b00020}
.meta{color:#555;font-size:.9rem}
"""


def write_page(out: Path, title: str, figs: list, sections: list[str | None]) -> Path:
    """A self-contained page: the title, then `sections` in order, where a None section
    stands for the charts (plotly.js inlined once, with the first chart). Sections are HTML,
    their values already escaped; the title and every figure's data are escaped here."""
    charts, first = [], True
    for fig in figs:
        if fig is None:
            continue
        charts.append(figure(fig).to_html(full_html=False, include_plotlyjs=first,
                                          config={"displaylogo": False}))
        first = False
    body = "\n".join([f"<h1>{text(title)}</h1>",
                      *("\n".join(charts) if s is None else s for s in sections)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                   f"<title>{text(title)}</title><style>{STYLE}</style></head>"
                   f"<body>{body}</body></html>", encoding="utf-8")
    return out
