"""What a build wrote, and how each page of the site is written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.site import urls
from harness.site.markup import nav


@dataclass
class Built:
    """What a build wrote: pages by what they show, as paths from the site root."""

    out: Path
    title: str
    runs: dict[str, str] = field(default_factory=dict)
    compared: dict[tuple[str, str], tuple[str, str, str]] = field(default_factory=dict)
    """(profile, run id) -> (page, the run compared with, 'baseline' or 'previous run')."""
    trends: dict[tuple[str, str], str] = field(default_factory=dict)
    """(profile, plan) -> page."""
    across: dict[str, str] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)

    def pages(self) -> int:
        return 1 + sum(len(d) for d in (self.runs, self.compared, self.trends, self.across,
                                          self.models))


def render(built: Built, page: str, links: list[tuple[str, object]],
           draw: Callable[[Path], object]) -> None:
    """`draw(path)` writes one page of the site: plotly.js from the site's copy, the site's
    navigation (`links`: site path, label) above the title."""
    from harness.reports.page import in_site

    with in_site(urls.href(urls.PLOTLY, page), nav(page, links)):
        draw(built.out / page)
