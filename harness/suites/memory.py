"""Load time, peak memory and file size of one model in one format on one backend.

Peak RSS covers the whole cell process from before the load, through a short
prefill and decode (so KV cache and compute buffers are touched), sampled every
few milliseconds, next to the kernel's own maximum. Where the backend started a
server that holds the model, the server's RSS is sampled too (from the suite's start:
its load-time peak is in the kernel's maximum for that process, reported beside).

With `depths: [512, 2048]`, an engine that steps its KV cache and can say what it holds
(llama.cpp: the sequence's saved-state size; transformers: its cache tensors) reports the
KV-cache bytes with that many tokens cached, beside the bytes the model's own dimensions
imply (harness.models.kv_dims); a gap of more than 10 % is logged and tagged.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Annotated, ClassVar

import psutil
from pydantic import Field

from harness.backends.base import Backend
from harness.backends.capabilities import Generating, Serving, Stepped
from harness.hardware.memory import os_max_rss_bytes, with_descendants
from harness.suites.base import Chart, Family, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext

MB = 1e6
SIZE_CHART = Chart("Peak memory and model file size per format", style="grouped", order=60,
                   scale=MB, display_unit="MB")
MEMORY = Family("peak memory (MB)", order=1, scale=MB, display_unit="MB")
KV_CHART = ("KV-cache bytes against context depth: measured, and computed as layers x KV "
            "heads x (key + value size) x element bytes x depth")
KV_TOLERANCE = 0.10
log = logging.getLogger(__name__)


class MemoryParams(SuiteParams):
    prompt_tokens: int = Field(default=128, ge=1)
    gen_tokens: int = Field(default=16, ge=1)
    depths: list[Annotated[int, Field(ge=1)]] = Field(
        default=[], description="KV-cache bytes with this many tokens cached")

    def required_context(self) -> int:
        return max(self.prompt_tokens + self.gen_tokens, max(self.depths, default=0))


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
        MetricSpec("kv_cache_bytes", "bytes", False, "memory",
                   chart=Chart(KV_CHART, style="vs_depth", order=26,
                               label="measured KV cache (bytes)"),
                   description="what the engine holds for the cached tokens"),
        MetricSpec("kv_cache_computed_bytes", "bytes", False, "memory",
                   chart=Chart(KV_CHART, style="vs_depth", order=26,
                               label="computed from the model's dimensions (bytes)")),
        MetricSpec("kv_cache_bytes_per_token", "bytes", False, "memory"),
        MetricSpec("kv_cache_measured_over_computed", "ratio", False, "count",
                   description="tagged disagrees when more than 10 % from 1"),
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
                            [sum(os_max_rss_bytes(p.pid) for p in with_descendants(
                                [psutil.Process(pid) for pid in servers]))]),
            ]
        if ctx.memory.gpu_present:
            metrics.append(self.metric("peak_gpu_memory_bytes", [ctx.memory.peak_gpu]))
        if params.depths and isinstance(backend, Stepped):
            metrics += self._kv_cache(backend, params, ctx)
        return metrics

    def _kv_cache(self, backend: Stepped, params: MemoryParams, ctx: CellContext
                  ) -> list[Metric]:
        from harness.models.kv_dims import kv_dims

        dims = kv_dims(ctx.artifact.path)
        metrics = []
        for depth in params.depths:
            backend.reset()
            backend.prefill(ctx.rng().integers(0, backend.vocab_size, size=depth).tolist())
            usage = backend.kv_cache_usage()
            if usage is None:
                return metrics
            held, element_bytes = usage
            tags = {"depth": depth}
            metrics += [self.metric("kv_cache_bytes", [held], tags),
                        self.metric("kv_cache_bytes_per_token", [held / depth], tags)]
            if dims is None:
                continue
            computed = dims.bytes_per_token(element_bytes) * depth
            ratio = held / computed
            if abs(ratio - 1) > KV_TOLERANCE:
                log.warning("KV cache at depth %d: the engine holds %d bytes, the model's "
                            "dimensions give %d (%.0f %% apart)", depth, held, computed,
                            abs(ratio - 1) * 100)
                tags = {**tags, "disagrees": f"more than {KV_TOLERANCE:.0%}"}
            metrics += [self.metric("kv_cache_computed_bytes", [computed], {"depth": depth}),
                        self.metric("kv_cache_measured_over_computed", [ratio], tags)]
        backend.reset()
        return metrics
