"""The HTML report: self-contained, complete, and rendering in a real headless Chromium."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import harness_cmd, launch_chromium, needs_browser


@pytest.fixture(scope="module")
def report(smoke_run: Path, quality_run: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report") / "smoke.html"
    proc = harness_cmd("report", str(smoke_run), str(quality_run), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow
def test_report_is_self_contained_and_names_every_cell(report: Path) -> None:
    text = report.read_text()
    assert "<script src=" not in text  # plotly.js is inlined: works offline
    assert "plotly" in text.lower() and len(text) > 1_000_000
    for title in ("Decode tokens", "Prefill tokens", "Peak memory and model file size",
                  "Decode speed vs model file size", "Every metric", "Perplexity per model",
                  "MMLU accuracy per model", "HumanEval pass@1",
                  "KL divergence from the reference vs bits per weight"):
        assert title in text
    assert "q4_0" in text and "smollm2-135m" in text and "95% CI" in text


@pytest.mark.slow
def test_report_of_nothing_is_a_usage_error(tmp_path: Path) -> None:
    proc = harness_cmd("report", str(tmp_path), "-o", str(tmp_path / "x.html"))
    assert proc.returncode == 2 and "no results here" in proc.stderr


@pytest.mark.slow
@pytest.mark.browser
@needs_browser
def test_report_renders_in_headless_chromium(report: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(report.as_uri())
        page.wait_for_function("document.querySelectorAll('.plotly-graph-div .main-svg').length")
        plots = page.eval_on_selector_all(".plotly-graph-div", "els => els.length")
        drawn = page.eval_on_selector_all(
            ".plotly-graph-div", "els => els.filter(e => e.querySelector('.trace')).length")
        hover = page.evaluate("document.querySelector('.plotly-graph-div').data[0].customdata[0]")
        shot = tmp_path / "report.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert errors == []
    assert plots >= 9 and drawn == plots
    assert len(hover) == 6 and hover[2] == "llama_cpp"  # model, format, backend, threads, profile
    assert shot.stat().st_size > 10_000
