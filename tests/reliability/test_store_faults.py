"""Fault table of the result store and the runner (issue 10, findings 1-6): damaged
results files, damaged manifests, run-folder states and `harness run` argument
combinations. A bad input ends in one line naming the file or field and the fix (exit
2, no traceback); for every store case, every finished cell still reads back."""

from __future__ import annotations

import json
import logging
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.errors import UsageError
from harness.results.query import list_runs
from harness.results.store import (
    ATTEMPTS_FILE,
    QUARANTINE_FILE,
    RunStore,
    StoreWriteError,
    read_cells,
    read_manifest,
)
from harness.runner.locks import MachineLock, lock_run
from harness.schema import CellResult
from harness.stats import summarize
from tests.conftest import ROOT, plugin_env, run_dirs
from tests.reliability.conftest import assert_one_line_error

PROFILE = "p1"


def _cell(key: str, status: str = "ok", samples=(1.0, 2.0, 3.0)) -> CellResult:
    metric = {"name": "tick_s", "unit": "s", "higher_is_better": False, "kind": "latency",
              "tags": {"note": "é ü 漢"}, "samples": list(samples), **summarize(list(samples))}
    return CellResult(
        run_id="r", cell_key=key, status=status, error=None if status == "ok" else "boom",
        model="m", model_sha256="0" * 64, format="source", backend="faulty",
        backend_version="0.1", backend_config={"threads": 2}, suite="tick", suite_params={},
        seed=0, metrics=[metric] if status == "ok" else [], profile_id=PROFILE,
        harness_version="0.1.0", git_commit="abc", started_at="t0", finished_at="t1",
        duration_s=1.0)


def _store(root: Path, run_id: str = "20260101T000000Z-plan") -> RunStore:
    store = RunStore.create(root, {"run_id": run_id, "plan_name": "plan", "profile_id": PROFILE})
    for key in ("a", "b", "c"):
        store.append(_cell(key))
    return store


def _keys(store: RunStore) -> list[str]:
    return [c.cell_key for c in store.results()]


_GOOD = _cell("x").model_dump_json().encode()
_DAMAGE = {
    # id: (bytes appended after the three good cells, a damaged complete line?)
    "torn-last-line": (_GOOD[:80], False),
    "torn-inside-multibyte-char": (_GOOD[:_GOOD.index("é".encode()) + 1], False),
    "torn-after-one-byte": (b"{", False),
    "garbage-line": (b"not json at all\n", True),
    "invalid-utf8-line": (b"\xff\xfe\xfd\n", True),
    "nul-bytes-line": (b"\x00" * 64 + b"\n", True),
    "json-array-line": (b"[1, 2, 3]\n", True),
    "json-null-line": (b"null\n", True),
    "json-string-line": (b'"a string"\n', True),
    "line-missing-cell-key": (json.dumps({k: v for k, v in json.loads(_GOOD).items()
                                          if k != "cell_key"}).encode() + b"\n", True),
    "line-with-unknown-field": (_GOOD[:-1] + b',"extra":1}\n', True),
    "line-with-bad-status": (_GOOD.replace(b'"status":"ok"', b'"status":"done"') + b"\n",
                             True),
    "nan-stored-as-null": (_GOOD.replace(b'"samples":[1.0,2.0,3.0]', b'"samples":[null]')
                           + b"\n", True),
    "samples-as-string": (_GOOD.replace(b'"samples":[1.0,2.0,3.0]', b'"samples":"1,2"')
                          + b"\n", True),
    "deeply-nested-line": (b"[" * 5000 + b"]" * 5000 + b"\n", True),
    "megabyte-garbage-line": (b"x" * (1 << 20) + b"\n", True),
    "second-line-of-one-cell": (_cell("b").model_dump_json().encode() + b"\n", False),
}


@pytest.mark.parametrize("damage", list(_DAMAGE), ids=list(_DAMAGE))
def test_damaged_results_file_is_named_then_quarantined(tmp_path, damage, caplog) -> None:
    store = _store(tmp_path)
    tail, complete = _DAMAGE[damage]
    with open(store.cells_path, "ab") as handle:
        handle.write(tail)
    if complete:  # reading for a report names the line and the fix; nothing is dropped
        with pytest.raises(UsageError, match=r"cells\.jsonl:4: not a result line .*fix: "):
            store.results()
    else:
        with caplog.at_level(logging.WARNING):
            keys = _keys(store)
        assert keys[:3] == ["a", "b", "c"]
    warnings = store.repair()
    assert len(warnings) == 1 and "cells.jsonl:4" in warnings[0] and QUARANTINE_FILE in warnings[0]
    assert _keys(store) == ["a", "b", "c"]  # every finished cell reads back
    assert (store.dir / QUARANTINE_FILE).read_bytes().rstrip(b"\n") == tail.rstrip(b"\n")
    store.append(_cell("d"))  # and appending after the repair gives a whole file
    assert _keys(store) == ["a", "b", "c", "d"] and store.repair() == []


