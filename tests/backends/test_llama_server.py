"""The llama_server backend: llama.cpp's own batching server, built from the llama.cpp tree
of the installed llama-cpp-python (the first test that needs it builds it: minutes), run
on 127.0.0.1 and stopped with its process group; and the serving suite's open loop
against a real server."""

from __future__ import annotations

from pathlib import Path

import psutil
import pytest

from harness.backends.llama_cpp import LlamaCppBackend, LlamaCppConfig
from harness.backends.llama_server import LlamaServerBackend, LlamaServerConfig, binary
from harness.backends.openai_http import OpenAIHttpBackend, OpenAIHttpConfig
from harness.formats import resolve
from harness.suites.serving import ServingParams, ServingSuite
from harness.suites.serving_points import speculation_metrics
from tests.backends.serving_checks import assert_batched, run_serving

pytestmark = pytest.mark.slow

PROMPT = "The capital of France is"


@pytest.fixture(scope="module")
def f16(smol) -> Path:
    return resolve.derive(smol[0], smol[1], "f16")


@pytest.fixture(scope="module")
def server(f16):
    b = LlamaServerBackend(LlamaServerConfig(threads=2, n_ctx=1024, n_batch=256, parallel=4))
    b.load(f16)
    yield b
    b.unload()


def _run(backend, params: ServingParams, path: Path) -> tuple[list, dict]:
    return run_serving(backend, params, path, "f16")


def test_greedy_tokens_match_in_process_llama_cpp(server, f16) -> None:
    ref = LlamaCppBackend(LlamaCppConfig(threads=2, n_ctx=256, n_batch=64))
    ref.load(f16)
    prompt = ref.tokenize(PROMPT)
    expected = list(ref.generate(prompt, 12))
    ref.unload()
    assert server.tokenize(PROMPT) == prompt
    assert list(server.generate(prompt, 12)) == expected


def test_four_slots_serve_requests_at_once_and_report_their_timings(server, f16) -> None:
    params = ServingParams(concurrency=[4], requests_per_level=4, prompt_tokens=32,
                           max_tokens=16, warmup=1)
    metrics, records = _run(server, params, f16)
    point = records["concurrency=4"]
    assert_batched(point, 4, 16)  # counted from llama-server's token ids
    # the server's own report of each request rides along with the client's record
    assert all(r["server"]["predicted_n"] == 16 for r in point)
    assert all(r["server"]["prompt_n"] + r["server"].get("cache_n", 0) >= 30 for r in point)
    by = {m.name: m for m in metrics}
    assert by["requests_per_s"].samples[0] > 0 and len(by["ttft_ms"].samples) == 4


def test_unload_stops_the_server_process_group(f16) -> None:
    b = LlamaServerBackend(LlamaServerConfig(threads=1, n_ctx=256, parallel=2))
    b.load(f16)
    pid = b.processes()[0]
    assert "llama-server" in " ".join(psutil.Process(pid).cmdline())
    b.unload()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_missing_draft_is_a_clean_error(f16) -> None:
    b = LlamaServerBackend(LlamaServerConfig(threads=1, n_ctx=256, draft="q3_x"))
    with pytest.raises(Exception, match="draft 'q3_x' is neither a GGUF file nor a format"):
        b.load(f16)
    assert binary()  # built, and nothing left running (the server never started)


def test_open_loop_above_saturation_queues_as_growing_ttft(f16) -> None:
    """llama-cpp-python's server runs one request at a time: offered 30 requests/s, far
    above what it can serve, the open loop keeps sending on schedule and the wait shows up
    as time to first token."""
    b = OpenAIHttpBackend(OpenAIHttpConfig(threads=2, n_ctx=256, n_batch=64))
    b.load(f16)
    try:
        params = ServingParams(concurrency=[], rates=[30.0], arrivals="constant",
                               requests_per_level=8, prompt_tokens=32, max_tokens=16,
                               max_duration_s=30)
        metrics, records = _run(b, params, f16)
    finally:
        b.unload()
    by = {m.name: m for m in metrics}
    offered = by["offered_requests_per_s"].samples[0]
    served = by["requests_per_s"].samples[0]
    assert offered == pytest.approx(30.0, rel=0.2)
    assert served < offered / 2
    point = sorted(records["rate=30.0"], key=lambda r: r["start"])
    ttft = [r["chunks"][0][0] - r["start"] for r in point]
    assert ttft[-1] > 3 * ttft[0], ttft


@pytest.mark.parametrize("speculation", [{"draft": "q4_0"}, {"spec_type": "ngram-simple"}],
                         ids=["draft-q4_0", "ngram"])
def test_speculation_drafts_and_keeps_greedy_output(smol, f16, speculation) -> None:
    """Greedy output with speculation equals greedy output without it, and the server
    says it drafted (its timings count drafted and accepted tokens)."""
    settings = dict(speculation)
    if "draft" in settings:
        settings["draft"] = str(resolve.derive(smol[0], smol[1], "q4_0"))
    # a repeated sentence: the model goes on repeating it, so n-grams of the prompt match
    prompt_text = "The cat sat on the mat and looked at the door. " * 6
    outputs, timings = [], []
    for extra in ({}, settings):
        b = LlamaServerBackend(LlamaServerConfig(threads=2, n_ctx=512, parallel=1, **extra))
        b.load(f16)
        try:
            outputs.append(list(b.generate(b.tokenize(prompt_text), 40)))
            before = b.speculation()
            stream = b.stream_completion(prompt_text, 40)
            while True:
                try:
                    next(stream)
                except StopIteration as done:
                    timings.append(done.value)
                    break
            counted = {k: v - before[k] for k, v in b.speculation().items()}
        finally:
            b.unload()
    assert outputs[1] == outputs[0]
    assert "draft_n" not in timings[0]
    assert timings[1]["draft_n"] > 0 and 0 <= timings[1]["draft_n_accepted"] <= \
        timings[1]["draft_n"]
    # /metrics counts what the request's own timings say, and how many drafts it took
    assert counted["drafted"] == timings[1]["draft_n"]
    assert counted["accepted"] == timings[1]["draft_n_accepted"]
    assert 0 < counted["drafts"] <= counted["drafted"]
    [rate, length] = speculation_metrics(ServingSuite().spec, before, {
        k: before[k] + v for k, v in counted.items()}, {})
    assert rate.samples == [counted["accepted"] / counted["drafted"]]
    assert length.samples == [1 + counted["accepted"] / counted["drafts"]]


def test_client_ttft_and_itl_agree_with_the_servers_timings(server, f16) -> None:
    """The same requests timed twice: by the harness from the stream, by llama-server in
    its `timings` (prompt_ms: prompt processing; predicted_per_token_ms: generation time
    per generated token). One client, so no request waits for a slot."""
    params = ServingParams(concurrency=[1], requests_per_level=4, prompt_tokens=160,
                           max_tokens=32, warmup=1)
    _, records = _run(server, params, f16)
    ttft, itl = [], []
    for r in records["concurrency=1"]:
        first, last, out = r["chunks"][0][0], r["chunks"][-1][0], sum(n for _, n in r["chunks"])
        ttft.append((first - r["start"]) * 1000 / r["server"]["prompt_ms"])
        itl.append((last - first) * 1000 / (out - r["chunks"][0][1])
                   / r["server"]["predicted_per_token_ms"])
    assert all(0.9 <= x <= 1.1 for x in ttft), ttft
    assert all(0.9 <= x <= 1.1 for x in itl), itl
