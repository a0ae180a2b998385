"""Suites declare their metrics once; version-1 results keep loading with kinds filled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.errors import HarnessError
from harness.registry import registry
from harness.schema import SCHEMA_VERSION, CellResult
from harness.suites.base import Metric, MetricSpec, Suite
from harness.suites.metrics import declared_spec, kind_from_unit

V1 = Path(__file__).parent / "v1_cells.jsonl"
# Tolerances of the quality metrics before suites declared them (regression.thresholds'
# former DEFAULT_QUALITY): the declarations must keep every verdict as it was.
FORMER_QUALITY = {
    "perplexity": "mean:1%", "bits_per_byte": "mean:1%", "nll_per_token": "mean:1%",
    "mmlu_accuracy": "mean:0.02", "humaneval_pass_at_1": "mean:0.02",
    "kl_divergence_mean": "mean:0.005", "kl_divergence_median": "mean:0.005",
    "kl_divergence_p99": "mean:0.05", "kl_divergence_max": "mean:0.5",
    "same_top1_pct": "mean:1.0",
}
BUILT_IN = ["throughput", "memory", "perplexity", "kl-divergence", "mmlu", "humaneval",
            "serving"]


def test_quality_tolerances_are_the_former_defaults() -> None:
    declared = {}
    for suite in BUILT_IN:
        for spec in registry("suites").get(suite).metrics:
            if spec.kind == "quality":
                declared[spec.name] = spec.threshold
    assert {k: declared[k] for k in FORMER_QUALITY} == FORMER_QUALITY
    assert declared_spec("humaneval", "humaneval_pass_at_10").threshold == "mean:0.02"


@pytest.mark.parametrize("suite", BUILT_IN)
def test_every_built_in_suite_declares_unique_metrics(suite: str) -> None:
    specs = registry("suites").get(suite).metrics
    assert specs and len({s.name for s in specs}) == len(specs)
    for spec in specs:
        assert spec.kind == "count" or spec.default_threshold is not None


def test_a_quality_metric_must_declare_its_tolerance() -> None:
    with pytest.raises(ValueError, match="fix:"):
        MetricSpec("accuracy", "fraction", True, "quality")


class _Declares(Suite):
    name = "declares"
    metrics = (MetricSpec("x_per_s", "x/s", True, "speed"),)

    def __init__(self, returned: list[Metric]) -> None:
        self.returned = returned

    def run(self, backend, params, ctx) -> list[Metric]:
        return self.returned


def test_an_undeclared_or_misdeclared_metric_fails_the_cell() -> None:
    ok = _Declares([Metric("x_per_s", "x/s", [1.0], True)]).measure(None, None, None)
    assert ok[0].kind == "speed"
    with pytest.raises(HarnessError, match="does not declare"):
        _Declares([Metric("y_per_s", "y/s", [1.0], True)]).measure(None, None, None)
    with pytest.raises(HarnessError, match="spec says"):
        _Declares([Metric("x_per_s", "x/s", [1.0], False)]).measure(None, None, None)


def test_version_1_lines_load_with_kinds_from_specs_then_units() -> None:
    cells = [CellResult.model_validate(json.loads(line)) for line in V1.read_text().splitlines()]
    assert SCHEMA_VERSION == 3 and {c.schema_version for c in cells} == {1}
    assert all(c.health is None and all(m.process is None for m in c.metrics) for c in cells)
    kinds = {(c.suite, m.name): m.kind for c in cells for m in c.metrics}
    assert kinds == {
        ("throughput", "decode_tokens_per_s"): "speed",
        ("throughput", "ttft_ms"): "latency",
        ("memory", "model_file_bytes"): "size",  # the spec's word, not the unit's
        ("perplexity", "perplexity"): "quality",
        ("perplexity", "tokens_scored"): "count",
        ("uninstalled-suite", "widgets_per_s"): "speed",  # by unit: the suite is gone
        ("uninstalled-suite", "blur"): "quality",
        ("uninstalled-suite", "widgets"): "count",
        ("uninstalled-suite", "arena_bytes"): "memory",
    }
    decode = cells[0].metrics[0]
    assert (decode.q1, decode.q3) == (99.75, 100.75) and decode.iqr == 1.0


@pytest.mark.parametrize(("unit", "kind"), [("tokens/s", "speed"), ("requests/s", "speed"),
                                            ("ms", "latency"), ("s", "latency"),
                                            ("bytes", "memory"), ("tokens", "count"),
                                            ("ppl", "quality"), ("%", "quality")])
def test_kind_from_unit(unit: str, kind: str) -> None:
    assert kind_from_unit(unit) == kind