_HARMLESS = {
    "blank-lines": b"\n\n",
    "crlf-line-ending": _cell("d").model_dump_json().encode() + b"\r\n",
    "whole-last-line-without-newline": _cell("d").model_dump_json().encode(),
}


@pytest.mark.parametrize("extra", list(_HARMLESS), ids=list(_HARMLESS))
def test_harmless_oddities_lose_nothing(tmp_path, extra) -> None:
    store = _store(tmp_path)
    extra = _HARMLESS[extra]
    with open(store.cells_path, "ab") as handle:
        handle.write(extra)
    want = ["a", "b", "c"] + (["d"] if b"cell_key" in extra else [])
    assert _keys(store) == want
    store.repair()
    store.append(_cell("e"))
    assert _keys(store) == [*want, "e"]
    assert not (store.dir / QUARANTINE_FILE).exists()


def test_byte_order_mark_is_not_damage(tmp_path) -> None:
    store = _store(tmp_path)
    store.cells_path.write_bytes(b"\xef\xbb\xbf" + store.cells_path.read_bytes())
    assert _keys(store) == ["a", "b", "c"] and store.repair() == []


def test_finding1_nan_and_infinities_round_trip_exactly(tmp_path) -> None:
    store = _store(tmp_path)
    weird = [float("nan"), float("inf"), -float("inf"), 0.1, -0.0, 1e308]
    cell = _cell("w", samples=weird)
    cell.metrics[0].stderr = float("nan")
    store.append(cell)
    store.append(_cell("z"))  # a NaN line in the middle must not damage the file
    back = {c.cell_key: c for c in store.results()}
    assert list(back) == ["a", "b", "c", "w", "z"]
    got = back["w"].metrics[0]
    assert math.isnan(got.samples[0]) and got.samples[1:3] == [math.inf, -math.inf]
    assert got.samples[3:] == [0.1, -0.0, 1e308] and math.isnan(got.stderr)
    assert back["w"].model_dump_json() == cell.model_dump_json()


