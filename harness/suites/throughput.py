"""Prefill and decode tokens/s, time to first token and inter-token latency.

Follows llama-bench: synthetic prompts of exact token length (random ids after
BOS), a cleared KV cache per repetition, warm-up runs that are not stored, and
decode timed as bare `decode_step` calls from an empty context (no sampling). With
`depths: [0, 512, 2048]` (llama-bench's `-d`) prefill and decode are also timed with that
many tokens already in the KV cache: each repetition clears it, evaluates the depth's
tokens untimed, then times the prompt or the decode steps on top (tag `depth`).
An engine that is not `Stepped` (one that samples after every forward pass) gets only the
part timed through `generate`: TTFT, inter-token latency and the decode rate it streams.
Every repetition starts with `ctx.take_turn()` (lockstep under `harness ab`).
"""

from __future__ import annotations

import time
from typing import Annotated, ClassVar

from pydantic import Field

from harness.backends.base import Backend
from harness.backends.capabilities import Generating, Stepped, has
from harness.errors import HarnessError
from harness.suites.base import Chart, Family, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

DECODE = Family("decode tokens/s", order=0)
DEPTH_CHART = "Prefill and decode tokens/s against context depth (tokens already cached)"


class ThroughputParams(SuiteParams):
    prompt_lengths: list[Annotated[int, Field(ge=1)]] = Field(
        default=[512], min_length=1)
    gen_tokens: int = Field(default=128, ge=1)
    repetitions: int = Field(default=5, ge=1, le=1000)
    warmup: int = Field(default=1, ge=0)
    ttft_prompt_tokens: int = Field(default=0, ge=0,
                                    description="prompt length for TTFT/ITL; 0 skips them")
    depths: list[Annotated[int, Field(ge=0)]] = Field(
        default=[0], min_length=1, description="tokens already in the KV cache when prefill "
        "and decode are timed (llama-bench -d)")

    def required_context(self) -> int:
        return max(max(self.depths) + max(max(self.prompt_lengths), self.gen_tokens + 1),
                   self.ttft_prompt_tokens + self.gen_tokens)


