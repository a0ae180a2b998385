"""vLLM's OpenAI-compatible server started by the harness on SmolLM2-135M (bf16). Opt-in
(`pytest -m vllm`): it needs vLLM's own environment (`nox -s vllm` builds it); the client
runs in whichever Python runs the tests."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig
from harness.backends.vllm_server import VllmServerBackend, VllmServerConfig
from harness.formats import resolve
from harness.suites.serving import ServingParams
from tests.backends.serving_checks import assert_batched, run_serving

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

NGRAM = {"method": "ngram", "num_speculative_tokens": 4, "prompt_lookup_max": 4,
         "prompt_lookup_min": 2}


@pytest.fixture(scope="module")
def folder(smol) -> Path:
    return resolve.derive(smol[0], smol[1], "hf-bf16")


@pytest.fixture(scope="module")
def server(folder):
    b = VllmServerBackend(VllmServerConfig(threads=2, n_ctx=512, max_num_seqs=4))
    b.load(folder)
    yield b
    b.unload()


def _run(backend, params: ServingParams, folder: Path) -> tuple[dict, dict]:
    metrics, records = run_serving(backend, params, folder, "hf-bf16")
    return {m.name: m for m in metrics}, records


def test_greedy_tokens_match_llama_cpp_on_the_same_weights(server, smol) -> None:
    ref = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=256, n_batch=64))
    ref.load(resolve.derive(smol[0], smol[1], "f16"))
    prompt = "The capital of France is"
    expected = ref.detokenize(list(ref.generate(ref.tokenize(prompt), 8)))
    ref.unload()
    assert server.detokenize(list(server.generate(server.tokenize(prompt), 8))) == expected


def test_requests_are_batched_and_counted_by_the_server(server, folder) -> None:
    params = ServingParams(concurrency=[4], requests_per_level=4, prompt_tokens=64,
                           max_tokens=16, warmup=1)
    by, records = _run(server, params, folder)
    assert_batched(records["concurrency=4"], 4, 16)
    assert by["requests_per_s"].samples[0] > 0 and "draft_acceptance_rate" not in by


def test_ngram_speculation_keeps_greedy_output_and_is_counted(server, folder) -> None:
    prompt = server.tokenize("The cat sat on the mat and looked at the door. " * 6)
    plain = list(server.generate(prompt, 40))
    b = VllmServerBackend(VllmServerConfig(threads=2, n_ctx=512, max_num_seqs=4,
                                           speculative_config=NGRAM))
    b.load(folder)
    try:
        assert list(b.generate(prompt, 40)) == plain
        params = ServingParams(concurrency=[1], requests_per_level=2, prompt_tokens=64,
                               max_tokens=32, warmup=0, corpus="python-source")
        by, _ = _run(b, params, folder)
    finally:
        b.unload()
    assert 0 < by["draft_acceptance_rate"].samples[0] <= 1
    assert 1 < by["mean_accepted_length"].samples[0] <= 1 + NGRAM["num_speculative_tokens"]


def test_unload_stops_every_process_of_the_server(folder) -> None:
    b = VllmServerBackend(VllmServerConfig(threads=2, n_ctx=256, max_num_seqs=2))
    b.load(folder)
    tree = [psutil.Process(b.processes()[0]), *psutil.Process(b.processes()[0]).children(
        recursive=True)]
    assert len(tree) >= 2  # the API server and vLLM's engine core
    b.unload()
    assert not [p for p in tree if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_sigkill_of_the_runner_during_a_vllm_server_cell(tmp_path, monkeypatch) -> None:
    """The runner killed while vLLM's engine core runs: no process of the tree survives."""
    from harness.backends.vllm import PYTHON_ENV, VllmBackend
    from tests.reliability.test_process_tree import _kill_runner_during

    monkeypatch.setenv(PYTHON_ENV, VllmBackend.interpreter())  # the run's cache is empty
    suite = tmp_path / "serve.yaml"
    suite.write_text("""\
name: serve
models: [smollm2-135m]
formats: [hf-bf16]
backends: {vllm_server: {threads: 2, n_ctx: 512}}
suites: {serving: {concurrency: [2], requests_per_level: 50, prompt_tokens: 16,
                   max_tokens: 32, warmup: 1}}
timeout_s: 600
""")
    # torch keeps its compile cache in TMPDIR (torchinductor_<user>) on purpose
    _kill_runner_during(suite, tmp_path, "EngineCore", caches=("torchinductor_",))
