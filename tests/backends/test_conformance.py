"""Every installed backend, the same model, the same checks.

Reference: llama.cpp on SmolLM2-135M F16. Each case names a backend, a format and the
tolerance of its precision family for log-probabilities of a fixed text (mean and max
absolute difference in nats), measured here: fp32 0.003 / 0.018, bf16 0.043 / 0.22,
and Q8_0 (a quantized format, checked against F16 for scale) 0.091 / 0.43.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.errors import BackendError
from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.registry import registry
from harness.runner.context import CellContext
from harness.suites.memory import MemoryParams, MemorySuite
from harness.suites.throughput import ThroughputParams, ThroughputSuite

pytestmark = pytest.mark.slow

# (backend, format, greedy tokens that must match the reference, mean tol, max tol)
CASES = [
    ("llama_cpp", "f16", 12, 1e-6, 1e-5),
    ("llama_cpp", "q8_0", 4, 0.15, 1.0),
    ("transformers", "hf-fp32", 12, 0.01, 0.1),
    ("transformers", "hf-bf16", 8, 0.1, 0.5),
]
TEXT = ("The Python language reference describes the syntax and core semantics of the "
        "language. It is terse, but attempts to be exact and complete.")
PROMPT = "The capital of France is"


def _installed(backend: str) -> bool:
    return registry("backends").get(backend).available()


def _open(backend: str, fmt: str, smol) -> tuple:
    cls = registry("backends").get(backend)
    path = resolve.derive(smol[0], smol[1], fmt)
    instance = cls(cls.config_cls(threads=2, n_ctx=256, n_batch=64))
    instance.load(path)
    return instance, resolve.describe(path, fmt, smol[1])


@pytest.fixture(scope="module")
def reference(smol):
    b, _ = _open("llama_cpp", "f16", smol)
    tokens = b.tokenize(TEXT)
    out = {"tokens": tokens, "logprobs": b.token_logprobs(tokens),
           "greedy": list(b.generate(b.tokenize(PROMPT), 12))}
    b.unload()
    return out


@pytest.fixture(scope="module", params=CASES, ids=[f"{b}-{f}" for b, f, *_ in CASES])
def case(request, smol):
    backend, fmt, *tol = request.param
    if not _installed(backend):
        pytest.fail(f"backend {backend} is not installed here; CI installs every extra")
    b, artifact = _open(backend, fmt, smol)
    yield b, artifact, tol
    b.unload()


def test_greedy_generation_agrees_with_reference(case, reference) -> None:
    b, _, (n_same, _, _) = case
    got = list(b.generate(b.tokenize(PROMPT), 12))
    assert got[:n_same] == reference["greedy"][:n_same]


def test_logprobs_agree_with_reference(case, reference) -> None:
    b, _, (_, mean_tol, max_tol) = case
    tokens = b.tokenize(TEXT)
    assert tokens == reference["tokens"]  # same tokenizer, or the comparison means nothing
    diff = np.abs(b.token_logprobs(tokens) - reference["logprobs"])
    assert diff.mean() <= mean_tol and diff.max() <= max_tol, (diff.mean(), diff.max())


def test_shared_prefix_scoring_matches_full_sequence(case) -> None:
    b, _, _ = case
    prefix = b.tokenize("Question: 2 + 2 =")
    conts = [b.tokenize(" 4", add_bos=False), b.tokenize(" five", add_bos=False)]
    fast = b.continuation_logprobs(prefix, conts)
    for (total, _), cont in zip(fast, conts, strict=True):
        full = b.token_logprobs(prefix + cont)[len(prefix) - 1:].sum()
        assert total == pytest.approx(full, abs=0.02)


def test_throughput_and_memory_suites_produce_samples(case) -> None:
    b, artifact, _ = case
    with MemorySampler() as memory:
        ctx = CellContext(artifact=artifact, load_time_s=0.1, memory=memory, seed=0)
        speed = ThroughputSuite().run(b, ThroughputParams(
            prompt_lengths=[16], gen_tokens=4, repetitions=2, ttft_prompt_tokens=8), ctx)
        mem = MemorySuite().run(b, MemoryParams(prompt_tokens=8, gen_tokens=2), ctx)
    by_name = {m.name: m for m in speed + mem}
    for name in ("prefill_tokens_per_s", "decode_tokens_per_s", "ttft_ms"):
        assert len(by_name[name].samples) == 2 and min(by_name[name].samples) > 0
    assert by_name["peak_rss_bytes"].samples[0] > 0


@pytest.mark.parametrize("backend", sorted({b for b, *_ in CASES}))
def test_bad_artifact_is_a_clean_backend_error(backend: str, tmp_path: Path) -> None:
    cls = registry("backends").get(backend)
    bad = tmp_path / ("bad.gguf" if "gguf" in cls.accepts else "bad")
    if bad.suffix:
        bad.write_bytes(b"GGUF" + b"\0" * 64)
    else:
        bad.mkdir()
        (bad / "config.json").write_text("{not json")
    instance = cls(cls.config_cls(threads=1, n_ctx=64))
    with pytest.raises(BackendError):
        instance.load(bad)
    instance.unload()
