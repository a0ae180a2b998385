"""KV-cache bytes at a context depth, measured on real engines beside what the model's
own dimensions imply (the memory suite's `depths`)."""

from __future__ import annotations

import pytest

from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig
from harness.backends.torch_hf import TransformersBackend, TransformersConfig
from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.models.kv_dims import kv_dims
from harness.suites.context import CellContext
from harness.suites.memory import MemoryParams, MemorySuite

pytestmark = pytest.mark.slow


def _run(backend, path, fmt: str, depths: list[int]) -> dict:
    backend.load(path)
    try:
        with MemorySampler(enabled=False) as memory:
            ctx = CellContext(artifact=resolve.describe(path, fmt, "-"), load_time_s=0,
                              memory=memory, seed=0)
            metrics = MemorySuite().run(backend, MemoryParams(prompt_tokens=8, gen_tokens=2,
                                                             depths=depths), ctx)
    finally:
        backend.unload()
    return {(m.name, m.tags.get("depth")): m for m in metrics}


@pytest.mark.parametrize("engine", ["llama_cpp", "transformers"])
def test_kv_bytes_grow_with_depth_as_the_model_dimensions_say(smol, engine) -> None:
    if engine == "llama_cpp":
        fmt, backend = "f16", LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=512))
    else:
        fmt, backend = "hf-bf16", TransformersBackend(TransformersConfig(threads=2, n_ctx=512))
    path = resolve.derive(smol[0], smol[1], fmt)
    by = _run(backend, path, fmt, [64, 256])
    dims = kv_dims(path)
    # SmolLM2-135M: 30 layers, 3 KV heads of 64, keys and values in 2-byte elements
    assert (dims.layers, dims.kv_heads, dims.key_size, dims.value_size) == (30, 3, 64, 64)
    for depth in (64, 256):
        held = by[("kv_cache_bytes", depth)].samples[0]
        assert by[("kv_cache_computed_bytes", depth)].samples[0] == 23040 * depth
        ratio = by[("kv_cache_measured_over_computed", depth)]
        assert 1.0 <= ratio.samples[0] < 1.01 and "disagrees" not in ratio.tags
        assert held == pytest.approx(ratio.samples[0] * 23040 * depth)
    growth = by[("kv_cache_bytes", 256)].samples[0] / by[("kv_cache_bytes", 64)].samples[0]
    assert growth == pytest.approx(4, rel=0.01)


def test_a_gap_of_more_than_ten_percent_is_tagged(smol, monkeypatch) -> None:
    """An engine that keeps its cache in F32 against dimensions read as F16 elements."""
    path = resolve.derive(smol[0], smol[1], "f16")
    backend = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=256))
    usage = LlamaCppBackend.kv_cache_usage
    monkeypatch.setattr(LlamaCppBackend, "kv_cache_usage",
                        lambda self: (usage(self)[0] * 2, 2))
    ratio = _run(backend, path, "f16", [32])[("kv_cache_measured_over_computed", 32)]
    assert ratio.samples[0] == pytest.approx(2, rel=0.01)
    assert ratio.tags["disagrees"] == "more than 10%"
