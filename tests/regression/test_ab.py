"""`harness ab` end to end on the real SmolLM2 with llama.cpp, B's worker behind a wrapper."""

from __future__ import annotations

import stat
import sys
from pathlib import Path

import pytest

from harness.results.query import load_run
from tests.conftest import harness_cmd, run_dirs

SUITE = """\
name: {name}
models: [smollm2-135m]
formats: [source]
backends: {{llama_cpp: {{threads: 1, n_ctx: 128{extra}}}}}
suites:
  throughput: {{prompt_lengths: [16], gen_tokens: 8, repetitions: 3, ttft_prompt_tokens: 0}}
  memory: {{prompt_tokens: 8, gen_tokens: 2}}
"""
WIDE = {"COLUMNS": "250"}  # Rich wraps table cells at the default 80 columns


def _wrapper(tmp_path: Path) -> tuple[Path, Path]:
    """A `python:` wrapper that notes each start, then runs the worker with this Python."""
    marker = tmp_path / "wrapper-started"
    script = tmp_path / "wrap.sh"
    script.write_text(f'#!/bin/sh\necho "$$" >> "{marker}"\nexec "{sys.executable}" "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script, marker


def test_ab_runs_both_plans_interleaved_and_pairs_their_cells(tmp_path: Path, smol) -> None:
    script, marker = _wrapper(tmp_path)
    suite_a, suite_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    suite_a.write_text(SUITE.format(name="ab-a", extra=""))
    suite_b.write_text(SUITE.format(name="ab-b", extra=f", python: {script}"))
    proc = harness_cmd("ab", str(suite_a), str(suite_b), "--processes", "2", "--results-dir",
                       str(tmp_path / "r"), "--profiles-dir", str(tmp_path / "p"), env=WIDE,
                       timeout=600)
    # an A/A comparison: its verdict is the machine's noise, so only the exit is bounded
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    runs = {load_run(d)[0].run_id: load_run(d) for d in run_dirs(tmp_path / "r")}
    assert len(runs) == 2
    a_run = next(r for r, cells in runs.items() if r.endswith("-ab-a"))
    b_run = next(r for r, cells in runs.items() if r.endswith("-ab-b"))
    assert f"A: {suite_a} run {a_run}; B: {suite_b} run {b_run}; 2 processes in lockstep" \
        in proc.stdout
    for cells in runs.values():
        assert sorted(c.suite for c in cells) == ["memory", "throughput"]
        assert all(c.status == "ok" for c in cells), [c.error for c in cells]
        decode = next(m for c in cells for m in c.metrics if m.name == "decode_tokens_per_s")
        assert sorted(set(decode.process)) == [0, 1] and len(decode.process) == 6
    assert all(c.backend_config["python"] == str(script) for c in runs[b_run])
    assert all("python" not in c.backend_config for c in runs[a_run])
    assert marker.is_file() and len(marker.read_text().split()) >= 4  # B's 2 cells x 2
    rows = [line for line in proc.stdout.splitlines()
            if any(v in line for v in ("regressed", "improved", "unchanged", "inconclusive"))
            and "smollm2-135m source llama_cpp" in line]
    assert any("throughput" in r and "decode_tokens_per_s" in r for r in rows), proc.stdout
    assert any("memory" in r and "peak_rss_bytes" in r for r in rows), proc.stdout


def test_ab_refuses_plans_of_different_sizes(tmp_path: Path) -> None:
    suite_a, suite_b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    suite_a.write_text(SUITE.format(name="ab-a", extra=""))
    suite_b.write_text(SUITE.format(name="ab-b", extra="").replace("formats: [source]",
                                                                    "formats: [source, q8_0]"))
    proc = harness_cmd("ab", str(suite_a), str(suite_b), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), env=WIDE)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(suite_a) in lines[0] and str(suite_b) in lines[0]
    assert "has 2 cells and" in lines[0] and "fix:" in lines[0]
    assert not (tmp_path / "r").exists()  # refused before anything ran


def test_python_setting_must_be_an_executable(tmp_path: Path) -> None:
    from harness.config import load_plan
    from harness.errors import ConfigError

    not_executable = tmp_path / "wrap.sh"
    not_executable.write_text("#!/bin/sh\n")
    for value, problem in ((tmp_path / "missing", "does not exist"),
                           (not_executable, "is not executable"), (tmp_path, "is a folder")):
        suite = tmp_path / "s.yaml"
        suite.write_text(SUITE.format(name="s", extra=f", python: {value}"))
        with pytest.raises(ConfigError) as caught:
            load_plan(suite)
        message = str(caught.value)
        assert message.startswith(f"{suite}: backends.llama_cpp.python: '{value}' {problem}")
        assert "; fix: " in message and "\n" not in message
    suite.write_text(SUITE.format(name="s", extra=""))
    plan = load_plan(suite)  # unset: no key, so stored cells' keys are what they were
    assert "python" not in plan.backends["llama_cpp"].model_dump()
    assert "python" not in plan.backend_requests["llama_cpp"]
