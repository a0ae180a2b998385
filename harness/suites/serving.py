"""A server under concurrent streaming requests, measured from the client.

For each concurrency level N, N client threads send `requests_per_level` streaming
completion requests between them, each thread sending its next request when its last one
ends (a closed loop, like vLLM's benchmark with --max-concurrency). Per request: time to
first token, inter-token latencies, end-to-end latency, output tokens/s after the first
token. Per level: requests/s and output tokens/s over the level's wall time.

Prompts are consecutive pieces of real text of `prompt_tokens` tokens, one per request,
so no request can reuse another's cached prefix; the server re-reads each piece as text,
and the token counts it sees are stored as `prompt_tokens`.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import Field, model_validator

from harness.backends.base import Backend
from harness.backends.capabilities import Serving
from harness.data.corpora import DEFAULT_CORPUS, CorpusSpec, load_text
from harness.errors import HarnessError
from harness.suites.base import Chart, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

SERVING_CHART = "Serving: time to first token and output tokens/s vs concurrency"


class ServingParams(SuiteParams):
    concurrency: list[int] = Field(default=[1, 2, 4], min_length=1)
    requests_per_level: int = Field(default=8, ge=1)
    prompt_tokens: int = Field(default=128, ge=1)
    max_tokens: int = Field(default=64, ge=2, description="generated tokens per request")
    warmup: int = Field(default=1, ge=0, description="unrecorded requests before the first level")
    corpus: CorpusSpec = DEFAULT_CORPUS

    @model_validator(mode="after")
    def _enough_requests(self):
        if any(n < 1 for n in self.concurrency):
            raise ValueError("concurrency levels must be at least 1; fix: remove the others")
        if self.requests_per_level < max(self.concurrency):
            raise ValueError(f"requests_per_level {self.requests_per_level} is below the "
                             f"largest concurrency {max(self.concurrency)}; fix: raise it")
        return self

    def required_context(self) -> int:
        # a piece of text may come back a few tokens longer when the server re-reads it
        return self.prompt_tokens + self.max_tokens + 8


@dataclass
class _Request:
    start: float
    arrivals: list[float] = field(default_factory=list)
    tokens: list[int] = field(default_factory=list)

    @property
    def n_tokens(self) -> int:
        return sum(self.tokens)


class ServingSuite(Suite):
    name: ClassVar[str] = "serving"
    params_cls: ClassVar[type[SuiteParams]] = ServingParams
    description: ClassVar[str] = ("TTFT, inter-token latency, requests/s and output tokens/s "
                                  "at several client concurrency levels")
    requires: ClassVar[tuple[type, ...]] = (Serving,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("prompt_tokens", "tokens", True, "count"),
        MetricSpec("ttft_ms", "ms", False, "latency", chart=Chart(
            SERVING_CHART, style="concurrency", order=50,
            label="median time to first token (ms)")),
        MetricSpec("itl_ms", "ms", False, "latency"),
        MetricSpec("e2e_latency_ms", "ms", False, "latency"),
        MetricSpec("requests_per_s", "requests/s", True, "speed"),
        MetricSpec("output_tokens_per_s", "tokens/s", True, "speed", chart=Chart(
            SERVING_CHART, style="concurrency", order=50,
            label="output tokens/s, all requests together")),
        MetricSpec("output_tokens", "tokens", True, "count"),
        MetricSpec("request_output_tokens_per_s", "tokens/s", True, "speed"),
    )

    def run(self, backend: Backend, params: ServingParams, ctx: CellContext) -> list[Metric]:
        total = params.warmup + params.requests_per_level * len(params.concurrency)
        prompts = text_pieces(backend, load_text(params.corpus), params.prompt_tokens, total)
        lengths = [float(len(backend.tokenize(p))) for p in prompts]
        for prompt in prompts[: params.warmup]:
            _send(backend, prompt, params.max_tokens)
        queue = prompts[params.warmup :]

        metrics = [self.metric("prompt_tokens", lengths[params.warmup :],
                               {"prompt_tokens": params.prompt_tokens})]
        for level in params.concurrency:
            batch, queue = queue[: params.requests_per_level], queue[params.requests_per_level :]
            start = time.perf_counter()
            with ThreadPoolExecutor(max_workers=level) as pool:
                done = list(pool.map(lambda p: _send(backend, p, params.max_tokens), batch))
            wall = time.perf_counter() - start
            tags = {"concurrency": level, "prompt_tokens": params.prompt_tokens,
                    "max_tokens": params.max_tokens}
            metrics += _level_metrics(done, wall, tags)
        return metrics


def _send(backend: Backend, prompt: str, max_tokens: int) -> _Request:
    request = _Request(time.perf_counter())
    for n in backend.stream_completion(prompt, max_tokens):
        request.arrivals.append(time.perf_counter())
        request.tokens.append(n)
    if not request.arrivals:
        raise HarnessError("the server streamed no tokens for a request")
    return request


def _level_metrics(done: list[_Request], wall: float, tags: dict) -> list[Metric]:
    ttft = [(r.arrivals[0] - r.start) * 1000 for r in done]
    itl = [(b - a) * 1000 for r in done for a, b in zip(r.arrivals, r.arrivals[1:],
                                                          strict=False)]
    e2e = [(r.arrivals[-1] - r.start) * 1000 for r in done]
    # decode rate as the client sees it: tokens after the first over the time they took
    per_request = [(r.n_tokens - r.tokens[0]) / (r.arrivals[-1] - r.arrivals[0])
                   for r in done if r.arrivals[-1] > r.arrivals[0]]
    out_tokens = sum(r.n_tokens for r in done)
    spec = ServingSuite.spec
    metrics = [
        spec("ttft_ms").measure(ttft, tags),
        spec("itl_ms").measure(itl, tags),
        spec("e2e_latency_ms").measure(e2e, tags),
        spec("requests_per_s").measure([len(done) / wall], tags),
        spec("output_tokens_per_s").measure([out_tokens / wall], tags),
        spec("output_tokens").measure([r.n_tokens for r in done], tags),
    ]
    if per_request:
        metrics.append(spec("request_output_tokens_per_s").measure(per_request, tags))
    return metrics


def text_pieces(backend: Backend, text: str, n_tokens: int, count: int) -> list[str]:
    """`count` consecutive pieces of `text`, each the text of `n_tokens` tokens."""
    need = n_tokens * count
    chars = need * 6
    while True:
        tokens = backend.tokenize(text[:chars], add_bos=False)
        if len(tokens) > need or chars >= len(text):
            break
        chars *= 2
    if len(tokens) < need:
        raise HarnessError(f"the corpus has {len(tokens)} tokens, fewer than the {need} "
                           f"that {count} prompts of {n_tokens} tokens need; fix: lower "
                           "requests_per_level or prompt_tokens, or use a longer corpus")
    return [backend.detokenize(tokens[i * n_tokens : (i + 1) * n_tokens]) for i in range(count)]
