"""Quality suites on the real engine and model: one small run, shared by these tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.data import mmlu
from harness.results.frame import load_frame
from tests.conftest import ROOT

pytestmark = pytest.mark.slow

PLAN = yaml.safe_load((ROOT / "suites" / "smoke-quality.yaml").read_text())


def _value(frame, name: str, fmt: str, **tags) -> float:
    rows = frame[(frame["metric_name"] == name) & (frame["format"] == fmt)]
    rows = rows[[all(t.get(k) == v for k, v in tags.items()) and
                 ("subject" in t) == ("subject" in tags) for t in rows["metric_tags"]]]
    assert len(rows) == 1, f"{name} {fmt} {tags}: {len(rows)} rows"
    return rows.iloc[0]


def test_perplexity_rises_as_bits_fall(quality_run: Path) -> None:
    frame = load_frame([quality_run])
    ppl = {f: _value(frame, "perplexity", f) for f in PLAN["formats"]}
    assert ppl["f16"]["mean"] > 1 and ppl["f16"]["stderr"] > 0
    assert ppl["q8_0"]["mean"] >= 0.995 * ppl["f16"]["mean"]  # "monotonic, or nearly"
    assert ppl["q4_0"]["mean"] > ppl["q8_0"]["mean"]
    scored = _value(frame, "tokens_scored", "f16")["mean"]
    n_ctx = PLAN["suites"]["perplexity"]["n_ctx"]
    chunks = PLAN["suites"]["perplexity"]["max_tokens"] // n_ctx
    assert scored == chunks * (n_ctx // 2 - 1)  # llama-perplexity's count
    bpb = _value(frame, "bits_per_byte", "f16")["mean"]
    assert 0.3 < bpb < 3


def test_kl_of_q8_is_far_below_q4(quality_run: Path) -> None:
    frame = load_frame([quality_run])
    kl = {f: _value(frame, "kl_divergence_mean", f)["mean"] for f in PLAN["formats"]}
    top1 = {f: _value(frame, "same_top1_pct", f)["mean"] for f in PLAN["formats"]}
    assert kl["f16"] < 1e-6 and top1["f16"] == 100  # the reference against itself
    assert 0 < kl["q8_0"] < kl["q4_0"] / 10
    assert top1["q8_0"] > top1["q4_0"]
    assert _value(frame, "kl_divergence_p99", "q4_0")["mean"] >= \
        _value(frame, "kl_divergence_median", "q4_0")["mean"]


@pytest.mark.parametrize("shots", PLAN["suites"]["mmlu"]["shots"])
def test_mmlu_reports_accuracy_with_stderr_per_subject(quality_run: Path, shots: int) -> None:
    frame = load_frame([quality_run])
    spec = PLAN["suites"]["mmlu"]
    overall = _value(frame, "mmlu_accuracy", "q8_0", shots=shots)
    assert 0 <= overall["mean"] <= 1 and overall["stderr"] is not None
    assert _value(frame, "mmlu_questions", "q8_0", shots=shots)["mean"] == \
        spec["per_subject"] * len(spec["subjects"])
    for subject in spec["subjects"]:
        row = _value(frame, "mmlu_accuracy", "q8_0", shots=shots, subject=subject)
        assert row["mean"] in {i / spec["per_subject"] for i in range(spec["per_subject"] + 1)}


def test_humaneval_ran_every_program_in_the_sandbox(quality_run: Path) -> None:
    frame = load_frame([quality_run])
    spec = PLAN["suites"]["humaneval"]
    ran = _value(frame, "humaneval_programs_run", "q8_0")
    assert ran["mean"] == spec["problems"]
    assert "audit-hook" in ran["metric_tags"]["sandbox"]
    assert 0 <= _value(frame, "humaneval_pass_at_1", "q8_0")["mean"] <= 1
    assert _value(frame, "generated_tokens", "q8_0")["mean"] > 0


def test_mmlu_subset_is_deterministic_and_stratified() -> None:
    questions = mmlu.load_questions()
    a = mmlu.split(questions, 10, seed=0)
    b = mmlu.split(questions, 10, seed=0)
    c = mmlu.split(questions, 10, seed=1)
    assert len(a) == 57 and sum(len(v[1]) for v in a.values()) == 570
    assert a == b and a != c
    for pool, chosen in a.values():
        assert not set(map(id, pool)) & set(map(id, chosen))
    with pytest.raises(ValueError, match="larger than the data"):
        mmlu.split(questions, 96, seed=0)