def test_finding3_file_size_limit_during_append_keeps_every_earlier_cell(tmp_path) -> None:
    """RLIMIT_FSIZE, SIGXFSZ ignored as the runner does: one line, no fragment left."""
    store = _store(tmp_path)
    size = store.cells_path.stat().st_size
    code = f"""
import resource, signal, sys
from harness.results.store import RunStore
from tests.reliability.test_store_faults import _cell
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, ({size + 100}, {size + 100}))
try:
    RunStore({str(store.dir)!r}).append(_cell("big", samples=[1.0] * 500))
except Exception as exc:
    print(type(exc).__name__, exc)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.stdout.startswith("StoreWriteError"), out.stdout + out.stderr
    assert "cells.jsonl" in out.stdout and "fix: free disk space" in out.stdout
    assert "--resume" in out.stdout and "Traceback" not in out.stderr
    assert store.cells_path.stat().st_size == size  # no fragment left behind
    assert _keys(store) == ["a", "b", "c"]


_MANIFESTS = {
    "manifest-truncated": b'{"run_id": "x", "plan_na',
    "manifest-empty": b"",
    "manifest-json-array": b"[]",
    "manifest-json-number": b"42",
    "manifest-not-utf8": b'{"run_id": "\xff"}',
    "manifest-nul-bytes": b"\x00" * 100,
}


@pytest.mark.parametrize("content", list(_MANIFESTS), ids=list(_MANIFESTS))
def test_damaged_manifest_is_skipped_with_a_warning_and_named(tmp_path, content,
                                                             caplog) -> None:
    good = _store(tmp_path, "20260101T000000Z-plan")
    bad = _store(tmp_path, "20260102T000000Z-plan")
    (bad.dir / "run.json").write_bytes(_MANIFESTS[content])
    with caplog.at_level(logging.WARNING):
        runs = list_runs(tmp_path)
    assert [r.dir for r in runs] == [good.dir]
    assert str(bad.dir / "run.json") in caplog.text
    with pytest.raises(UsageError, match=r"run\.json: not .*manifest.*fix:"):
        read_manifest(bad.dir)
    assert _keys(bad) == ["a", "b", "c"] and _keys(good) == ["a", "b", "c"]


def test_finding4_manifest_write_is_atomic(tmp_path, monkeypatch) -> None:
    """A crash while writing run.json leaves the old one whole."""
    store = _store(tmp_path)
    from harness.results import store as store_module

    def boom(*_a, **_k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(store_module.os, "fsync", boom)
    with pytest.raises(StoreWriteError, match="run.json.*No space left.*fix: free disk"):
        store_module.write_manifest(store.dir, {"run_id": "changed"})
    assert read_manifest(store.dir)["plan_name"] == "plan"
    assert not list(store.dir.glob(".run.json*"))


def test_finding5_same_second_starts_get_fresh_run_ids(tmp_path) -> None:
    manifest = {"run_id": "20260101T000000Z-plan", "plan_name": "plan", "profile_id": PROFILE}
    dirs = [RunStore.create(tmp_path, manifest).dir for _ in range(3)]
    assert [d.name for d in dirs] == ["20260101T000000Z-plan", "20260101T000000Z-plan-2",
                                      "20260101T000000Z-plan-3"]
    assert [read_manifest(d)["run_id"] for d in dirs] == [d.name for d in dirs]


def test_run_lock_refuses_a_second_writer_and_leaves_no_file(tmp_path) -> None:
    store = _store(tmp_path)
    held = lock_run(store.dir, store.run_id)
    with pytest.raises(UsageError, match=rf"run {store.run_id} .*pid {os.getpid()}.*fix:"):
        lock_run(store.dir, store.run_id)
    held.release()
    lock_run(store.dir, store.run_id).release()
    assert sorted(p.name for p in store.dir.iterdir()) == ["cells.jsonl", "run.json"]


def test_finding6_supersede_keeps_each_key_once(tmp_path) -> None:
    store = _store(tmp_path)
    store.append(_cell("f", "failed"))
    store.supersede(_cell("f"))
    cells = store.results()
    assert [c.cell_key for c in cells] == ["a", "b", "c", "f"] and cells[-1].status == "ok"
    attempts = list(read_cells(store.dir / ATTEMPTS_FILE))
    assert [(c.cell_key, c.status) for c in attempts] == [("f", "failed")]


def _plan(tmp_path: Path, smol, name: str = "plan", mode: str = "ok", models: int = 1,
          sleep_s: float = 0) -> Path:
    path, _ = smol
    names = ", ".join(f"{{name: m{i}, path: {path}}}" for i in range(models))
    suite = tmp_path / f"{name}.yaml"
    suite.write_text(f"name: {name}\nmodels: [{names}]\n"
                     f"backends: {{faulty: {{mode: {mode}, sleep_s: {sleep_s}}}}}\n"
                     "suites: {tick: }\ntimeout_s: 600\n")
    return suite


def _env(tmp_path: Path) -> dict:
    # a wide console keeps each message on one line
    return {**plugin_env(), "HARNESS_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "500"}


def _run(tmp_path: Path, suite: Path, *args: str, limit: int | None = None,
         **kw) -> subprocess.CompletedProcess:
    def preexec():
        if limit:
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    cmd = ["harness", "run", str(suite), "--results-dir", str(tmp_path / "r"),
           "--profiles-dir", str(tmp_path / "p"), "--no-report", *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **_env(tmp_path)}, preexec_fn=preexec, **kw)


def _only_run(tmp_path: Path) -> Path:
    runs = run_dirs(tmp_path / "r")
    assert len(runs) == 1, runs
    return runs[0]


_ARGS = {
    "run-id-without-resume": (["--run-id", "x"], ("--run-id", "--resume")),
    "retry-failed-without-resume": (["--retry-failed"], ("--retry-failed", "--resume")),
    "resume-with-nothing-to-resume": (["--resume"], ("--resume", "no run")),
    "resume-unknown-run-id": (["--resume", "--run-id", "nope"], ("nope",)),
    "results-dir-is-a-file": (["--results-dir", "{tmp}/file"], ("file", "--results-dir")),
}


@pytest.mark.parametrize("args", list(_ARGS), ids=list(_ARGS))
def test_bad_run_arguments_are_one_line(tmp_path, smol, args) -> None:
    argv, needles = _ARGS[args]
    (tmp_path / "file").write_text("x")
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    assert_one_line_error(_run(tmp_path, _plan(tmp_path, smol), *argv), *needles)


def test_resume_of_another_plans_run_or_a_damaged_manifest_is_one_line(tmp_path,
                                                                       smol) -> None:
    suite = _plan(tmp_path, smol)
    assert _run(tmp_path, suite).returncode == 0
    run = _only_run(tmp_path)
    other = _run(tmp_path, _plan(tmp_path, smol, "other"), "--resume", "--run-id", run.name)
    assert_one_line_error(other, "plan 'plan'", "other")
    (run / "run.json").write_text('{"run_id": ')
    assert_one_line_error(_run(tmp_path, suite, "--resume"), str(run / "run.json"))
    assert_one_line_error(_run(tmp_path, suite, "--resume", "--run-id", run.name), "run.json")
    assert len(list(read_cells(run / "cells.jsonl"))) == 1


def test_finding3_cli_disk_full_is_one_line_and_resume_finishes(tmp_path, smol) -> None:
    suite = _plan(tmp_path, smol, models=2)
    assert _run(tmp_path, suite, "--model", "m0").returncode == 0
    cells = _only_run(tmp_path) / "cells.jsonl"
    size = cells.stat().st_size
    proc = _run(tmp_path, suite, "--resume", limit=size + size // 2)  # room for half a cell
    assert_one_line_error(proc, str(cells), "free disk space", "--resume")
    assert cells.stat().st_size == size and len(list(read_cells(cells))) == 1
    done = _run(tmp_path, suite, "--resume")
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(c.model for c in read_cells(cells)) == ["m0", "m1"]


def test_finding3_garbled_child_result_is_a_failed_cell(tmp_path, smol) -> None:
    proc = _run(tmp_path, _plan(tmp_path, smol, mode="garbled"))
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    (cell,) = read_cells(_only_run(tmp_path) / "cells.jsonl")
    assert cell.status == "failed" and "cut off or unreadable" in cell.error


def test_finding1_cli_nan_samples_are_stored_and_read_back(tmp_path, smol) -> None:
    proc = _run(tmp_path, _plan(tmp_path, smol, mode="nan"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (cell,) = read_cells(_only_run(tmp_path) / "cells.jsonl")
    samples = cell.metrics[0].samples
    assert math.isnan(samples[0]) and samples[1:] == [math.inf, -math.inf, 1.5]


def test_finding2_resume_quarantines_a_torn_line_and_says_so(tmp_path, smol) -> None:
    suite = _plan(tmp_path, smol, models=2)
    assert _run(tmp_path, suite, "--model", "m0").returncode == 0
    cells = _only_run(tmp_path) / "cells.jsonl"
    with open(cells, "ab") as handle:
        handle.write(cells.read_bytes()[:100])
    proc = _run(tmp_path, suite, "--resume")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "warning:" in proc.stdout and QUARANTINE_FILE in proc.stdout
    assert sorted(c.model for c in read_cells(cells)) == ["m0", "m1"]


def test_finding6_retry_failed_runs_failed_cells_again_once(tmp_path, smol) -> None:
    suite = _plan(tmp_path, smol, mode="raise")
    assert _run(tmp_path, suite).returncode == 1
    kept = _run(tmp_path, suite, "--resume")
    assert "1 of them failed; --retry-failed runs them again" in kept.stdout, kept.stdout
    retried = _run(tmp_path, suite, "--resume", "--retry-failed")
    assert "1 failed cells to run again" in retried.stdout, retried.stdout
    run = _only_run(tmp_path)
    cells = list(read_cells(run / "cells.jsonl"))
    assert len(cells) == 1 and cells[0].status == "failed"
    assert len(list(read_cells(run / ATTEMPTS_FILE))) == 1


def test_finding5_second_resume_of_one_run_is_refused(tmp_path, smol) -> None:
    suite = _plan(tmp_path, smol)
    assert _run(tmp_path, suite).returncode == 0
    run = _only_run(tmp_path)
    held = lock_run(run, run.name)
    try:
        proc = _run(tmp_path, suite, "--resume")
    finally:
        held.release()
    assert_one_line_error(proc, run.name, f"pid {os.getpid()}")


@pytest.mark.parametrize("no_lock", [False, True], ids=["machine-lock-waits",
                                                        "no-lock-runs-beside"])
def test_finding5_machine_lock(tmp_path, smol, monkeypatch, no_lock) -> None:
    monkeypatch.setenv("HARNESS_CACHE_DIR", str(tmp_path / "cache"))
    said = []
    with MachineLock("someone-else", said.append):
        cmd = ["harness", "run", str(_plan(tmp_path, smol)), "--results-dir",
               str(tmp_path / "r"), "--profiles-dir", str(tmp_path / "p"), "--no-report",
               *(["--no-lock"] if no_lock else [])]
        proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, **_env(tmp_path)},
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        line = ""
        if not no_lock:
            while "waiting for run" not in line:
                line = proc.stdout.readline()
                assert line or proc.poll() is None, "the run ended without waiting"
            assert "someone-else" in line and "--no-lock" in line
            time.sleep(1)
            assert proc.poll() is None, "the run went on while the lock was held"
        else:
            proc.wait(timeout=600)
    out = line + proc.communicate(timeout=600)[0]
    assert proc.returncode == 0, out
    assert read_manifest(_only_run(tmp_path))["machine_lock"] is (not no_lock) and not said
