"""The same suite file on two hardware profiles: `harness compare` pairs its cells (threads
left to `auto` on both) and says loudly that the hardware differs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import harness_cmd, run_dirs

pytestmark = pytest.mark.slow

SUITE = """\
name: two-machines
models: [smollm2-135m]
formats: [source]
backends:
  llama_cpp: {n_ctx: 128}
suites:
  throughput: {prompt_lengths: [16], gen_tokens: 8, repetitions: 2}
"""


def test_same_suite_on_two_profiles_is_compared_with_a_warning(tmp_path: Path) -> None:
    (tmp_path / "suite.yaml").write_text(SUITE)
    args = ["run", "suite.yaml", "--results-dir", "results", "--profiles-dir", "profiles",
            "--no-report"]
    for profile in ("machine-a", "machine-b"):
        proc = harness_cmd(*args, cwd=tmp_path, env={"HARNESS_PROFILE_ID": profile})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = run_dirs(tmp_path / "results")
    assert [r.parent.name for r in runs] == ["machine-a", "machine-b"]
    proc = harness_cmd("compare", str(runs[0]), str(runs[1]), "--results-dir", "results",
                       "--all", cwd=tmp_path, env={"COLUMNS": "250"})
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    assert "DIFFERENT HARDWARE" in proc.stdout
    assert "only in the" not in proc.stdout  # every cell found its partner
    assert "decode_tokens_per_s" in proc.stdout and "prefill_tokens_per_s" in proc.stdout
    assert "2 metrics compared" in proc.stdout
