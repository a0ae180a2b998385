"""The summary a run report opens with, checked against real stored runs: the fastest and
the smallest format of each default model with their ratios and roofline share (computed
here again from the stored records, by metric name), the speed-quality Pareto front, the
flagged cells, and where the page puts the summary and the table of every metric."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from harness.models.defaults import GEMMA3_270M, SMOLLM2_135M
from harness.reports.frames import profile_bandwidths
from harness.reports.html import HtmlReporter
from harness.reports.summary import model_summary
from harness.results.frame import load_frame
from harness.results.store import RunStore, read_cells, read_manifest
from tests.conftest import harness_cmd

pytestmark = pytest.mark.slow


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "cells.jsonl").read_text().splitlines()]


def _bandwidth(run: Path, profiles: Path) -> float:
    """The bandwidth the roofline uses: the run's re-measured one, else its profile's."""
    manifest = json.loads((run / "run.json").read_text())
    measured = (manifest.get("preflight") or {}).get("read_bandwidth_gb_s")
    if measured:
        return measured
    profile = yaml.safe_load((profiles / f"{manifest['profile_id']}.yaml").read_text())
    return profile["memory"]["read_bandwidth_gb_s"]


def _expected(run: Path, profiles: Path) -> dict[str, dict]:
    """Per model, straight from the stored records: reference (most bits per weight),
    fastest (decode_tokens_per_s median), smallest (model_file_bytes median), the ratios
    of both to the reference and their share of bandwidth / weight bytes."""
    cells: dict[str, dict[str, dict]] = {}
    for record in _records(run):
        if record["status"] != "ok":
            continue
        one = cells.setdefault(record["model"], {}).setdefault(record["format"], {})
        one["artifact"] = record["artifact"]
        for metric in record["metrics"]:
            if metric["name"] in ("decode_tokens_per_s", "model_file_bytes"):
                one[metric["name"]] = metric["median"]
            if metric["name"] == "decode_tokens_per_s":
                one["ci"] = (metric["ci_low"], metric["ci_high"])
    bandwidth = _bandwidth(run, profiles)
    out = {}
    for model, formats in cells.items():
        ref = max(formats, key=lambda f: formats[f]["artifact"]["bits_per_weight"])
        fast = max(formats, key=lambda f: formats[f]["decode_tokens_per_s"])
        small = min(formats, key=lambda f: formats[f]["model_file_bytes"])

        def numbers(fmt: str, formats=formats, ref=ref) -> dict:
            one, art = formats[fmt], formats[fmt]["artifact"]
            weight_bytes = art["bits_per_weight"] * art["n_params"] / 8
            return {"format": fmt,
                    "speed_ratio": one["decode_tokens_per_s"] / formats[ref]["decode_tokens_per_s"],
                    "size_ratio": one["model_file_bytes"] / formats[ref]["model_file_bytes"],
                    "share": one["decode_tokens_per_s"] * weight_bytes / (bandwidth * 1e9)}

        low = formats[fast]["ci"][0]
        close = {f for f in formats if f != fast and formats[f]["ci"][1] >= low}
        out[model] = {"reference": ref, "fastest": numbers(fast), "smallest": numbers(small),
                      "within_noise": close}
    return out


@pytest.fixture(scope="module")
def demo_page(demo_run: Path, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("demo-report") / "demo.html"
    proc = harness_cmd("report", str(demo_run), "-o", str(out), "--profiles-dir",
                       str(demo_run.parents[2] / "hardware_profiles"))
    assert proc.returncode == 0, proc.stderr
    return out.read_text()


def test_summary_names_the_fastest_and_smallest_format_of_each_default_model(
        demo_run: Path, demo_page: str) -> None:
    profiles = demo_run.parents[2] / "hardware_profiles"
    frame = load_frame([demo_run])
    found = {s.model: s for s in model_summary(frame, profile_bandwidths(frame, profiles))}
    expected = _expected(demo_run, profiles)
    assert set(found) == set(expected) == {SMOLLM2_135M.name, GEMMA3_270M.name}
    summary = demo_page[demo_page.index("Which format to run"):demo_page.index("</table>")]
    for model, want in expected.items():
        got = found[model]
        assert got.speed_metric == "decode_tokens_per_s"
        assert [f for f in got.flags if f.status == "failed"] == []
        assert got.reference.format == want["reference"] == "f16"
        row = summary[summary.index(f"<b>{model}</b>"):]
        row = row[:row.index("</tr>")]
        assert set(got.within_noise) == {(f, "llama_cpp") for f in want["within_noise"]}
        assert ("within noise of: " in row) == bool(want["within_noise"])
        for which in ("fastest", "smallest"):
            pick, numbers = getattr(got, which), want[which]
            assert (pick.format, pick.backend) == (numbers["format"], "llama_cpp")
            assert pick.speed_ratio == pytest.approx(numbers["speed_ratio"])
            assert pick.size_ratio == pytest.approx(numbers["size_ratio"])
            assert pick.roofline_share == pytest.approx(numbers["share"])
            # the page says it: format, backend, both ratios to f16 and the roofline share
            assert f"<b>{numbers['format']}</b> · llama_cpp" in row
            for text in (f"{numbers['speed_ratio']:.2f}× f16", f"{numbers['size_ratio']:.2f}× f16",
                         f"{numbers['share']:.0%} of roofline"):
                assert text in row, (model, which, text, row)


def test_summary_comes_before_the_charts_and_the_table_is_closed(demo_page: str) -> None:
    summary = demo_page.index("<h2 id='summary'>Which format to run</h2>")
    assert summary < demo_page.index("plotly-graph-div")
    assert demo_page.index("<p class='meta'>") < summary  # right after the title and meta
    table = re.search(r"<details([^>]*)><summary>Every metric \((\d+) rows\)</summary>"
                      r"(.*?)</details>", demo_page, re.S)
    assert table and "open" not in table.group(1)
    rows = table.group(3).count("<tr>") - 1  # less the header row
    assert rows == int(table.group(2)) > 0
    assert "<table class='sortable' id='metrics'>" in table.group(3)
    assert "<input type='search' id='metrics-filter'" in table.group(3)
    assert "<script src=" not in demo_page  # still self-contained


def _flagged_run(smoke_run: Path, root: Path) -> Path:
    """The real smoke run stored again with its q4_0 throughput cell marked contended and
    its source memory cell failed (every number as measured)."""
    manifest = {**read_manifest(smoke_run), "run_id": "20261201T000000Z-flagged"}
    store = RunStore.create(root, manifest)
    for cell in read_cells(smoke_run / "cells.jsonl"):
        if (cell.format, cell.suite) == ("q4_0", "throughput"):
            cell = cell.model_copy(update={"health": {
                "contended": True, "reasons": ["other processes used 40 % of the CPU"]}})
        elif (cell.format, cell.suite) == ("source", "memory"):
            cell = cell.model_copy(update={"status": "failed", "metrics": [],
                                           "error": "killed by signal 9 (out of memory)"})
        store.append(cell)
    return store.dir


def test_failed_and_contended_cells_show_in_the_summary(smoke_run: Path, tmp_path: Path
                                                         ) -> None:
    run = _flagged_run(smoke_run, tmp_path / "results")
    # cells the machine itself flagged while the smoke run ran are flagged too
    busy = {(r["format"], r["suite"]) for r in _records(run)
            if r["status"] == "ok" and (r.get("health") or {}).get("contended")}
    assert ("q4_0", "throughput") in busy
    frame = load_frame([run])
    (summary,) = model_summary(frame, {})
    flags = {(f.format, f.suite, f.status) for f in summary.flags}
    assert flags == {("source", "memory", "failed")} | {(*c, "contended") for c in busy}
    for pick in (summary.fastest, summary.smallest):
        assert pick.contended == ((pick.format, "throughput") in busy)
    page = HtmlReporter(tmp_path / "no-profiles").render(frame, tmp_path / "r.html",
                                                         "r").read_text()
    start = page.index("<h2 id='summary'>")
    head = page[start:page.index("</table>", start)]
    assert start < page.index("plotly-graph-div")
    # one backend ran every cell: the flags name format and suite
    assert "<a class='failed' href='#failed-cells'>1 failed</a>" in head
    assert f"<a class='failed' href='#contended-cells'>{len(busy)} contended</a>" in head
    assert "source · memory" in head and "q4_0 · throughput" in head
    assert "killed by signal 9" in head  # why, in the tooltip
    assert "id='failed-cells'>Failed cells (1)" in page
    assert f"id='contended-cells'>Contended cells ({len(busy)})" in page


def _front(points: list[tuple[str, float, float]], higher: bool) -> set[str]:
    """Formats no other format beats on both speed and quality (brute force)."""
    sign = 1 if higher else -1

    def beats(a, b) -> bool:
        return (a[1] >= b[1] and sign * a[2] >= sign * b[2]
                and (a[1] > b[1] or sign * a[2] > sign * b[2]))

    return {p[0] for p in points if not any(beats(o, p) for o in points if o is not p)}


def test_pareto_front_of_each_quality_metric(demo_run: Path, quality_run: Path) -> None:
    frame = load_frame([demo_run, quality_run])
    (smol,) = [s for s in model_summary(frame, {}) if s.model == SMOLLM2_135M.name]
    speed = {r["format"]: m["median"] for r in _records(demo_run)
             if r["model"] == SMOLLM2_135M.name and r["status"] == "ok"
             for m in r["metrics"] if m["name"] == "decode_tokens_per_s"}
    checked = set()
    for record in _records(quality_run):
        for m in record["metrics"]:
            if m["kind"] != "quality" or "subject" in m["tags"] or record["status"] != "ok":
                continue
            label = _label(m)
            points = [(r["format"], speed[r["format"]], q["mean"])
                      for r in _records(quality_run) if r["format"] in speed
                      for q in r["metrics"] if _label(q) == label and q["mean"] is not None]
            fronts = [f for f in smol.fronts if any(_names(short, m) for short in f.metrics)]
            if len(points) < 2:
                assert fronts == []
                continue
            assert [{f for f, _ in front.points} for front in fronts] == [
                _front(points, m["higher_is_better"])], (label, fronts)
            checked.add(m["name"])
    assert {"perplexity", "mmlu_accuracy", "humaneval_pass_at_1"} <= checked


def _names(short: str, metric: dict) -> bool:
    """Whether the summary's `short` label (name plus the tags telling it from others of
    that name) names the stored `metric`."""
    name, _, tags = short.partition(" [")
    return name == metric["name"] and all(
        part in _label(metric) for part in tags.rstrip("]").split(", ") if part)


def _label(metric: dict) -> str:
    from harness.results.identity import metric_label

    return metric_label(metric["name"], metric["tags"])


def test_summary_of_no_results_is_empty() -> None:
    import pandas as pd

    assert model_summary(pd.DataFrame(), {}) == []


def test_a_run_on_several_profiles_draws_each_machines_bars_apart() -> None:
    import pandas as pd

    from harness.reports.figures import with_series

    rows = pd.DataFrame({"model": ["m", "m"], "backend": ["llama_cpp"] * 2,
                         "suite": ["throughput"] * 2, "profile_id": ["a", "b"]})
    assert list(with_series(rows)["series"]) == ["m · llama_cpp · a", "m · llama_cpp · b"]
    one = rows.assign(profile_id="a")
    assert list(with_series(one)["series"]) == ["m · llama_cpp"] * 2
