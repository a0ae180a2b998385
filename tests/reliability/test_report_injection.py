"""Report injection: script and markup in every string field of crafted results files,
rendered as a user does (`harness report`, `harness compare --html`, `harness trend`).
Each page must run nothing it was given and show every value as text.

The browser half opens each page in headless Chromium, forces a hover label on every
trace (hover text is drawn only on hover), and looks for any dialog, any element the
payloads would create (also ones added and removed again, through a MutationObserver
installed before the page loads), and the markers the payloads set when they run.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.schema import CellResult, MetricRecord
from harness.stats import summarize
from tests.conftest import harness_cmd, launch_chromium, needs_browser

MARK = "document.documentElement.setAttribute('data-pwned','{}')"
NO_SLASH = (f"<img src=x onerror=alert(1)><img src=x onerror=\"{MARK.format('img')}\">"
            "\"><svg onload=alert(1)><a href=\"javascript:alert(1)\">x")
"""Payloads without `/`: they fit in a folder or file name (run ids, a profile file)."""
PAYLOAD = (f"</script><script>alert(1)</script><script>{MARK.format('script')}</script>"
           f"<b>bold</b>{NO_SLASH}")
PROFILE = f"hw{NO_SLASH}"
"""The hardware profile of the same-hardware runs: a profile file of that name exists."""
OTHER_PROFILE = f"hw{PAYLOAD}"
SCRIPT_BODIES = ["alert(1)", MARK.format("script")]


def p(field: str) -> str:
    """The payload for `field`: each field's own, so its text can be found on the page."""
    return f"{field}:{PAYLOAD}"


def _metric(name: str, center: float, unit: str = "tokens/s", kind: str = "speed",
            **tags) -> MetricRecord:
    samples = [center * (1 + 0.01 * i) for i in range(-3, 4)]
    return MetricRecord(name=name, unit=unit, higher_is_better=kind == "speed", kind=kind,
                        tags=tags, samples=samples, **summarize(samples))


def _cell(run_id: str, profile: str, backend: str, suite: str, metrics: list[MetricRecord],
          error: str | None = None, model: str = "model") -> CellResult:
    strings = {f: p(f) for f in ("model_sha256", "backend_version", "harness_version",
                                 "git_commit", "started_at", "finished_at")}
    return CellResult(
        run_id=run_id, cell_key=p("cell_key") + backend + suite + model,
        status="failed" if error else "ok", error=error, model=p(model), format=p("format"),
        artifact={"path": p("artifact_path"), "container": p("container"),
                  "quant_type": p("quant_type"), "bits_per_weight": p("bits_per_weight"),
                  "size_bytes": 5e7, "n_params": 1.35e8},
        backend=p(backend), backend_config={"threads": p("threads"), p("key"): p("value")},
        backend_request={"threads": p("threads")}, backend_settings={p("key"): p("setting")},
        suite=suite, suite_params={p("param"): p("value")}, seed=0,
        metrics=[] if error else metrics, profile_id=profile, duration_s=1.0, **strings)


def _cells(run_id: str, profile: str, speed: float, fail: bool, extra: bool) -> list:
    """Throughput and perplexity cells (the suites that draw charts) on two backends, a
    cell of an unknown suite (table only), and one that fails when `fail`."""
    tags = {p("tag_key"): p("tag_value")}
    out = [
        _cell(run_id, profile, backend, "throughput", [
            _metric("decode_tokens_per_s", speed * k), _metric("prefill_tokens_per_s", 9 * k),
            _metric("decode_tokens_per_s", speed * k, concurrency=p("concurrency"), **tags),
            _metric("ttft_ms", 50 * k, unit=p("unit"))])
        for k, backend in ((1.0, "backend"), (0.5, "backend2"))]
    out += [_cell(run_id, profile, b, "perplexity", [_metric("perplexity", 12.0, "ppl", "quality")])
            for b in ("backend", "backend2")]
    out.append(_cell(run_id, profile, "backend", p("suite"), [
        _metric(p("metric_name"), speed, unit=p("unit"), **tags)]))
    out.append(_cell(run_id, profile, "backend", p("suite"), [_metric(p("metric2"), speed)],
                     error=p("error") if fail else None, model="model2"))
    if extra:
        out.append(_cell(run_id, profile, "backend", p("suite"), [_metric("x", 1.0)],
                         model="model3"))
    return out


