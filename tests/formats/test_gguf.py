"""GGUF formats derived from the real SmolLM2 source: real sizes and bits per weight."""

from __future__ import annotations

import pytest

from harness.formats import resolve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def derived(smol):
    path, sha = smol
    return {fmt: resolve.describe(resolve.derive(path, sha, fmt), fmt, sha)
            for fmt in ("f16", "q8_0", "q4_0")}


def test_sizes_and_bits_per_weight_fall_with_the_format(derived) -> None:
    f16, q8, q4 = derived["f16"], derived["q8_0"], derived["q4_0"]
    assert f16.size_bytes > q8.size_bytes > q4.size_bytes
    assert f16.bits_per_weight > q8.bits_per_weight > q4.bits_per_weight
    assert 15.5 < f16.bits_per_weight < 16.5
    assert (f16.quant_type, q8.quant_type, q4.quant_type) == ("F16", "Q8_0", "Q4_0")
    assert f16.n_params == q8.n_params == q4.n_params > 100_000_000


def test_derived_artifacts_are_cached(smol, derived) -> None:
    path, sha = smol
    target = resolve.artifact_path(path, sha, "q4_0")
    before = target.stat().st_mtime_ns
    assert resolve.derive(path, sha, "q4_0") == target
    assert target.stat().st_mtime_ns == before


def test_derived_f16_loads_and_matches_the_source(smol, derived) -> None:
    from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig

    outputs = {}
    for name, file in (("source", smol[0]), ("f16", derived["f16"].path)):
        b = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=64))
        b.load(file)
        prompt = b.tokenize("The capital of France is", add_bos=False)
        outputs[name] = b.detokenize(list(b.generate(prompt, 4)))
        b.unload()
    # F16 holds the source's Q4_1 weights exactly, so greedy text must agree
    assert outputs["source"] == outputs["f16"]
