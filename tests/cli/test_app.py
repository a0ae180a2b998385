"""The CLI starts cheaply: importing the app loads no data, charting, statistics or engine
library (each command imports what it needs when it runs)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("pandas", "plotly", "scipy", "numpy", "torch", "transformers", "llama_cpp",
         "onnxruntime_genai", "vllm", "httpx", "lm_eval")


def test_importing_the_cli_loads_no_heavy_module() -> None:
    code = ("import sys, harness.cli.app; "
            f"print(','.join(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"imported at CLI start-up: {out}"


def test_help_lists_every_command() -> None:
    out = subprocess.run(["harness", "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "report", "list", "profile", "compare", "nightly", "trend",
                    "baseline", "export"):
        assert command in out


def test_run_refuses_a_reporter_that_does_not_render_runs() -> None:
    from tests.conftest import harness_cmd

    proc = harness_cmd("run", "suites/smoke.yaml", "--dry-run", "--reporter", "trend-html")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    line = " ".join(proc.stderr.split())
    assert "renders trends, not runs" in line and "fix: use one of html" in line