class ThroughputSuite(Suite):
    name: ClassVar[str] = "throughput"
    params_cls: ClassVar[type[SuiteParams]] = ThroughputParams
    description: ClassVar[str] = "prefill/decode tokens per second, TTFT, inter-token latency"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("prefill_tokens_per_s", "tokens/s", True, "speed", chart=(
            Chart("Prefill tokens/s per model x format", order=20),
            Chart(DEPTH_CHART, style="vs_depth", order=25, label="prefill tokens/s"))),
        MetricSpec("decode_tokens_per_s", "tokens/s", True, "speed", family=DECODE, chart=(
            Chart("Decode tokens/s per model x format (roofline: memory bandwidth)",
                  style="roofline", order=10),
            Chart(DEPTH_CHART, style="vs_depth", order=25, label="decode tokens/s"),
            Chart("Decode speed vs model file size", style="vs_size", order=70,
                  label="decode tokens/s (median)"))),
        MetricSpec("ttft_ms", "ms", False, "latency", chart=Chart("Time to first token",
                                                                  order=30)),
        MetricSpec("itl_ms", "ms", False, "latency"),
        MetricSpec("stream_decode_tokens_per_s", "tokens/s", True, "speed",
                   family=Family(DECODE.panel, rank=1, order=DECODE.order),
                   chart=Chart("Decode tokens/s through streaming generate (every engine; "
                               "includes token selection and, over HTTP, the network)",
                               order=40)),
    )
    requires: ClassVar[tuple[type, ...]] = (Stepped, Generating)
    """Prefill and decode tokens/s need `Stepped`, TTFT and ITL `Generating`; with a TTFT
    prompt an engine that is not `Stepped` gets the generate part alone."""

    @classmethod
    def needs(cls, params: ThroughputParams) -> tuple[type, ...]:
        return (Generating,) if params.ttft_prompt_tokens else (Stepped,)

    def run(self, backend: Backend, params: ThroughputParams, ctx: CellContext) -> list[Metric]:
        rng = ctx.rng()
        bos = backend.bos_token()

        def synthetic(n: int, first: bool = True) -> list[int]:
            """`first`: the text starts here (BOS first, where the model uses one)."""
            tokens = rng.integers(0, backend.vocab_size, size=n).tolist()
            if bos is not None and first and tokens:
                tokens[0] = bos
            return tokens

        steps = has(type(backend), backend.config, Stepped)
        if not steps and not params.ttft_prompt_tokens:
            raise HarnessError(f"backend {backend.name} cannot time bare prefill and decode "
                               "steps; fix: set ttft_prompt_tokens above 0 to time it through "
                               "generate")
        metrics = self._steps(backend, params, synthetic, ctx.take_turn) if steps else []
        if params.ttft_prompt_tokens:
            metrics += self._latency(backend, params, synthetic, ctx.take_turn)
        return metrics

    @staticmethod
    def _steps(backend: Backend, params: ThroughputParams, synthetic, take_turn
               ) -> list[Metric]:
        metrics: list[Metric] = []

        def at_depth(depth: int) -> bool:
            """A cleared cache holding `depth` tokens (untimed); whether text starts next."""
            backend.reset()
            if depth:
                backend.prefill(synthetic(depth))
            return depth == 0

        for depth in params.depths:
            # depth 0 keeps the tags results had before depths existed
            extra = {"depth": depth} if depth else {}
            for n_prompt in params.prompt_lengths:
                samples = []
                for rep in range(params.warmup + params.repetitions):
                    take_turn()
                    tokens = synthetic(n_prompt, at_depth(depth))
                    start = time.perf_counter()
                    backend.prefill(tokens)
                    elapsed = time.perf_counter() - start
                    if rep >= params.warmup:
                        samples.append(n_prompt / elapsed)
                metrics.append(ThroughputSuite.spec("prefill_tokens_per_s").measure(
                    samples, {"prompt_tokens": n_prompt, **extra}))

            samples = []
            for rep in range(params.warmup + params.repetitions):
                take_turn()
                tokens = synthetic(params.gen_tokens + 1, at_depth(depth))
                start = time.perf_counter()
                for token in tokens[: params.gen_tokens]:
                    backend.decode_step(token)
                elapsed = time.perf_counter() - start
                if rep >= params.warmup:
                    samples.append(params.gen_tokens / elapsed)
            metrics.append(ThroughputSuite.spec("decode_tokens_per_s").measure(
                samples, {"gen_tokens": params.gen_tokens, **extra}))
        return metrics

    @staticmethod
    def _latency(backend: Backend, params: ThroughputParams, synthetic, take_turn
                 ) -> list[Metric]:
        ttft, itl, rate = [], [], []
        for rep in range(params.warmup + params.repetitions):
            take_turn()
            prompt = synthetic(params.ttft_prompt_tokens)
            start = last = time.perf_counter()
            gaps = []
            for i, _ in enumerate(backend.generate(prompt, params.gen_tokens)):
                now = time.perf_counter()
                if i == 0:
                    first = now - start
                else:
                    gaps.append(now - last)
                last = now
            if rep >= params.warmup:
                ttft.append(first * 1000)
                itl += [g * 1000 for g in gaps]
                if gaps:
                    rate.append(len(gaps) / sum(gaps))
        tags = {"prompt_tokens": params.ttft_prompt_tokens, "gen_tokens": params.gen_tokens}
        spec = ThroughputSuite.spec
        metrics = [spec("ttft_ms").measure(ttft, tags), spec("itl_ms").measure(itl, tags)]
        if rate:  # the decode rate a caller of generate sees: sampling and bookkeeping included
            metrics.append(spec("stream_decode_tokens_per_s").measure(rate, tags))
        return metrics
