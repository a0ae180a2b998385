"""A site published from crafted results (markup and script in every string field, in run
ids and hardware profile ids too): no page runs or draws what it was given, every file
name is safe, and every link still lands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.results.query import set_baseline
from tests.conftest import harness_cmd, launch_chromium, needs_browser
from tests.reliability.test_report_injection import (
    OTHER_PROFILE,
    PROFILE,
    _observer,
    _write_run,
)
from tests.site.pages import page_links

RAW = ("<script>alert(1)", "<img src=x", "<svg onload", "<b>bold", "href=\"java",
       "</script><script>document")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("site-injection")
    results, profiles = work / "results", work / "profiles"
    profiles.mkdir()
    (profiles / f"{PROFILE}.yaml").write_text("memory: {read_bandwidth_gb_s: 20.0}\n")
    base = _write_run(results, "hw", PROFILE, 1, 100.0)
    _write_run(results, "hw", PROFILE, 2, 60.0, fail=True, extra=True)
    other = _write_run(results, "other", OTHER_PROFILE, 4, 80.0)
    _write_run(results, "other", OTHER_PROFILE, 5, 70.0)
    for ref in (base, other):
        set_baseline(results, ref)
    proc = harness_cmd("publish", str(results), "--profiles-dir", str(profiles), "-o",
                       str(work / "site"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return work / "site"


def _pages(site: Path) -> list[Path]:
    return sorted(site.rglob("*.html"))


def test_no_payload_reaches_a_page_as_markup(site: Path) -> None:
    pages = _pages(site)
    kinds = {p.relative_to(site).parts[0] for p in pages}
    assert kinds == {"index.html", "runs", "compare", "trends", "across", "models"}
    for page in pages:
        html = page.read_text(encoding="utf-8")
        for raw in RAW:
            assert raw not in html, f"{raw!r} written unescaped into {page}"
    assert "&lt;img src=x onerror=alert(1)&gt;" in (site / "index.html").read_text()


def test_file_names_are_safe_and_links_land(site: Path) -> None:
    for page in _pages(site):
        name = page.relative_to(site).as_posix()
        assert re.fullmatch(r"[A-Za-z0-9._/-]+", name), name
        for _, target in page_links(page):
            path = target.partition("#")[0]
            assert not path or (page.parent / path).is_file(), f"{page}: {target}"


@pytest.mark.browser
@needs_browser
def test_nothing_runs_in_chromium(site: Path) -> None:
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    found: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.add_init_script(_observer())
        for path in _pages(site):
            page.goto(path.as_uri())
            page.wait_for_timeout(200)
            if page.evaluate("document.documentElement.getAttribute('data-pwned')"):
                found.append(f"{path}: pwned")
            found += [f"{path}: {e}" for e in page.evaluate("window.__injected")]
        browser.close()
    assert dialogs == [] and found == []