def _write_run(root: Path, folder: str, profile: str, day: int, speed: float,
               fail: bool = False, extra: bool = False, started: str | None = None) -> Path:
    run_id = f"202611{day:02d}T000000Z-{NO_SLASH}"
    run = root / folder / run_id
    run.mkdir(parents=True)
    manifest = {"run_id": run_id, "plan_name": p("plan_name"), "plan_file": p("plan_file"),
                "profile_id": profile, "harness_version": p("harness_version"),
                "git_commit": p("commit"),
                "started_at": started or f"2026-11-{day:02d}T00:00:00+00:00"}
    (run / "run.json").write_text(json.dumps(manifest))
    lines = [c.model_dump_json() for c in _cells(run_id, profile, speed, fail, extra)]
    (run / "cells.jsonl").write_text("".join(f"{line}\n" for line in lines))
    return run


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    """name -> page, each rendered through the CLI from the crafted results."""
    work = tmp_path_factory.mktemp("injection")
    results, profiles, out = work / "results", work / "profiles", work / "out"
    profiles.mkdir()
    (profiles / f"{PROFILE}.yaml").write_text("memory: {read_bandwidth_gb_s: 20.0}\n")
    base = _write_run(results, "hw", PROFILE, 1, 100.0)
    cand = _write_run(results, "hw", PROFILE, 2, 60.0, fail=True, extra=True)
    _write_run(results, "hw", PROFILE, 3, 90.0)
    other = _write_run(results, "other", OTHER_PROFILE, 4, 80.0)
    _write_run(results, "other", OTHER_PROFILE, 5, 70.0)
    _write_run(results, "other", OTHER_PROFILE, 6, 75.0, started=p("started_at"))
    common = ["--results-dir", str(results)]
    commands = {
        "report": ["report", str(results), "-o", str(out / "report.html"), "--title",
                   p("title"), "--profiles-dir", str(profiles)],
        "compare": ["compare", str(base), str(cand), "--html", str(out / "compare.html"),
                    "--all", "-t", "ttft_ms=median:3", *common],  # absolute: shows the unit
        "compare-hardware": ["compare", str(base), str(other), "--html",
                             str(out / "compare-hardware.html"), *common],
        "trend": ["trend", "-o", str(out / "trend.html"), "--profile", PROFILE, *common],
        "trend-other": ["trend", "-o", str(out / "trend-other.html"), "--profile",
                        OTHER_PROFILE, *common],
    }
    for ref in (base, other):
        proc = harness_cmd("baseline", "set", str(ref), *common)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    for name, args in commands.items():
        proc = harness_cmd(*args)
        assert proc.returncode in (0, 1), f"{name}: {proc.stdout}{proc.stderr}"  # 1: regressed
        assert "Traceback" not in proc.stderr, proc.stderr
    return {name: out / f"{name}.html" for name in commands}


PAGES = ["report", "compare", "compare-hardware", "trend", "trend-other"]
SHOWN = {
    "report": ["title", "model", "model2", "format", "backend", "backend2", "threads", "unit",
               "suite", "metric_name", "tag_key", "tag_value", "error", "backend_version",
               "git_commit"],
    "compare": ["model", "model2", "model3", "format", "backend", "suite", "metric_name",
                "tag_value", "unit"],
    "compare-hardware": ["model", "format", "backend", "suite", "metric_name"],
    "trend": ["model", "format", "backend", "suite", "metric_name", "tag_value", "unit"],
    "trend-other": ["model", "format", "backend", "suite", "metric_name"],
}
"""Per page, the fields whose stored text the page must show (as text, not markup)."""
HOVERED = {"report": ["model", "format", "backend", "threads"], "compare": ["model"],
           "compare-hardware": ["model"], "trend": ["commit"], "trend-other": ["commit"]}
