"""vLLM's offline engine on SmolLM2-135M (bf16). Opt-in: `nox -s vllm` runs these in
vLLM's own environment (`pytest -m vllm` there); the cross-environment test also needs
HARNESS_MAIN_PYTHON, a Python with this harness and without vLLM (the session sets it).
The checks shared with other engines are in test_conformance.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from harness.backends.capabilities import Stepped
from harness.backends.vllm import VllmBackend, VllmConfig
from harness.formats import resolve
from harness.results.frame import load_frame

pytestmark = [pytest.mark.slow, pytest.mark.vllm]

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def folder(smol) -> Path:
    return resolve.derive(smol[0], smol[1], "hf-bf16")


@pytest.fixture(scope="module")
def engine(folder):
    b = VllmBackend(VllmConfig(threads=2, n_ctx=256))
    b.load(folder)
    yield b
    b.unload()


def test_this_environment_runs_vllm() -> None:
    assert VllmBackend.available()
    assert VllmBackend.version().startswith("vllm")


def test_generate_yields_while_the_request_still_runs(engine) -> None:
    running = [engine._engine.has_unfinished_requests() for _ in engine.generate(
        engine.tokenize(PROMPT), 8)]
    assert len(running) == 8
    assert running[0], "the first token came only after the request had finished"


def test_sampling_follows_the_seed(engine) -> None:
    prompt = engine.tokenize(PROMPT)
    runs = {seed: list(engine.generate(prompt, 16, temperature=1.0, seed=seed))
            for seed in (1, 2, 3)}
    assert list(engine.generate(prompt, 16, temperature=1.0, seed=1)) == runs[1]
    assert runs[2] != runs[1] or runs[3] != runs[1]


def test_an_abandoned_stream_does_not_disturb_the_next_call(engine) -> None:
    prompt = engine.tokenize(PROMPT)
    greedy = list(engine.generate(prompt, 8))
    stream = engine.generate(prompt, 64)
    next(stream)
    del stream
    assert list(engine.generate(prompt, 8)) == greedy


def test_a_second_engine_leaves_the_first_working(engine, folder) -> None:
    """The KL suite loads its reference beside the measured engine, in one process."""
    prompt = engine.tokenize(PROMPT)
    greedy = list(engine.generate(prompt, 8))
    other = VllmBackend(VllmConfig(threads=2, n_ctx=256))
    other.load(folder)
    assert list(other.generate(prompt, 8)) == greedy
    other.unload()
    assert list(engine.generate(prompt, 8)) == greedy


def test_bare_steps_are_not_claimed(engine) -> None:
    """vLLM samples after every forward pass: no bare prefill or decode step to time."""
    assert not isinstance(engine, Stepped) and not hasattr(engine, "prefill")


def test_matrix_runs_vllm_cells_with_vllms_python(folder, tmp_path: Path) -> None:
    """A user's HF folder, run from an environment without vLLM: the transformers cells
    in that environment, the vllm cells in vLLM's, one run, one store."""
    main = os.environ.get("HARNESS_MAIN_PYTHON")
    if not main:
        pytest.fail("set HARNESS_MAIN_PYTHON to a Python with this harness and without vLLM "
                    "(nox -s vllm does)")
    probe = subprocess.run([main, "-c", "import importlib.util as u; print(u.find_spec('vllm'))"],
                           capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "None", "HARNESS_MAIN_PYTHON must not have vLLM"
    (tmp_path / "plan.yaml").write_text(
        "name: vllm-cross\n"
        f"models: [{{name: smol-folder, path: {folder}}}]\n"
        "backends:\n"
        "  transformers: {n_ctx: 256, threads: 2}\n"
        "  vllm: {n_ctx: 256, threads: 2}\n"
        "suites:\n"
        "  throughput: {prompt_lengths: [16], gen_tokens: 8, repetitions: 2,"
        " ttft_prompt_tokens: 16}\n"
        "  memory: {prompt_tokens: 16, gen_tokens: 4}\n"
        "  perplexity: {n_ctx: 64, max_tokens: 256}\n")
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    proc = subprocess.run(
        [str(Path(main).with_name("harness")), "run", "plan.yaml", "--results-dir", "results",
         "--profiles-dir", "profiles", "--report-dir", "reports"],
        cwd=tmp_path, capture_output=True, text=True, timeout=1800, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    frame = load_frame([tmp_path / "results"])
    assert set(frame["status"]) == {"ok"}
    assert set(frame["backend"]) == {"transformers", "vllm"}
    ours = frame[frame["backend"] == "vllm"]
    assert ours["backend_version"].iloc[0] == VllmBackend.version()
    names = set(ours["metric_name"])
    assert {"ttft_ms", "itl_ms", "stream_decode_tokens_per_s", "perplexity",
            "peak_rss_bytes"} <= names
    assert "decode_tokens_per_s" not in names  # no bare decode steps on vLLM
    ppl = frame[frame["metric_name"] == "perplexity"].set_index("backend")["median"]
    assert ppl["vllm"] == pytest.approx(ppl["transformers"], rel=0.05)
    settings = ours["backend_settings"].iloc[0]
    assert settings["engine_in_process"] is True and settings["dtype"] == "bfloat16"
