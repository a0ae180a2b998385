"""`harness publish`: a static site from real runs on three hardware profiles (one of them a
run split over two profiles, as the Ray executor stores it), walked link by link."""

from __future__ import annotations

import json
import shutil
import statistics
from pathlib import Path

import pytest

from harness.results.query import set_baseline
from harness.results.store import read_manifest, write_manifest
from harness.site import urls
from tests.conftest import harness_cmd, launch_chromium, needs_browser, run_dirs
from tests.regression.test_cross_hardware import SUITE  # one source, a few tokens
from tests.site.pages import anchors, page_links, tables

pytestmark = pytest.mark.slow

RUN = ["run", "suite.yaml", "--results-dir", "results", "--profiles-dir", "hardware_profiles",
       "--no-report"]


def _split(run: Path, profile: str) -> Path:
    """The run as the Ray executor stores one spread over two machines: a second folder of
    the same run id under `profile`, both manifests naming the executor."""
    twin = run.parent.parent / profile / run.name
    twin.mkdir(parents=True)
    lines = [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]
    (twin / "cells.jsonl").write_text("".join(
        json.dumps({**line, "profile_id": profile}) + "\n" for line in lines))
    manifest = read_manifest(run)
    write_manifest(run, {**manifest, "executor": "ray"})
    write_manifest(twin, {**manifest, "executor": "ray", "profile_id": profile})
    shutil.copyfile(run.parent.parent.parent / "hardware_profiles" / f"{run.parent.name}.yaml",
                    run.parent.parent.parent / "hardware_profiles" / f"{profile}.yaml")
    return twin


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """Two real runs on machine-a (the first pinned as its baseline), one on machine-b
    that also ran on machine-c (one run id, two folders)."""
    work = tmp_path_factory.mktemp("publish")
    (work / "suite.yaml").write_text(SUITE)
    for profile in ("machine-a", "machine-a", "machine-b"):
        proc = harness_cmd(*RUN, cwd=work, env={"HARNESS_PROFILE_ID": profile})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    first, _, split = run_dirs(work / "results")
    set_baseline(work / "results", first)
    _split(split, "machine-c")
    return work


