"""Load time, peak memory and file size of one model in one format on one backend.

Peak RSS covers the whole cell process from before the load, through a short
prefill and decode (so KV cache and compute buffers are touched), sampled every
few milliseconds, next to the kernel's own maximum. Where the backend started a
server that holds the model, the server's RSS is sampled too (from the suite's start:
its load-time peak is in the kernel's maximum for that process, reported beside).
"""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

from pydantic import Field

from harness.backends.base import Backend
from harness.backends.capabilities import Generating, Serving
from harness.hardware.memory import os_max_rss_bytes
from harness.suites.base import Chart, Family, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

MB = 1e6
SIZE_CHART = Chart("Peak memory and model file size per format", style="grouped", order=60,
                   scale=MB, display_unit="MB")
MEMORY = Family("peak memory (MB)", order=1, scale=MB, display_unit="MB")


class MemoryParams(SuiteParams):
    prompt_tokens: int = Field(default=128, ge=1)
    gen_tokens: int = Field(default=16, ge=1)

    def required_context(self) -> int:
        return self.prompt_tokens + self.gen_tokens


class MemorySuite(Suite):
    name: ClassVar[str] = "memory"
    params_cls: ClassVar[type[SuiteParams]] = MemoryParams
    description: ClassVar[str] = "load time, peak RSS, GPU memory, model file size"
    requires: ClassVar[tuple[type, ...]] = (Generating,)
    samples_memory: ClassVar[bool] = True
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("load_time_s", "s", False, "latency"),
        MetricSpec("peak_rss_bytes", "bytes", False, "memory", family=MEMORY,
                   chart=replace(SIZE_CHART, label="peak RSS")),
        MetricSpec("os_max_rss_bytes", "bytes", False, "memory"),
        MetricSpec("model_file_bytes", "bytes", False, "size",
                   chart=replace(SIZE_CHART, label="file size")),
        MetricSpec("server_peak_rss_bytes", "bytes", False, "memory",
                   family=replace(MEMORY, rank=-1,
                                  note="memory of an HTTP backend is its server's")),
        MetricSpec("server_os_max_rss_bytes", "bytes", False, "memory"),
        MetricSpec("peak_gpu_memory_bytes", "bytes", False, "memory"),
    )

    def run(self, backend: Backend, params: MemoryParams, ctx: CellContext) -> list[Metric]:
        servers = backend.processes() if isinstance(backend, Serving) else []
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
            self.metric("load_time_s", [ctx.load_time_s]),
            self.metric("peak_rss_bytes", [ctx.memory.peak_rss], sampler),
            self.metric("os_max_rss_bytes", [os_max_rss_bytes()]),
            self.metric("model_file_bytes", [ctx.artifact.size_bytes]),
        ]
        if servers:
            metrics += [
                self.metric("server_peak_rss_bytes", [ctx.memory.peak_watched_rss],
                            {"sampler": sampler["sampler"]}),
                self.metric("server_os_max_rss_bytes",
                            [sum(os_max_rss_bytes(pid) for pid in servers)]),
            ]
        if ctx.memory.gpu_present:
            metrics.append(self.metric("peak_gpu_memory_bytes", [ctx.memory.peak_gpu]))
        return metrics
