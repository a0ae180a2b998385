"""The store: append-only JSON lines, one schema, one DataFrame."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.results.frame import load_frame
from harness.results.store import RunStore, read_cells
from harness.schema import CellResult
from harness.stats import summarize


def _result(key: str, status: str = "ok") -> CellResult:
    metric = {"name": "decode_tokens_per_s", "unit": "tokens/s", "higher_is_better": True,
              "tags": {"gen_tokens": 8}, "samples": [1.0, 2.0, 3.0], **summarize([1.0, 2.0, 3.0])}
    return CellResult(
        run_id="r1", cell_key=key, status=status, error=None if status == "ok" else "boom",
        model="m", model_sha256="0" * 64, format="q4_0", backend="llama_cpp",
        backend_version="0.3.36", backend_config={"threads": 2}, suite="throughput",
        suite_params={}, seed=0, metrics=[metric] if status == "ok" else [], profile_id="p",
        harness_version="0.1.0", git_commit="abc", started_at="t0", finished_at="t1",
        duration_s=1.0,
    )


def test_append_and_load_roundtrip(tmp_path: Path) -> None:
    store = RunStore.create(tmp_path, {"run_id": "r1", "plan_name": "t", "profile_id": "p"})
    assert store.dir == tmp_path / "p" / "r1"
    store.append(_result("a"))
    store.append(_result("b", "failed"))
    assert store.finished_keys() == {"a", "b"}
    frame = load_frame([store.dir])
    assert len(frame) == 2
    ok = frame[frame["status"] == "ok"].iloc[0]
    assert ok["metric_label"] == "decode_tokens_per_s [gen_tokens=8]"
    assert list(ok["samples"]) == [1.0, 2.0, 3.0] and ok["median"] == 2.0
    assert frame[frame["status"] == "failed"].iloc[0]["error"] == "boom"


def test_line_cut_short_by_a_kill_is_dropped_but_damage_elsewhere_is_an_error(tmp_path) -> None:
    path = tmp_path / "cells.jsonl"
    good = _result("a").model_dump_json()
    path.write_text(good + "\n" + good[:50])
    assert [c.cell_key for c in read_cells(path)] == ["a"]
    path.write_text(good[:50] + "\n" + good + "\n")
    with pytest.raises(UsageError, match="cells.jsonl:1"):
        list(read_cells(path))


def test_unknown_results_path_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no results here"):
        load_frame([tmp_path / "nothing"])
