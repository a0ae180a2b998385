"""Load time, peak memory and file size of one model in one format on one backend.

Peak RSS covers the whole cell process from before the load, through a short
prefill and decode (so KV cache and compute buffers are touched), sampled every
few milliseconds, next to the kernel's own maximum. Where the backend started a
server that holds the model, the server's RSS is sampled too (from the suite's start:
its load-time peak is in the kernel's maximum for that process, reported beside).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from harness.backends.base import Backend
from harness.hardware.memory import os_max_rss_bytes
from harness.runner.context import CellContext
from harness.suites.base import Metric, Suite, SuiteParams


class MemoryParams(SuiteParams):
    prompt_tokens: int = Field(default=128, ge=1)
    gen_tokens: int = Field(default=16, ge=1)

    def required_context(self) -> int:
        return self.prompt_tokens + self.gen_tokens


class MemorySuite(Suite):
    name: ClassVar[str] = "memory"
    params_cls: ClassVar[type[SuiteParams]] = MemoryParams
    description: ClassVar[str] = "load time, peak RSS, GPU memory, model file size"
    requires: ClassVar[tuple[str, ...]] = ("generate",)
    samples_memory: ClassVar[bool] = True

    def run(self, backend: Backend, params: MemoryParams, ctx: CellContext) -> list[Metric]:
        servers = backend.processes()
        ctx.memory.watch(servers)
        ctx.memory.sample()
        prompt = ctx.rng().integers(0, backend.vocab_size, size=params.prompt_tokens).tolist()
        for _ in backend.generate(prompt, params.gen_tokens):
            pass
        ctx.memory.sample()
        sampler = {"sampler": f"{ctx.memory.interval_s * 1000:g} ms"}
        if servers:
            sampler["processes"] = "cell + server"
        metrics = [
            Metric("load_time_s", "s", [ctx.load_time_s], False),
            Metric("peak_rss_bytes", "bytes", [float(ctx.memory.peak_rss)], False, sampler),
            Metric("os_max_rss_bytes", "bytes", [float(os_max_rss_bytes())], False),
            Metric("model_file_bytes", "bytes", [float(ctx.artifact.size_bytes)], False),
        ]
        if servers:
            metrics += [
                Metric("server_peak_rss_bytes", "bytes", [float(ctx.memory.peak_watched_rss)],
                       False, {"sampler": sampler["sampler"]}),
                Metric("server_os_max_rss_bytes", "bytes",
                       [float(sum(os_max_rss_bytes(pid) for pid in servers))], False),
            ]
        if ctx.memory.gpu_present:
            metrics.append(Metric("peak_gpu_memory_bytes", "bytes",
                                  [float(ctx.memory.peak_gpu)], False))
        return metrics
