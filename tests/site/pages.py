"""Reading the site's pages back: their links and their tables, as a browser sees them."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

LINKS = {"a": "href", "script": "src", "link": "href", "img": "src", "iframe": "src"}


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[tuple[str, str]] = []
        self.ids: set[str] = set()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        wanted = LINKS.get(tag)
        self.ids |= {value for name, value in attrs if name == "id" and value}
        self.links += [(tag, value) for name, value in attrs if name == wanted and value]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "br" and self._cell is not None:
            self._cell.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.tables:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: Path) -> _Page:
    parser = _Page()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser


def page_links(page: Path) -> list[tuple[str, str]]:
    """(tag, target) of every a href, script src, link href, img src and iframe src."""
    return _parse(page).links


def anchors(page: Path) -> set[str]:
    """The ids of the page's elements (what `#fragment` links land on)."""
    return _parse(page).ids


def tables(page: Path) -> list[list[list[str]]]:
    """Every table of the page as rows of cell texts (the header row first)."""
    return _parse(page).tables
