"""`auto` thresholds from a stored noise floor, the minimum detectable effect, calibrate."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from harness.cli.compare_cmd import print_comparison
from harness.regression.compare import compare_runs
from harness.regression.noise import (
    NoiseFloor,
    between_process_cv,
    load_noise_floor,
    minimum_detectable_effect,
    store_noise_floor,
)
from harness.thresholds import RegressionConfig, auto_threshold, default_multiple
from tests.conftest import harness_cmd, plugin_env, run_dirs
from tests.regression.conftest import cell, draws, metric

CELL = "m q4_0 llama_cpp throughput"  # the label tests.regression.conftest.cell gives
AUTO = RegressionConfig(thresholds={"default": "auto"})


def _profile(tmp_path: Path, cv: float | None) -> NoiseFloor:
    (tmp_path / "p1.yaml").write_text(yaml.safe_dump({"id": "p1", "cpu": {"model": "x"}}))
    if cv is not None:
        store_noise_floor(tmp_path, "p1", "plan", {(CELL, "decode_tokens_per_s"): {
            "cv": cv, "runs": 8, "measured_at": "2026-11-22T00:00:00+00:00"}})
    return NoiseFloor.load(tmp_path, "p1", "plan", "suites/plan.yaml")


def _compare(noise: NoiseFloor | None, base: float, cand: float,
             config: RegressionConfig = AUTO):
    return compare_runs([cell("b", [metric("decode_tokens_per_s", draws(base, n=30,
                                                                          spread=0.002))])],
                        [cell("c", [metric("decode_tokens_per_s", draws(cand, n=30,
                                                                          spread=0.002,
                                                                          seed=1))])],
                        config, noise)


def test_the_floor_is_stored_in_the_profile_beside_what_was_there(tmp_path: Path) -> None:
    _profile(tmp_path, 0.02)
    store_noise_floor(tmp_path, "p1", "other", {("c", "m"): {"cv": 0.5, "runs": 2,
                                                             "measured_at": "t"}})
    profile = yaml.safe_load((tmp_path / "p1.yaml").read_text())
    assert profile["cpu"] == {"model": "x"}  # the profile itself is kept
    assert profile["noise_floor"]["plan"][CELL]["decode_tokens_per_s"]["cv"] == 0.02
    assert load_noise_floor(tmp_path, "p1", "plan") == {
        (CELL, "decode_tokens_per_s"): {"cv": 0.02, "runs": 8,
                                        "measured_at": "2026-11-22T00:00:00+00:00"}}
    assert load_noise_floor(tmp_path, "p1", "missing-plan") == {}
    assert load_noise_floor(tmp_path, "no-such-profile", "plan") == {}


def test_auto_resolves_to_k_times_the_floor(tmp_path: Path) -> None:
    k = default_multiple(0.01)
    assert k == pytest.approx(2.5758 * math.sqrt(2), rel=1e-4)  # z(0.995) * sqrt(2)
    assert auto_threshold("auto", 0.02, 0.01).text == "median:7.3%"  # 3.643 * 2 % rounded up
    assert auto_threshold("auto:2", 0.02, 0.01).text == "median:4%"
    assert auto_threshold("auto", 0.001, 0.01).text == "median:1%"  # never below 1 %
    noise = _profile(tmp_path, 0.01)  # auto -> 3.7 %
    slower = _compare(noise, 100, 94)
    assert slower.rows[0].threshold == "median:3.7%" and slower.rows[0].verdict == "regressed"
    assert slower.thresholds == [f"{CELL} decode_tokens_per_s: auto -> median:3.7% (noise "
                                 "floor cv 1 % on p1)"]
    assert not slower.warnings
    noisy = _profile(tmp_path, 0.03)  # auto -> 11 %: a 6 % change is within the noise
    assert _compare(noisy, 100, 94).rows[0].verdict == "unchanged"


def test_without_a_floor_auto_falls_back_with_a_warning(tmp_path: Path) -> None:
    result = _compare(_profile(tmp_path, None), 100, 94)
    assert result.rows[0].threshold == "median:5%"  # the throughput suite's declared one
    assert result.warnings == [f"no noise floor for {CELL} decode_tokens_per_s on p1: run "
                               "harness calibrate suites/plan.yaml; judged at median:5%"]
    assert result.rows[0].mde is None


def test_mde_arithmetic_and_column(tmp_path: Path, capsys) -> None:
    # (z(0.995) + z(0.9)) * sqrt(2) * cv = (2.5758 + 1.2816) * 1.4142 * 0.02
    assert minimum_detectable_effect(0.02, 0.01) == pytest.approx(0.10911, rel=1e-3)
    assert minimum_detectable_effect(0.02, 0.05) == pytest.approx(
        (1.95996 + 1.28155) * math.sqrt(2) * 0.02, rel=1e-4)
    result = _compare(_profile(tmp_path, 0.02), 100, 94, RegressionConfig())
    assert result.rows[0].mde == pytest.approx(0.10911, rel=1e-3)
    assert result.thresholds == []  # nothing was auto
    print_comparison(result, show_all=True)
    out = capsys.readouterr().out
    assert "MDE" in out and "10.9%" in out


def test_auto_validation() -> None:
    for bad in ({"thresholds": {"x": "auto:-1"}}, {"thresholds": {"x": "auto:k"}},
                {"quality": {"perplexity": "auto"}}, {"false_alarm": 0.7}):
        with pytest.raises(ValueError, match="fix:"):
            RegressionConfig.model_validate(bad)
    RegressionConfig(thresholds={"x": "auto:2.5", "default": "auto"}, false_alarm=0.05)


def test_memory_under_a_default_auto_keeps_its_declared_threshold(tmp_path: Path) -> None:
    def rss(value):
        return [metric("peak_rss_bytes", [value], unit="bytes", higher_is_better=False,
                       kind="memory")]

    result = compare_runs([cell("b", rss(100e6), suite="memory")],
                          [cell("c", rss(110e6), suite="memory")], AUTO,
                          _profile(tmp_path, None))
    assert result.rows[0].verdict == "regressed" and not result.warnings


def test_between_process_cv_uses_per_process_medians() -> None:
    # within-process spread is large; the per-process medians are 10, 11, 12
    samples = [9, 10, 30, 1, 11, 12, 12, 12, 12]
    assert between_process_cv(samples, [0, 0, 0, 1, 1, 1, 2, 2, 2]) == pytest.approx(1 / 11)
    assert between_process_cv(samples, None) is None


def test_calibrate_stores_the_floor_and_auto_reads_it(tmp_path: Path, smol) -> None:
    path, _ = smol
    suite = tmp_path / "tick.yaml"
    suite.write_text(f"name: tick-cal\nmodels: [{{name: m, path: {path}}}]\n"
                     "backends: {faulty: {}}\nsuites: {tick: }\n"
                     "regression: {thresholds: {default: auto}}\n")
    proc = harness_cmd("calibrate", str(suite), "--runs", "3", "--results-dir",
                       str(tmp_path / "r"), "--profiles-dir", str(tmp_path / "p"),
                       env=plugin_env(), timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "MDE" in proc.stdout and "median:" in proc.stdout
    profile = next((tmp_path / "p").glob("*.yaml"))
    floors = load_noise_floor(tmp_path / "p", profile.stem, "tick-cal")
    assert list(floors) == [("m source faulty tick", "tick_s")]
    assert floors[("m source faulty tick", "tick_s")]["runs"] == 3
    assert floors[("m source faulty tick", "tick_s")]["cv"] > 0
    run = run_dirs(tmp_path / "r")[0]
    proc = harness_cmd("compare", str(run), str(run), "--results-dir", str(tmp_path / "r"),
                       "--profiles-dir", str(tmp_path / "p"), "--all", env=plugin_env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "tick_s: auto -> median:" in proc.stdout and "MDE" in proc.stdout
