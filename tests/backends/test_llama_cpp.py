"""The llama.cpp backend on the real SmolLM2 model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig
from harness.errors import BackendError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def backend(smol):
    b = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=256, n_batch=64))
    b.load(smol[0])
    yield b
    b.unload()


def test_tokenize_roundtrip(backend) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    tokens = backend.tokenize(text, add_bos=False)
    assert 5 < len(tokens) < len(text)
    assert backend.detokenize(tokens).strip() == text
    assert backend.vocab_size == 49152


def test_greedy_generation_is_deterministic_and_sensible(backend) -> None:
    prompt = backend.tokenize("The capital of France is", add_bos=False)
    first = list(backend.generate(prompt, 6))
    second = list(backend.generate(prompt, 6))
    assert first == second and len(first) == 6
    assert "Paris" in backend.detokenize(first)


def test_logprobs_agree_with_greedy_generation(backend) -> None:
    prompt = backend.tokenize("The capital of France is", add_bos=False)
    greedy = list(backend.generate(prompt, 8))
    rng = np.random.default_rng(0)
    scrambled = rng.integers(0, backend.vocab_size, size=8).tolist()
    lp_greedy = backend.token_logprobs(prompt + greedy)
    lp_random = backend.token_logprobs(prompt + scrambled)
    assert lp_greedy.shape == (len(prompt) + 7,)
    assert np.all(lp_greedy <= 0) and np.all(np.isfinite(lp_greedy))
    # the same prefix scores the same whatever follows it
    np.testing.assert_allclose(lp_greedy[: len(prompt) - 1], lp_random[: len(prompt) - 1],
                               atol=1e-4)
    # greedy continuations are far more likely than random tokens
    assert lp_greedy[len(prompt) - 1:].mean() > lp_random[len(prompt) - 1:].mean() + 5


def test_logprobs_span_several_batches(backend) -> None:
    text = " ".join(["the cat sat on the mat"] * 20)
    tokens = backend.tokenize(text, add_bos=False)[:150]
    assert len(tokens) > backend.config.n_batch  # crosses a batch boundary
    lp = backend.token_logprobs(tokens)
    assert len(lp) == len(tokens) - 1
    assert lp[-40:].mean() > -1.0  # a repeated phrase becomes predictable


def test_timed_primitives_run_from_an_empty_cache(backend) -> None:
    backend.reset()
    backend.prefill(list(range(100, 132)))
    for token in range(5):
        backend.decode_step(token + 200)
    backend.reset()
    backend.prefill(list(range(100, 132)))  # would overflow position bookkeeping without reset


def test_too_long_input_is_a_backend_error(backend) -> None:
    with pytest.raises(BackendError, match="exceed n_ctx"):
        backend.token_logprobs(list(range(300)))


def test_shared_prefix_scoring_matches_full_sequences(backend) -> None:
    prefix = backend.tokenize("Question: what is the capital of France?\nAnswer:", False)
    conts = [backend.tokenize(t, add_bos=False) for t in (" Paris", " London", " Paris is")]
    fast = backend.continuation_logprobs(prefix, conts)
    for (total, _greedy), cont in zip(fast, conts, strict=True):
        full = backend.token_logprobs(prefix + cont)[len(prefix) - 1:]
        assert total == pytest.approx(full.sum(), abs=2e-3)
    assert fast[0][0] > fast[1][0]  # Paris beats London


def test_rows_are_normalised_distributions(backend) -> None:
    tokens = backend.tokenize("One two three four five six", add_bos=False)
    rows = np.concatenate([r for _, r in backend.logprob_rows(tokens, first=2)])
    assert rows.shape == (len(tokens) - 2, backend.vocab_size)
    np.testing.assert_allclose(np.exp(rows).sum(axis=1), 1.0, rtol=1e-4)


def test_sampling_is_seeded(backend) -> None:
    prompt = backend.tokenize("Once upon a time", add_bos=False)
    a = list(backend.generate(prompt, 12, temperature=1.0, seed=1))
    b = list(backend.generate(prompt, 12, temperature=1.0, seed=1))
    c = list(backend.generate(prompt, 12, temperature=1.0, seed=2))
    assert a == b and a != c


def test_unloadable_file_is_a_backend_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 64)
    b = LlamaCppBackend(LlamaCppConfig(threads=1, n_ctx=64))
    with pytest.raises(BackendError, match="could not load"):
        b.load(bad)
    b.unload()


@pytest.mark.parametrize(("repack", "amx", "extra"), [
    ("auto", False, True), ("auto", True, False), ("on", True, True), ("off", False, False)])
def test_extra_buffers_are_off_on_amx_cpus_unless_asked(monkeypatch, repack, amx,
                                                        extra) -> None:
    # llama.cpp's AMX matmul segfaults on Sapphire Rapids VMs (llama.cpp issue 20824; every
    # prefill of this project's models crashed on 2026-12-02's VM until these were off)
    monkeypatch.setattr("harness.backends.llama_cpp.cpu_has_amx", lambda: amx)
    config = LlamaCppConfig(repack=repack)
    assert config.extra_buffers() is extra
    # at its default the setting stays out of the stored settings (cell keys unchanged)
    assert ("repack" in config.model_dump()) is (repack != "auto")

