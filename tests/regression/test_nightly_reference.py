"""`harness nightly` with a reference install beside it, end to end on the real llama.cpp
backend: the timed suite runs in lockstep beside the reference's interpreter, the other
suites once after it into the same run, and speed is judged as the ratio to the reference.

As in test_nightly, every night's worker runs through the duty-cycle wrapper (the same
`python:` setting each night); the reference runs the plain interpreter. On the slowed
night the wrapper stops the night's worker 60 % of the time, so its ratio to the
reference falls by about 60 %, whatever the host does meanwhile.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from harness.results.query import load_run
from harness.results.store import read_manifest
from tests.conftest import run_dirs
from tests.regression.test_nightly import WRAPPER, _harness, _rows

pytestmark = pytest.mark.slow

SUITE = """\
name: nightly-ref
models: [smollm2-135m]
formats: [source]
backends:
  llama_cpp: {{threads: 1, n_ctx: 128, python: {wrapper}}}
suites:
  throughput: {{prompt_lengths: [16], gen_tokens: 16, repetitions: 3, ttft_prompt_tokens: 0}}
  memory: {{prompt_tokens: 8, gen_tokens: 2}}
regression:
  thresholds: {{default: "median:30%"}}
  reference: {{python: {python}, processes: 3, suites: [throughput]}}
health: {{max_other_cpu: 0.6, max_steal: 0.5}}
"""


@pytest.fixture(scope="module")
def nights(tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("nightly-ref")
    wrapper = work / "duty.py"
    wrapper.write_text(WRAPPER.format(python=sys.executable))
    wrapper.chmod(0o755)
    (work / "suite.yaml").write_text(SUITE.format(wrapper=json.dumps(str(wrapper)),
                                                  python=json.dumps(sys.executable)))
    out = {"work": work}
    for name, duty in (("first", None), ("same", None), ("slowed", "0.6")):
        out[name] = _harness(["nightly", "suite.yaml"], work, duty=duty)
    out["runs"] = run_dirs(work / "results")
    return out


def test_the_timed_suite_runs_beside_the_reference_and_the_rest_once(nights) -> None:
    assert nights["first"].returncode == 0, nights["first"].stdout + nights["first"].stderr
    assert "is now the baseline" in nights["first"].stdout
    runs = {p.name: p for p in nights["runs"]}
    night_dirs = [p for name, p in sorted(runs.items()) if name.endswith("-nightly-ref")]
    assert len(night_dirs) == 3 and len(runs) == 6
    for night in night_dirs:
        ref_id = read_manifest(night)["reference_run"]
        assert ref_id.endswith("-nightly-ref-reference")
        ref_cells, cells = load_run(runs[ref_id]), load_run(night)
        assert [c.suite for c in ref_cells] == ["throughput"]
        assert ref_cells[0].backend_config["python"] == sys.executable
        assert sorted(c.suite for c in cells) == ["memory", "throughput"]
        assert all(c.status == "ok" for c in [*cells, *ref_cells])
        by_suite = {c.suite: c for c in cells}
        decode = next(m for m in by_suite["throughput"].metrics
                      if m.name == "decode_tokens_per_s")
        assert sorted(set(decode.process)) == [0, 1, 2]  # three processes, paired by index
        load = next(m for m in by_suite["memory"].metrics if m.name == "load_time_s")
        assert len(set(load.process or [0])) == 1  # the other suite: once


def test_an_identical_night_is_judged_by_its_ratio_to_the_reference(nights) -> None:
    proc = nights["same"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "judged by reference" in proc.stdout and "0 regressed" in proc.stdout


def test_a_slowed_engine_is_regressed_against_the_reference(nights) -> None:
    proc = nights["slowed"]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "judged by reference" in proc.stdout
    rows = _rows(proc, "decode_tokens_per_s")
    assert rows and all("regressed" in r for r in rows), proc.stdout


def test_a_missing_reference_interpreter_is_one_clear_line(tmp_path: Path) -> None:
    suite = tmp_path / "suite.yaml"
    suite.write_text(SUITE.format(wrapper=json.dumps(sys.executable),
                                  python=json.dumps(sys.executable)))
    proc = _harness(["nightly", "suite.yaml", "--reference-python",
                     str(tmp_path / "no-such-python")], tmp_path)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "--reference-python" in lines[0] and "regression.reference.python" in lines[0]
    assert "does not exist" in lines[0] and "fix:" in lines[0]
    assert not (tmp_path / "results").exists()  # refused before anything ran
