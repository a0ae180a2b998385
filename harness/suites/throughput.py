"""Prefill and decode tokens/s, time to first token and inter-token latency.

Follows llama-bench: synthetic prompts of exact token length (random ids after
BOS), a cleared KV cache per repetition, warm-up runs that are not stored, and
decode timed as bare `decode_step` calls from an empty context (no sampling).
An engine without "steps" (one that samples after every forward pass) gets only the
part timed through `generate`: TTFT, inter-token latency and the decode rate it streams.
"""

from __future__ import annotations

import time
from typing import ClassVar

from pydantic import Field

from harness.backends.base import Backend
from harness.errors import HarnessError
from harness.runner.context import CellContext
from harness.suites.base import Metric, Suite, SuiteParams


class ThroughputParams(SuiteParams):
    prompt_lengths: list[int] = Field(default=[512], min_length=1)
    gen_tokens: int = Field(default=128, ge=1)
    repetitions: int = Field(default=5, ge=1, le=1000)
    warmup: int = Field(default=1, ge=0)
    ttft_prompt_tokens: int = Field(default=0, ge=0,
                                    description="prompt length for TTFT/ITL; 0 skips them")

    def required_context(self) -> int:
        return max(max(self.prompt_lengths), self.gen_tokens + 1,
                   self.ttft_prompt_tokens + self.gen_tokens)


class ThroughputSuite(Suite):
    name: ClassVar[str] = "throughput"
    params_cls: ClassVar[type[SuiteParams]] = ThroughputParams
    description: ClassVar[str] = "prefill/decode tokens per second, TTFT, inter-token latency"
    requires: ClassVar[tuple[str, ...]] = ("steps", "generate")
    """Prefill and decode tokens/s need "steps", TTFT and ITL "generate"; with a TTFT
    prompt an engine without "steps" gets the generate part alone."""

    @classmethod
    def needs(cls, params: ThroughputParams) -> tuple[str, ...]:
        return ("generate",) if params.ttft_prompt_tokens else ("steps",)

    def run(self, backend: Backend, params: ThroughputParams, ctx: CellContext) -> list[Metric]:
        rng = ctx.rng()
        bos = backend.bos_token()

        def synthetic(n: int) -> list[int]:
            tokens = rng.integers(0, backend.vocab_size, size=n).tolist()
            if bos is not None:
                tokens[0] = bos
            return tokens

        steps = "steps" in type(backend).capabilities_for(backend.config)
        if not steps and not params.ttft_prompt_tokens:
            raise HarnessError(f"backend {backend.name} cannot time bare prefill and decode "
                               "steps; fix: set ttft_prompt_tokens above 0 to time it through "
                               "generate")
        metrics = self._steps(backend, params, synthetic) if steps else []
        if params.ttft_prompt_tokens:
            metrics += self._latency(backend, params, synthetic)
        return metrics

    @staticmethod
    def _steps(backend: Backend, params: ThroughputParams, synthetic) -> list[Metric]:
        metrics: list[Metric] = []
        for n_prompt in params.prompt_lengths:
            samples = []
            for rep in range(params.warmup + params.repetitions):
                tokens = synthetic(n_prompt)
                backend.reset()
                start = time.perf_counter()
                backend.prefill(tokens)
                elapsed = time.perf_counter() - start
                if rep >= params.warmup:
                    samples.append(n_prompt / elapsed)
            metrics.append(Metric("prefill_tokens_per_s", "tokens/s", samples, True,
                                  {"prompt_tokens": n_prompt}))

        samples = []
        for rep in range(params.warmup + params.repetitions):
            tokens = synthetic(params.gen_tokens + 1)
            backend.reset()
            start = time.perf_counter()
            for token in tokens[: params.gen_tokens]:
                backend.decode_step(token)
            elapsed = time.perf_counter() - start
            if rep >= params.warmup:
                samples.append(params.gen_tokens / elapsed)
        metrics.append(Metric("decode_tokens_per_s", "tokens/s", samples, True,
                              {"gen_tokens": params.gen_tokens}))
        return metrics

    @staticmethod
    def _latency(backend: Backend, params: ThroughputParams, synthetic) -> list[Metric]:
        ttft, itl, rate = [], [], []
        for rep in range(params.warmup + params.repetitions):
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
        metrics = [Metric("ttft_ms", "ms", ttft, False, tags),
                   Metric("itl_ms", "ms", itl, False, tags)]
        if rate:  # the decode rate a caller of generate sees: sampling and bookkeeping included
            metrics.append(Metric("stream_decode_tokens_per_s", "tokens/s", rate, True, tags))
        return metrics