@pytest.fixture(scope="module")
def site(work: Path) -> Path:
    proc = harness_cmd("publish", "results", "-o", "site", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "3 runs on 3 hardware profiles" in proc.stdout
    return work / "site"


def _runs(work: Path) -> list[Path]:
    return sorted(work.glob("results/*/*/run.json"), key=lambda p: (p.parent.name, str(p)))


def test_every_link_of_every_page_resolves(site: Path) -> None:
    pages = sorted(site.rglob("*.html"))
    kinds = {p.relative_to(site).parts[0] for p in pages}
    assert kinds == {"index.html", "runs", "compare", "trends", "across", "models"}
    checked = 0
    for page in pages:
        assert len(page.read_bytes()) < 1_000_000, f"{page}: plotly.js inlined"
        for tag, target in page_links(page):
            assert "://" not in target and not target.startswith(("/", "//")), (page, target)
            path, _, fragment = target.partition("#")
            landing = page.parent / path if path else page
            assert landing.is_file(), f"{page}: {tag} {target}"
            assert not fragment or fragment in anchors(landing), f"{page}: {tag} {target}"
            checked += 1
    charted = [p for p in pages if "plotly-graph-div" in p.read_text()]
    assert charted and all(("script", urls.href(urls.PLOTLY, p.relative_to(site).as_posix()))
                           in page_links(p) for p in charted)
    assert checked > 3 * len(pages)


def test_index_lists_the_profiles_and_the_runs_with_their_counts(work: Path, site: Path) -> None:
    profiles, runs, plans, models = tables(site / "index.html")[:4]
    assert [row[0] for row in profiles[1:]] == ["machine-a", "machine-b", "machine-c"]
    assert all(row[3] != "no profile file" and row[4] for row in profiles[1:])  # CPU, cores
    head, *rows = runs
    assert head[:7] == ["started", "run", "plan", "profiles", "cells ok", "failed", "contended"]
    first, second, split = sorted({p.parent.name for p in _runs(work)})
    by_run = {row[1]: row for row in rows}
    assert set(by_run) == {first, second, split}
    assert by_run[split][3] == "machine-b, machine-c" and by_run[split][4] == "2"
    assert by_run[first][3:6] == ["machine-a", "1", "0"]
    assert by_run[second][7] == f"baseline {first}"
    assert plans[1][:2] == ["two-machines", "3"] and models[1][0] == "smollm2-135m"


def test_a_run_on_two_profiles_has_one_page_of_both_folders(work: Path, site: Path) -> None:
    split = max(p.parent.name for p in _runs(work))
    page = (site / urls.run_page(split)).read_text()
    assert "hardware profiles: machine-b, machine-c" in page
    assert len(list((site / "runs").glob("*.html"))) == 3


def test_cross_profile_page_lines_up_each_metric_with_ratios(work: Path, site: Path) -> None:
    machines, metrics = tables(site / urls.across_page("two-machines"))
    assert [row[0] for row in machines[1:]] == ["machine-a", "machine-b", "machine-c"]
    head, *rows = metrics
    assert head[-5:] == ["machine-a", "machine-b", "machine-c", "machine-b / machine-a",
                         "machine-c / machine-a"]
    decode = next(r for r in rows if r[4].startswith("decode_tokens_per_s"))
    medians = {}
    for run in _runs(work):
        cell = json.loads((run.parent / "cells.jsonl").read_text().splitlines()[0])
        metric = next(m for m in cell["metrics"] if m["name"] == "decode_tokens_per_s")
        medians[run.parent.parent.name] = statistics.median(metric["samples"])
    # a value marked † ran contended (this machine is shared): still shown, marked
    assert [float(v.rstrip("†")) for v in decode[-5:-2]] == pytest.approx(
        [medians[p] for p in ("machine-a", "machine-b", "machine-c")], rel=1e-3)
    assert decode[-2:] == [f"{medians[p] / medians['machine-a']:.2f}×"
                           for p in ("machine-b", "machine-c")]
    assert "prefill_tokens_per_s [prompt_tokens=16]" in [r[4] for r in rows]


def test_comparison_and_trend_pages(work: Path, site: Path) -> None:
    first, second = sorted(p.parent.name for p in _runs(work) if p.parent.parent.name
                           == "machine-a")
    compared = (site / urls.compare_page("machine-a", second)).read_text()
    assert f"vs baseline {first} on machine-a" in compared and "decode_tokens_per_s" in compared
    trend = (site / urls.trend_page("machine-a", "two-machines")).read_text()
    assert "2 runs of hardware profile machine-a" in trend and f"baseline: {first}" in trend


def test_merge_keeps_what_the_site_holds(work: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    for profile, merge in (("machine-a", []), ("machine-b", ["--merge"])):
        proc = harness_cmd("publish", str(work / "results" / profile), "-o", str(out), *merge)
        assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in (out / "data" / "results").iterdir()) == \
        ["baselines.json", "machine-a", "machine-b"]
    assert json.loads((out / "data/results/baselines.json").read_text())["machine-a"]
    assert (out / urls.across_page("two-machines")).is_file()
    proc = harness_cmd("publish", str(work / "results" / "machine-b"), "-o", str(out))
    assert proc.returncode == 0 and "1 run on 1 hardware profile," in proc.stdout
    assert not (out / urls.across_page("two-machines")).exists()


def test_bad_paths_are_one_line_usage_errors(work: Path, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    for path in (tmp_path / "empty", tmp_path / "missing", work / "suite.yaml"):
        proc = harness_cmd("publish", str(path), "-o", str(tmp_path / "site"))
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.count("\n") == 1 and str(path) in proc.stderr and "fix:" in \
            proc.stderr
    proc = harness_cmd("publish", "results", "-o", "hardware_profiles", cwd=work)
    assert proc.returncode == 2 and "not a site `harness publish` wrote" in proc.stderr
    assert not (tmp_path / "site").exists()


def test_nightly_publishes_into_a_site_other_runners_published_to(work: Path,
                                                                  tmp_path: Path) -> None:
    shutil.copy(work / "suite.yaml", tmp_path / "suite.yaml")
    shutil.copytree(work / "results" / "machine-b", tmp_path / "other" / "machine-b")
    proc = harness_cmd("publish", "other", "-o", "site", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = harness_cmd("nightly", "suite.yaml", "--results-dir", "results", "--profiles-dir",
                       "hardware_profiles", "--report-dir", "reports", "--publish", "site",
                       cwd=tmp_path, env={"HARNESS_PROFILE_ID": "machine-d"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "2 runs on 2 hardware profiles" in proc.stdout
    profiles = [row[0] for row in tables(tmp_path / "site" / "index.html")[0][1:]]
    assert profiles == ["machine-b", "machine-d"]
    assert (tmp_path / "site" / "data/hardware_profiles/machine-d.yaml").is_file()


@pytest.mark.browser
@needs_browser
def test_pages_render_offline_in_headless_chromium(work: Path, site: Path) -> None:
    from playwright.sync_api import sync_playwright

    split = max(p.parent.name for p in _runs(work))
    pages = [urls.INDEX, urls.run_page(split), urls.across_page("two-machines"),
             urls.trend_page("machine-a", "two-machines"), urls.model_page("smollm2-135m")]
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = launch_chromium(pw)
        page = browser.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.route("http*://**", lambda route: (errors.append(route.request.url),
                                                route.abort()))
        for path in pages:
            page.goto((site / path).as_uri())
            if path != urls.INDEX:
                page.wait_for_function("document.querySelectorAll('.main-svg').length")
        browser.close()
    assert errors == []
