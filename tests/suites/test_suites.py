"""Throughput and memory suites, measured on the real engine (one smoke run, shared)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.results.frame import load_frame
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

SMOKE = yaml.safe_load((ROOT / "suites" / "smoke.yaml").read_text())


def _metric(frame, name: str, fmt: str):
    rows = frame[(frame["metric_name"] == name) & (frame["format"] == fmt)]
    assert len(rows) == 1, f"{name} {fmt}: {len(rows)} rows"
    return rows.iloc[0]


@pytest.mark.parametrize("fmt", SMOKE["formats"])
def test_throughput_has_positive_samples_of_the_declared_count(smoke_run: Path, fmt) -> None:
    frame = load_frame([smoke_run])
    reps = SMOKE["suites"]["throughput"]["repetitions"]
    for name in ("decode_tokens_per_s", "prefill_tokens_per_s", "ttft_ms"):
        row = _metric(frame, name, fmt)
        assert len(row["samples"]) == reps == row["n"]
        assert all(s > 0 for s in row["samples"])
        assert row["ci_low"] <= row["mean"] <= row["ci_high"]
    itl = _metric(frame, "itl_ms", fmt)
    assert len(itl["samples"]) == reps * (SMOKE["suites"]["throughput"]["gen_tokens"] - 1)


@pytest.mark.parametrize("fmt", SMOKE["formats"])
def test_peak_rss_exceeds_the_model_file(smoke_run: Path, fmt) -> None:
    frame = load_frame([smoke_run])
    size = _metric(frame, "model_file_bytes", fmt)["median"]
    peak = _metric(frame, "peak_rss_bytes", fmt)["median"]
    os_peak = _metric(frame, "os_max_rss_bytes", fmt)["median"]
    assert peak > size
    # the kernel's own maximum of this process agrees with the sampler
    assert 0.9 * peak <= os_peak <= 1.5 * peak
    assert _metric(frame, "load_time_s", fmt)["median"] > 0


def test_every_row_carries_what_a_fair_comparison_needs(smoke_run: Path) -> None:
    frame = load_frame([smoke_run])
    assert (frame["status"] == "ok").all()
    for col in ("cell_key", "model_sha256", "artifact_sha256", "backend_version", "profile_id",
                "harness_version", "git_commit", "started_at", "threads"):
        assert frame[col].notna().all() and (frame[col] != "").all(), col
    assert set(frame["threads"]) == {SMOKE["backends"]["llama_cpp"]["threads"]}
    assert frame["artifact_bits_per_weight"].gt(3).all()
