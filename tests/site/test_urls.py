"""Page names: safe in a URL and a file system, distinct for distinct names, relative."""

from __future__ import annotations

from harness.site import urls


def test_slugs_are_safe_and_distinct() -> None:
    names = ["20261203T114140Z-smoke", "a/b", "a-b", "a b", "..", ".", "", "../../etc",
             "<script>", "ünïcode", "x" * 300]
    slugs = [urls.slug(n) for n in names]
    assert slugs[0] == names[0]  # a name that is safe already stays readable
    assert len(set(slugs)) == len(slugs)
    for slug in slugs:
        assert slug and slug.strip("._-") and len(slug) <= 90
        assert all(c.isascii() and (c.isalnum() or c in "._-") for c in slug), slug


def test_links_are_relative_to_the_page() -> None:
    run = urls.run_page("r1")
    assert urls.href(urls.INDEX, run) == "../index.html"
    assert urls.href(urls.PLOTLY, urls.trend_page("p", "plan")) == "../../plotly.min.js"
    assert urls.href(run, urls.INDEX) == "runs/r1.html"
    assert urls.href(urls.run_page("r2"), run) == "r2.html"
