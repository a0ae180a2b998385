"""The site's front page: the hardware profiles, every run (newest first) with its cell
counts and links, the plans with their trends and cross-profile pages, and the models."""

from __future__ import annotations

from datetime import datetime, timezone

from harness.reports.escaping import text
from harness.reports.page import write_page
from harness.site import urls
from harness.site.catalog import Catalog, Run
from harness.site.markup import HARDWARE_COLUMNS, hardware, link, table
from harness.site.pages import Built, render


def write(catalog: Catalog, built: Built) -> None:
    runs = catalog.runs()
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    profiles = len(catalog.profiles())
    meta = (f"<p class='meta'>{len(runs)} run{'s' * (len(runs) != 1)} on {profiles} hardware "
            f"profile{'s' * (profiles != 1)} · generated {stamp}. The results these pages "
            "show are in <code>data/results/</code> (a results folder: <code>harness "
            "report</code>, <code>harness compare</code> and <code>harness trend</code> read "
            "it) and the hardware profiles in <code>data/hardware_profiles/</code>.</p>")
    sections = [meta, "<h2 id='profiles'>Hardware profiles</h2>", _profiles(catalog, runs),
                "<h2 id='runs'>Runs</h2>", _runs(runs, built),
                "<h2 id='plans'>Plans</h2>", _plans(catalog, built),
                "<h2 id='models'>Models</h2>", _models(catalog, built), _skipped(built)]
    render(built, urls.INDEX, [], lambda path: write_page(path, built.title, [], sections))


def _profiles(catalog: Catalog, runs: list[Run]) -> str:
    rows = []
    for profile in catalog.profiles():
        mine = [r for r in runs if profile in r.profiles]
        latest = mine[-1] if mine else None
        rows.append([
            f"<b>{text(profile)}</b>", str(len(mine)),
            link(urls.run_page(latest.run_id), latest.run_id) if latest else "–",
            *hardware(catalog.hardware(profile))])
    return table([("profile", True), ("runs", False), ("latest run", True),
                  *HARDWARE_COLUMNS], rows)


def _runs(runs: list[Run], built: Built) -> str:
    rows = []
    for run in reversed(runs):
        counts = run.counts()
        compared = [link(page, f"{kind} {ref}" + (f" ({p})" if len(run.profiles) > 1 else ""))
                    for p in run.profiles
                    if (found := built.compared.get((p, run.run_id)))
                    for page, ref, kind in [found]]
        trends = [link(built.trends[(p, run.plan)], p) for p in run.profiles
                  if (p, run.plan) in built.trends]
        failed = counts["failed"]
        rows.append([
            text(run.started or "–"), link(built.runs[run.run_id], run.run_id),
            text(run.plan), text(", ".join(run.profiles)), str(counts["ok"]),
            f"<span class='failed'>{failed}</span>" if failed else "0",
            str(counts["contended"]), "<br>".join(compared) or "–",
            " ".join(trends) or "–"])
    return table([("started", True), ("run", True), ("plan", True), ("profiles", True),
                  ("cells ok", False), ("failed", False), ("contended", False),
                  ("compared with", True), ("trend", True)], rows)


def _plans(catalog: Catalog, built: Built) -> str:
    rows = []
    for plan in catalog.plans():
        runs = {f.run_id for f in catalog.folders if f.plan == plan}
        trends = [link(page, profile) for (profile, p), page in sorted(built.trends.items())
                  if p == plan]
        across = link(built.across[plan], "side by side") if plan in built.across else \
            "one profile"
        rows.append([text(plan), str(len(runs)), " ".join(trends) or "–", across])
    return table([("plan", True), ("runs", False), ("trend on each profile", True),
                  ("latest run on each profile", True)], rows)


def _models(catalog: Catalog, built: Built) -> str:
    rows = []
    for model, page in sorted(built.models.items()):
        profiles = sorted({f.profile_id for f in catalog.folders
                           if any(c.model == model for c in f.cells)})
        rows.append([link(page, model), text(", ".join(profiles))])
    return table([("model", True), ("measured on", True)], rows) if rows else \
        "<p>No model measured yet.</p>"


def _skipped(built: Built) -> str:
    if not built.skipped:
        return ""
    items = "".join(f"<li>{text(why)}</li>" for why in built.skipped)
    return (f"<h2 class='failed'>Left out ({len(built.skipped)})</h2><p>These run folders "
            f"could not be read; their pages are missing.</p><ul class='failed'>{items}</ul>")
