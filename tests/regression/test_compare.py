"""Verdicts of the comparison on stored results with known changes."""

from __future__ import annotations

import pytest

from harness.errors import UsageError
from harness.regression.compare import compare_runs
from harness.thresholds import RegressionConfig, parse_threshold
from tests.regression.conftest import cell, draws, metric


def _verdict(base, cand, config=None, **kw) -> str:
    result = compare_runs([cell("b", [metric("decode_tokens_per_s", base, **kw)])],
                          [cell("c", [metric("decode_tokens_per_s", cand, **kw)])], config)
    assert len(result.rows) == 1
    return result.rows[0].verdict


def test_a_clear_slowdown_is_regressed_and_a_speedup_improved() -> None:
    assert _verdict(draws(100, seed=1), draws(70, seed=2)) == "regressed"
    assert _verdict(draws(100, seed=1), draws(130, seed=2)) == "improved"


def test_latency_direction_follows_the_metric() -> None:
    slow = _verdict(draws(20, seed=1), draws(26, seed=2), unit="ms", higher_is_better=False)
    assert slow == "regressed"


@pytest.mark.parametrize("seed", range(20))
def test_two_draws_of_the_same_speed_are_never_regressed(seed: int) -> None:
    verdict = _verdict(draws(100, spread=0.08, seed=seed), draws(100, spread=0.08, seed=seed + 99))
    assert verdict in ("unchanged", "inconclusive")


def test_a_small_real_change_inside_the_threshold_is_not_regressed() -> None:
    verdict = _verdict(draws(100, n=30, spread=0.005, seed=1), draws(98, n=30, spread=0.005,
                                                                    seed=2))
    assert verdict == "unchanged"


def test_absolute_threshold_in_the_metric_unit() -> None:
    config = RegressionConfig(thresholds={"decode_tokens_per_s": "mean:40"})
    assert _verdict(draws(100, seed=1), draws(70, seed=2), config) == "unchanged"
    config = RegressionConfig(thresholds={"decode_tokens_per_s": "mean:10"})
    assert _verdict(draws(100, seed=1), draws(70, seed=2), config) == "regressed"


def test_quality_metrics_use_their_tolerance_on_the_value() -> None:
    def ppl(value):
        return [metric("perplexity", [value], unit="ppl", higher_is_better=False, stderr=0.4)]

    def run(run_id, value):  # the perplexity suite declares a 1 % tolerance
        return [cell(run_id, ppl(value), suite="perplexity")]

    worse = compare_runs(run("b", 20.0), run("c", 20.6))  # +3 %, tol 1 %
    same = compare_runs(run("b", 20.0), run("c", 20.1))
    assert worse.rows[0].verdict == "regressed" and same.rows[0].verdict == "unchanged"
    assert worse.rows[0].method == "point" and worse.rows[0].threshold == "mean:1%"
    assert worse.rows[0].ci_low < worse.rows[0].change < worse.rows[0].ci_high
    override = RegressionConfig(quality={"perplexity": "mean:5%"})
    assert compare_runs(run("b", 20.0), run("c", 20.6), override).rows[0].verdict == \
        "unchanged"


def test_judgement_follows_the_stored_kind_not_the_name() -> None:
    """A metric no core module knows: a quality kind gets a point verdict, a count none."""
    def widgets(score, count):
        return [metric("widget_score", [score], unit="score", kind="quality"),
                metric("widgets_seen", [count], unit="widgets", kind="count")]

    result = compare_runs([cell("b", widgets(1.0, 10), suite="gone")],
                          [cell("c", widgets(0.9, 99), suite="gone")])
    assert [(r.metric, r.method, r.verdict) for r in result.rows] == [
        ("widget_score", "point", "regressed")]  # against `default` (5 %): not installed
    named = RegressionConfig(thresholds={"widgets_seen": "mean:1"})
    rows = compare_runs([cell("b", widgets(1.0, 10), suite="gone")],
                        [cell("c", widgets(1.0, 99), suite="gone")], named).rows
    assert {r.metric: r.verdict for r in rows}["widgets_seen"] == "improved"


def test_declared_kinds_and_thresholds() -> None:
    config = RegressionConfig()
    assert config.for_metric("x", "count") is None
    speed = config.for_metric("x", "speed")
    assert not speed.point and speed.threshold.text == "median:5%"
    assert config.for_metric("x", "size").point and config.for_metric("x", "memory").point
    assert config.for_metric("x", "quality", "mean:0.02").threshold.text == "mean:0.02"
    nightly = RegressionConfig(thresholds={"default": "median:25%"})
    assert nightly.for_metric("x", "latency", "median:5%").threshold.text == "median:25%"
    assert nightly.for_metric("x", "quality", "mean:1%").threshold.text == "mean:1%"


def test_one_sample_speed_metric_is_never_called_regressed() -> None:
    result = compare_runs([cell("b", [metric("load_time_s", [1.0], unit="s",
                                             higher_is_better=False)])],
                          [cell("c", [metric("load_time_s", [3.0], unit="s",
                                             higher_is_better=False)])])
    assert result.rows[0].verdict == "inconclusive"


def test_memory_growth_beyond_threshold_is_regressed() -> None:
    def rss(value):
        return [metric("peak_rss_bytes", [value], unit="bytes", higher_is_better=False)]

    assert compare_runs([cell("b", rss(1e8))], [cell("c", rss(1.2e8))]).rows[0].verdict == \
        "regressed"


def test_cells_on_one_side_are_listed_and_a_new_failure_regresses() -> None:
    speed = [metric("decode_tokens_per_s", draws(100))]
    base = [cell("b", speed, model="m"), cell("b", speed, model="only-base"),
            cell("b", speed, model="breaks")]
    cand = [cell("c", speed, model="m"), cell("c", speed, model="only-cand"),
            cell("c", [], model="breaks", status="failed")]
    result = compare_runs(base, cand)
    assert result.only_baseline == ["only-base q4_0 llama_cpp throughput"]
    assert result.only_candidate == ["only-cand q4_0 llama_cpp throughput"]
    assert result.newly_failed and "SIGSEGV" in result.newly_failed[0]
    assert result.regressed


def test_different_hardware_warns_loudly() -> None:
    speed = [metric("decode_tokens_per_s", draws(100))]
    result = compare_runs([cell("b", speed, profile="laptop")], [cell("c", speed, profile="ci")])
    assert any("DIFFERENT HARDWARE" in w for w in result.warnings)


def test_no_common_cells_is_a_usage_error() -> None:
    speed = [metric("decode_tokens_per_s", draws(100))]
    with pytest.raises(UsageError, match="no cell in common"):
        compare_runs([cell("b", speed, model="x")], [cell("c", speed, model="y")])


@pytest.mark.parametrize("text", ["median", "median:5", "5%", "median:x%", "stddev:5%",
                                  "median:-5%"])
def test_malformed_thresholds_are_refused_with_the_fix(text: str) -> None:
    if text == "median:5":  # an absolute threshold of 5 units: valid
        assert parse_threshold(text).relative is False
        return
    with pytest.raises(ValueError, match="fix:"):
        parse_threshold(text)
