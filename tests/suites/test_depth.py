"""Throughput at a context depth (llama-bench -d) on the real llama.cpp engine: the calls
the suite makes, and the tags of what it returns."""

from __future__ import annotations

import pytest

from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig
from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.suites.context import CellContext
from harness.suites.throughput import ThroughputParams, ThroughputSuite

pytestmark = pytest.mark.slow


def test_prefill_and_decode_are_timed_on_top_of_the_depth(smol) -> None:
    path = smol[0]
    backend = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=256, n_batch=256))
    backend.load(path)
    calls: list[tuple[str, int]] = []
    prefill, decode, reset = backend.prefill, backend.decode_step, backend.reset
    backend.prefill = lambda tokens: (calls.append(("prefill", len(tokens))), prefill(tokens))
    backend.decode_step = lambda token: (calls.append(("decode", 1)), decode(token))
    backend.reset = lambda: (calls.append(("reset", 0)), reset())
    params = ThroughputParams(prompt_lengths=[16], gen_tokens=4, repetitions=2, warmup=0,
                              depths=[0, 100])
    try:
        with MemorySampler(enabled=False) as memory:
            ctx = CellContext(artifact=resolve.describe(path, "source", "-"), load_time_s=0,
                              memory=memory, seed=0)
            metrics = ThroughputSuite().run(backend, params, ctx)
    finally:
        backend.unload()
    tags = sorted((m.name, tuple(sorted(m.tags.items()))) for m in metrics)
    assert tags == [
        ("decode_tokens_per_s", (("depth", 100), ("gen_tokens", 4))),
        ("decode_tokens_per_s", (("gen_tokens", 4),)),  # depth 0: the tags of old results
        ("prefill_tokens_per_s", (("depth", 100), ("prompt_tokens", 16))),
        ("prefill_tokens_per_s", (("prompt_tokens", 16),)),
    ]
    assert all(s > 0 for m in metrics for s in m.samples)
    # every repetition at depth 100: a cleared cache, 100 tokens untimed, then the timed part
    at_depth = calls[calls.index(("prefill", 100)) - 1:]
    assert at_depth[:6] == [("reset", 0), ("prefill", 100), ("prefill", 16)] * 2
    assert at_depth[-6:] == [("reset", 0), ("prefill", 100)] + [("decode", 1)] * 4


def test_depth_counts_in_the_context_a_cell_needs() -> None:
    params = ThroughputParams(prompt_lengths=[128], gen_tokens=64, depths=[0, 2048])
    assert params.required_context() == 2048 + 128
