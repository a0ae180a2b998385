"""Build a site folder: gather the results into its data/, then write every page from there.

Run, comparison and trend pages come from the registered reporters (`html`,
`comparison-html`, `trend-html`), the same ones `harness run`, `harness compare` and
`harness trend` use; inside `page.in_site` they load the site's one plotly.min.js and carry
its navigation. The index, cross-profile and model pages are the site's own. A folder that
is neither empty nor a site this command wrote is refused (a rebuild replaces its pages),
and one publish at a time holds the folder (runners publishing into one shared folder take
turns).
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from harness.errors import UsageError
from harness.site import across, index, models, urls
from harness.site.catalog import Catalog, Folder, Run
from harness.site.gather import PROFILES, RESULTS, gather, run_folders
from harness.site.pages import Built, render

log = logging.getLogger(__name__)
DATA = "data"
MARKER = "site.json"
GENERATOR = "harness publish"
LOCK_FILE = ".publish.lock"


def publish(sources: Iterable[Path], out: Path, profile_dirs: Iterable[Path] = (),
            merge: bool = False, title: str = "Benchmark results") -> tuple[Built, Catalog]:
    """(Re)build the site in `out` from the results folders `sources` (with `merge`, on top
    of the results the site holds already)."""
    from harness.runner.locks import Lock

    found = {Path(source): run_folders(Path(source)) for source in sources}
    out = Path(out)
    check_out(out)
    out.mkdir(parents=True, exist_ok=True)
    lock = Lock(out / LOCK_FILE, GENERATOR, remove=True)
    lock.acquire()
    try:
        _mark(out, title)  # first: a build cut short leaves a folder the next one may reuse
        gathered = gather(found, [Path(p) for p in profile_dirs], out / DATA, merge)
        catalog = Catalog.load(out / DATA / RESULTS, out / DATA / PROFILES)
        built = build(catalog, out, title)
        built.skipped = [*gathered.skipped, *catalog.skipped]
        _index(catalog, built)
    finally:
        lock.release()
    return built, catalog


def build(catalog: Catalog, out: Path, title: str) -> Built:
    """Every page but the index, from `catalog` (a site's data/)."""
    for name in urls.PAGE_DIRS:
        shutil.rmtree(out / name, ignore_errors=True)
    _write_plotly(out)
    (out / ".nojekyll").touch()  # GitHub Pages: serve the files as they are
    built = Built(out, title)
    for folder in catalog.folders:
        _comparison(catalog, folder, built)
    for profile, plan in sorted({(f.profile_id, f.plan) for f in catalog.folders}):
        if len(catalog.history(profile, plan)) > 1:  # one run is no trend
            _trend(catalog, profile, plan, built)
    for plan in catalog.plans():
        latest = catalog.latest(plan)
        if len(latest) > 1:
            across.write(plan, latest, catalog, built)
    for run in catalog.runs():
        _run_page(catalog, run, built)
    models.write_all(catalog, built)
    return built


def check_out(out: Path) -> None:
    """Refuse a site folder that is neither new, empty, nor a site this command wrote."""
    if not out.exists():
        return
    if not out.is_dir():
        raise UsageError(f"{out}: not a folder; fix: give -o a folder for the site")
    try:
        marker = json.loads((out / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        marker = None
    ours = isinstance(marker, dict) and marker.get("generator") == GENERATOR
    # hidden entries (a checkout's .git, .nojekyll) are no content to protect
    if not ours and any(not p.name.startswith(".") for p in out.iterdir()):
        raise UsageError(f"{out}: not empty and not a site `harness publish` wrote (no "
                         f"{MARKER}); fix: give -o a new or empty folder (a rebuild replaces "
                         "a site's pages)")


def _write_plotly(out: Path) -> None:
    from plotly.offline import get_plotlyjs

    path, script = out / urls.PLOTLY, get_plotlyjs()
    if not path.is_file() or path.read_text(encoding="utf-8") != script:
        path.write_text(script, encoding="utf-8")


def _run_page(catalog: Catalog, run: Run, built: Built) -> None:
    from harness.reports.base import RunReporter, reporter
    from harness.results.frame import load_frame

    page = urls.run_page(run.run_id)
    links = []
    for folder in run.folders:
        where = f" on {folder.profile_id}" if len(run.folders) > 1 else ""
        if (key := (folder.profile_id, run.run_id)) in built.compared:
            target, ref, kind = built.compared[key]
            links.append((target, f"vs {kind} {ref}{where}"))
        if (key := (folder.profile_id, run.plan)) in built.trends:
            links.append((built.trends[key], f"trend of {run.plan} on {folder.profile_id}"))
    if run.plan in built.across:
        links.append((built.across[run.plan], f"{run.plan} across profiles"))
    frame = load_frame([f.dir for f in run.folders if (f.dir / "cells.jsonl").is_file()])
    html = reporter("html", RunReporter, catalog.profiles_dir)
    render(built, page, links, lambda path: html.render(frame, path, f"{run.plan}: {run.run_id}"))
    built.runs[run.run_id] = page


def _comparison(catalog: Catalog, folder: Folder, built: Built) -> None:
    from harness.regression.compare import compare_runs
    from harness.regression.nightly import noise_floor
    from harness.reports.base import ComparisonReporter, reporter

    found = catalog.reference(folder)
    if found is None or not folder.cells:
        return
    ref, kind = found
    noise = noise_floor(catalog.profiles_dir, folder.profile_id, folder.plan, folder.manifest)
    try:
        comparison = compare_runs(list(ref.cells), list(folder.cells),
                                  _config(folder), noise)
    except UsageError as exc:  # e.g. the plan changed and the runs share no cell
        log.info("no comparison page for %s: %s", folder.dir, exc)
        return
    page = urls.compare_page(folder.profile_id, folder.run_id)
    links = [(urls.run_page(folder.run_id), f"run {folder.run_id}"),
             (urls.run_page(ref.run_id), f"{kind} {ref.run_id}"),
             (urls.trend_page(folder.profile_id, folder.plan), "trend")]
    title = f"{folder.run_id} vs {kind} {ref.run_id} on {folder.profile_id}"
    html = reporter("comparison-html", ComparisonReporter, catalog.profiles_dir)
    render(built, page, links, lambda path: html.render(comparison, path, title))
    built.compared[(folder.profile_id, folder.run_id)] = (page, ref.run_id, kind)


def _config(folder: Folder):
    """The regression thresholds the run stored (its suite file's `regression:`)."""
    from pydantic import ValidationError

    from harness.thresholds import RegressionConfig

    try:
        return RegressionConfig.model_validate(folder.manifest.get("regression") or {})
    except ValidationError as exc:
        log.warning("%s: regression settings not usable (%s); comparing with the defaults",
                    folder.dir, str(exc).splitlines()[0])
        return RegressionConfig()


def _trend(catalog: Catalog, profile: str, plan: str, built: Built) -> None:
    from harness.regression.trend import build_trend
    from harness.reports.base import TrendReporter, reporter

    page = urls.trend_page(profile, plan)
    try:
        trend = build_trend(catalog.root, profile, catalog.profiles_dir, plan_name=plan)
    except UsageError as exc:  # a damaged run of the plan (named in the index)
        log.warning("no trend page of %s on %s: %s", plan, profile, exc)
        return
    html = reporter("trend-html", TrendReporter, catalog.profiles_dir)
    links = [(urls.run_page(f.run_id), f"latest run {f.run_id}")
             for f in catalog.history(profile, plan)[-1:]]
    render(built, page, links, lambda path: html.render(trend, path,
                                                         f"Trend: {plan} on {profile}"))
    built.trends[(profile, plan)] = page


def _index(catalog: Catalog, built: Built) -> None:
    index.write(catalog, built)
    _mark(built.out, built.title, runs=len(built.runs))


def _mark(out: Path, title: str, **extra) -> None:
    """`site.json`: this folder is a site `harness publish` wrote (and may rebuild)."""
    from harness import __version__

    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    (out / MARKER).write_text(json.dumps(
        {"generator": GENERATOR, "harness_version": __version__, "built_at": stamp,
         "title": title, **extra}, indent=2), encoding="utf-8")
