"""A real run of the demo suite file, trimmed to its widest and its narrowest format."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT, harness_cmd, run_dirs

DEMO_FORMATS = ("f16", "q4_0")
"""The reference format of every default model and the smallest format of the demo."""


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory) -> Path:
    """suites/demo.yaml as it is (both default models, throughput and memory, llama.cpp),
    for formats f16 and q4_0 only; its run folder (hardware profile under
    `<work>/hardware_profiles`)."""
    work = tmp_path_factory.mktemp("demo")
    shutil.copytree(ROOT / "suites", work / "suites")
    formats = [arg for f in DEMO_FORMATS for arg in ("-f", f)]
    proc = harness_cmd("run", "suites/demo.yaml", *formats, "--results-dir", "results",
                       "--profiles-dir", "hardware_profiles", "--no-report", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = run_dirs(work / "results")
    assert len(runs) == 1
    return runs[0]
