"""`--executor ray` without `--address` (a one-node cluster of this machine) against the
local executor, and `hardware:` on a local run."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.conftest import ROOT, harness_cmd, run_dirs

pytest.importorskip("ray", reason="Ray is the `ray` extra: pip install -e '.[ray]'")


def medians(run_dir) -> dict[tuple[str, str, str], float]:
    out = {}
    for line in (run_dir / "cells.jsonl").read_text().splitlines():
        row = json.loads(line)
        assert row["status"] == "ok", row["error"]
        for metric in row["metrics"]:
            out[(row["format"], row["suite"], metric["name"])] = metric["median"]
    return out


def test_one_node_ray_run_measures_what_the_local_run_does(smoke_run, tmp_path):
    shutil.copytree(ROOT / "suites", tmp_path / "suites")
    proc = harness_cmd("run", "suites/smoke.yaml", "--executor", "ray", "--results-dir",
                       "results", "--profiles-dir", "profiles", "--report-dir", "reports",
                       cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (ray_run,) = run_dirs(tmp_path / "results")
    assert json.loads((ray_run / "run.json").read_text())["executor"] == "ray"
    assert ray_run.parent.name == smoke_run.parent.name  # this machine's profile
    local, ray = medians(smoke_run), medians(ray_run)
    assert local.keys() == ray.keys()
    for key in ("decode_tokens_per_s", "prefill_tokens_per_s", "peak_rss_bytes"):
        for fmt in ("source", "q4_0"):
            suite = "memory" if key == "peak_rss_bytes" else "throughput"
            ratio = ray[(fmt, suite, key)] / local[(fmt, suite, key)]
            assert 0.2 < ratio < 5, (fmt, key, ratio)  # same order: the same engine at work
    assert list((tmp_path / "reports").glob("*.html"))


def test_a_local_run_refuses_hardware_this_machine_is_not(tmp_path, smoke_run):
    text = (ROOT / "suites" / "smoke.yaml").read_text()
    suite = tmp_path / "gpu.yaml"
    suite.write_text(text + "hardware: [{gpu: true, min_memory_gb: 1}]\n")
    proc = harness_cmd("run", str(suite), "--results-dir", str(tmp_path / "results"),
                       "--profiles-dir", str(smoke_run.parents[2] / "hardware_profiles"),
                       cwd=tmp_path)
    assert proc.returncode == 2
    assert "gpu.yaml: hardware[0]: {gpu: True, min_memory_gb: 1.0} matches no node" \
        in proc.stderr
    assert not (tmp_path / "results").exists()


def test_a_misspelt_selector_names_the_field(tmp_path):
    suite = tmp_path / "bad.yaml"
    suite.write_text((ROOT / "suites" / "smoke.yaml").read_text()
                     + "hardware: [{gpus: 1}]\n")
    proc = harness_cmd("run", str(suite), "--dry-run", cwd=tmp_path)
    assert proc.returncode == 2
    assert "bad.yaml: hardware[0].gpus: Extra inputs are not permitted; fix: remove it; " \
        "allowed keys here: profile, gpu, gpu_name" in proc.stderr
