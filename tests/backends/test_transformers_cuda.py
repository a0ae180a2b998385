"""transformers on CUDA: fp16 and bitsandbytes 8-bit / 4-bit, against llama.cpp F16.

Opt-in (`pytest -m gpu`, `nox -s gpu`) and deselected elsewhere. Not yet run: no GPU
was lent while this was written, so the tolerances below are loose bounds of the
precision families (fp16 like bf16; 8-bit like Q8_0; 4-bit like Q4_0), not measurements.
"""

from __future__ import annotations

import numpy as np
import pytest

from harness.formats import resolve
from harness.hardware.memory import MemorySampler
from harness.registry import registry
from harness.suites.context import CellContext
from harness.suites.memory import MemoryParams, MemorySuite
from tests.backends.test_conformance import PROMPT, TEXT

pytestmark = [pytest.mark.slow, pytest.mark.gpu]

# format, greedy tokens equal to llama.cpp F16, mean and max |log-prob difference| (nats)
CASES = [("hf-fp16", 8, 0.1, 0.5), ("hf-bnb-8bit", 4, 0.15, 1.0), ("hf-bnb-4bit", 0, 1.2, 8.0)]


@pytest.fixture(scope="module")
def reference(smol):
    cls = registry("backends").get("llama_cpp")
    b = cls(cls.config_cls(threads=2, n_ctx=256))
    b.load(resolve.derive(smol[0], smol[1], "f16"))
    tokens = b.tokenize(TEXT)
    out = {"tokens": tokens, "logprobs": b.token_logprobs(tokens),
           "greedy": list(b.generate(b.tokenize(PROMPT), 12))}
    b.unload()
    return out


@pytest.mark.parametrize(("fmt", "n_same", "mean_tol", "max_tol"), CASES)
def test_cuda_format_agrees_with_reference(smol, reference, fmt, n_same, mean_tol, max_tol):
    torch = pytest.importorskip("torch")
    assert torch.cuda.is_available(), "marked gpu: run where an NVIDIA GPU exists"
    cls = registry("backends").get("transformers")
    b = cls(cls.config_cls(threads=2, n_ctx=256, device="cuda"))
    path = resolve.derive(smol[0], smol[1], fmt)
    b.load(path)
    got = list(b.generate(b.tokenize(PROMPT), 12))
    assert got[:n_same] == reference["greedy"][:n_same]
    diff = np.abs(b.token_logprobs(b.tokenize(TEXT)) - reference["logprobs"])
    assert diff.mean() <= mean_tol and diff.max() <= max_tol, (diff.mean(), diff.max())
    artifact = resolve.describe(path, fmt, smol[1])
    with MemorySampler() as memory:
        ctx = CellContext(artifact=artifact, load_time_s=0.1, memory=memory, seed=0)
        mem = {m.name: m for m in MemorySuite().run(b, MemoryParams(prompt_tokens=8,
                                                                     gen_tokens=2), ctx)}
    assert mem["peak_gpu_memory_bytes"].samples[0] > 0
    b.unload()


def test_bits_per_weight_fall_with_the_recipe(smol) -> None:
    bits = {fmt: resolve.describe(resolve.derive(smol[0], smol[1], fmt), fmt,
                                  smol[1]).bits_per_weight for fmt, *_ in CASES}
    assert bits["hf-fp16"] > bits["hf-bnb-8bit"] > bits["hf-bnb-4bit"] > 3.5
