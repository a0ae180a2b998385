"""Registries: entry points (built-in and third-party), loud failures, lazy loading."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from harness.backends.base import Backend
from harness.errors import RegistryError
from harness.registry import Registry, registry
from tests.conftest import harness_cmd, plugin_env


def test_builtins_register_through_entry_points() -> None:
    assert "llama_cpp" in registry("backends").names()
    assert {"throughput", "memory"} <= set(registry("suites").names())
    assert registry("backends").origin("llama_cpp") == "harness"


def test_duplicate_name_is_rejected() -> None:
    reg = Registry("backends")
    reg.register("x", "a.module:One", "dist-a")
    with pytest.raises(RegistryError, match="registered twice"):
        reg.register("x", "b.module:Two", "dist-b")


def test_typo_suggests_the_closest_name() -> None:
    with pytest.raises(RegistryError, match="did you mean 'llama_cpp'"):
        registry("backends").get("llama-cpp")


def test_entry_that_is_not_a_backend_is_rejected() -> None:
    reg = Registry("backends")
    reg._scanned = True
    reg.register("bogus", "harness.stats:summarize")
    with pytest.raises(RegistryError, match="is not a Backend"):
        reg.get("bogus")


class _Misnamed(Backend):
    name = "declared"


def test_the_entry_point_names_the_plugin() -> None:
    assert registry("backends").get("llama_cpp").name == "llama_cpp"


def test_a_class_naming_itself_unlike_its_entry_point_is_rejected() -> None:
    reg = Registry("backends")
    reg._scanned = True
    reg.register("entry", "tests.test_registry:_Misnamed")
    with pytest.raises(RegistryError, match="declares name 'declared' but its entry point "
                                            "is 'entry'; fix: delete"):
        reg.get("entry")


def test_listing_and_dry_run_do_not_import_engines() -> None:
    code = ("import sys; from harness.config import load_plan; from harness.matrix import expand;"
            "expand(load_plan('suites/demo.yaml'));"
            "from harness.registry import registry;"
            "registry('backends').get('llama_cpp').version();"
            "print('llama_cpp' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_third_party_plugins_are_listed() -> None:
    backends = harness_cmd("list", "backends", env=plugin_env())
    suites = harness_cmd("list", "suites", env=plugin_env())
    assert backends.returncode == 0 and suites.returncode == 0
    assert "faulty" in backends.stdout and "harness-testplugins" in backends.stdout
    assert "llama_cpp" in backends.stdout
    assert "tick" in suites.stdout


@pytest.mark.parametrize("what", ["backends", "suites", "formats", "models", "reporters"])
def test_list_shows_builtins(what: str) -> None:
    proc = harness_cmd("list", what)
    assert proc.returncode == 0, proc.stderr
    expected = {"backends": "llama_cpp", "suites": "throughput", "formats": "q4_k_m",
                "models": "gemma3-270m", "reporters": "html"}[what]
    assert expected in proc.stdout


def test_backend_without_its_engine_is_listed_unavailable_and_refused(tmp_path) -> None:
    listed = harness_cmd("list", "backends", env={**plugin_env(), "COLUMNS": "200"})
    assert "unavailable: pip install 'harness[missing-engine]'" in listed.stdout
    suite = tmp_path / "missing.yaml"
    suite.write_text("name: m\nmodels: [smollm2-135m]\nbackends: {missing: }\n"
                     "suites: {tick: }\n")
    proc = harness_cmd("run", str(suite), "--dry-run", env=plugin_env())
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "backends.missing: backend 'missing' is not installed; fix: pip install" in \
        " ".join(proc.stderr.split())


def test_suite_needing_a_missing_capability_is_skipped_with_reason(tmp_path: Path) -> None:
    suite = tmp_path / "caps.yaml"
    suite.write_text("name: c\nmodels: [smollm2-135m]\nbackends: {generate-only: }\n"
                     "suites: {throughput: , memory: }\n")
    proc = harness_cmd("run", str(suite), "--dry-run", env={**plugin_env(), "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    out = " ".join(proc.stdout.split())
    assert "source throughput on generate-only: generate-only cannot time prefill" in out
    assert "│ 1 │ smollm2-135m │ source │ generate-only │ memory │" in proc.stdout
    assert "throughput │" not in proc.stdout


def test_throughput_with_a_ttft_prompt_runs_on_a_generate_only_backend(tmp_path: Path) -> None:
    suite = tmp_path / "caps.yaml"
    suite.write_text("name: c\nmodels: [smollm2-135m]\nbackends: {generate-only: }\n"
                     "suites: {throughput: {ttft_prompt_tokens: 8}}\n")
    proc = harness_cmd("run", str(suite), "--dry-run", env={**plugin_env(), "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    assert "│ 1 │ smollm2-135m │ source │ generate-only │ throughput │" in proc.stdout


def test_optional_backend_missing_here_is_skipped_with_its_install_command(tmp_path) -> None:
    suite = tmp_path / "optional.yaml"
    suite.write_text("name: o\nmodels: [smollm2-135m]\nbackends: {llama_cpp: , missing: "
                     "{optional: true}}\nsuites: {throughput: }\n")
    proc = harness_cmd("run", str(suite), "--dry-run", env={**plugin_env(), "COLUMNS": "300"})
    assert proc.returncode == 0, proc.stderr
    assert "missing: optional backend not installed here (pip install " \
           "'harness[missing-engine]')" in proc.stdout
    assert "│ llama_cpp │ throughput │" in proc.stdout
    only = harness_cmd("run", str(suite), "--dry-run", "--backend", "missing",
                       env=plugin_env())
    assert only.returncode == 2 and "optional and not installed here" in only.stderr