"""Per page, fields whose text the charts' hover labels must show."""


@pytest.mark.parametrize("name", PAGES)
def test_no_payload_reaches_the_page_as_markup(pages: dict[str, Path], name: str) -> None:
    page = pages[name].read_text(encoding="utf-8")
    for raw in ("<script>alert(1)", "<img src=x", "<svg onload", "<b>bold", "href=\"java",
                "</script><script>document"):
        assert raw not in page, f"{raw!r} written unescaped into {name}"
    # the stored text, escaped: in HTML, and in plotly's JSON (which writes `/` as \u002f)
    assert any(f"&lt;{end}script&gt;&lt;script&gt;alert(1)" in page for end in ("/", "\\u002f"))
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


def _observer() -> str:
    """JS run before any page script: records every element a payload would create."""
    return """
window.__injected = [];
new MutationObserver(muts => { for (const m of muts) for (const n of m.addedNodes) {
  if (n.nodeType !== 1) continue;
  for (const e of [n, ...n.querySelectorAll('*')]) {
    const tag = e.tagName.toLowerCase();
    const on = [...e.attributes].some(a => a.name.startsWith('on'));
    const js = (e.getAttribute('href') || e.getAttribute('xlink:href') || '')
      .trim().toLowerCase().startsWith('javascript');
    const script = tag === 'script' && BODIES.includes(e.textContent.trim());
    if (tag === 'img' || on || js || script)
      window.__injected.push(e.outerHTML.slice(0, 200));
  }
}}).observe(document, {childList: true, subtree: true});
""".replace("BODIES", json.dumps(SCRIPT_BODIES))


HOVER_ALL = """
async () => {
  const seen = [];
  for (const gd of document.querySelectorAll('.plotly-graph-div'))
    for (let i = 0; i < gd.calcdata.length; i++)
      for (let j = 0; j < gd.calcdata[i].length; j++) {
        Plotly.Fx.hover(gd, [{curveNumber: i, pointNumber: j}]);
        await new Promise(r => setTimeout(r, 0));
        seen.push(...[...gd.querySelectorAll('.hoverlayer text')].map(t => t.textContent));
      }
  return seen;
}
"""
"""Draws the hover label of every point in turn; the labels' text."""


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("name", PAGES)
def test_nothing_runs_in_chromium_and_the_text_shows(pages: dict[str, Path], name: str) -> None:
    from playwright.sync_api import sync_playwright

    dialogs: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.add_init_script(_observer())
        page.goto(pages[name].as_uri())
        charts, hovered = page.eval_on_selector_all(".plotly-graph-div", "els => els.length"), []
        if charts:
            page.wait_for_function(
                "[...document.querySelectorAll('.plotly-graph-div')].every(e => e._fullLayout)")
            hovered = page.evaluate(HOVER_ALL)
        page.wait_for_timeout(500)  # an injected image's error event would come by now
        # what a reader sees once every collapsed section (the metric table) is opened
        page.evaluate("document.querySelectorAll('details').forEach(d => d.open = true)")
        body = page.evaluate("document.body.innerText")
        svg = page.evaluate("[...document.querySelectorAll('svg')].map(s => s.textContent)"
                            ".join(' ')")
        pwned = page.evaluate("document.documentElement.getAttribute('data-pwned')")
        injected = page.evaluate("window.__injected")
        browser.close()
    assert dialogs == [] and pwned is None and injected == []
    assert charts >= (2 if name.startswith("trend") else 1) and hovered
    for field in SHOWN[name]:
        assert p(field) in body or p(field) in svg, f"{field}'s text not shown on {name}"
    for field in HOVERED[name]:
        assert any(p(field) in text for text in hovered), f"{field} not in {name}'s hover text"
