"""The self-contained HTML page every HTML reporter writes (plotly.js inlined once).

Inside `in_site` (harness publish), a page is one page of a static site instead: it
references the site's single copy of plotly.js by a relative URL and carries the site's
navigation above its title; reporters need not know."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from harness.reports.escaping import figure, text

STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;font-size:.85rem;margin:1rem 0}
th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}
th{background:#f3f3f3} td.l,th.l{text-align:left}
.failed{color:#b00020}
.meta{color:#555;font-size:.9rem}
nav{font-size:.9rem;margin-bottom:.5rem} nav a{margin-right:1rem}
"""


@dataclass(frozen=True)
class SitePage:
    """How a page written inside `in_site` differs from a self-contained one."""

    plotly_js: str
    """URL of plotly.min.js relative to the page (it ends in `.js`)."""
    nav: str = ""
    """HTML above the title, its values already escaped."""


_SITE: ContextVar[SitePage | None] = ContextVar("site_page", default=None)


@contextmanager
def in_site(plotly_js: str, nav: str = "") -> Iterator[None]:
    """Pages written inside load plotly.js from `plotly_js` and show `nav` first."""
    token = _SITE.set(SitePage(plotly_js, nav))
    try:
        yield
    finally:
        _SITE.reset(token)


def write_page(out: Path, title: str, figs: list, sections: list[str | None]) -> Path:
    """A self-contained page: the title, then `sections` in order, where a None section
    stands for the charts (plotly.js inlined once, with the first chart). Sections are HTML,
    their values already escaped; the title and every figure's data are escaped here."""
    site = _SITE.get()
    charts, first = [], True
    for fig in figs:
        if fig is None:
            continue
        script = (site.plotly_js if site else True) if first else False
        charts.append(figure(fig).to_html(full_html=False, include_plotlyjs=script,
                                          config={"displaylogo": False}))
        first = False
    body = "\n".join([site.nav if site else "", f"<h1>{text(title)}</h1>",
                      *("\n".join(charts) if s is None else s for s in sections)])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"<!doctype html><html><head><meta charset='utf-8'>"
                   f"<title>{text(title)}</title><style>{STYLE}</style></head>"
                   f"<body>{body}</body></html>", encoding="utf-8")
    return out
