"""Test-only plugins: a backend that misbehaves on request, for the runner's orchestration
tests (crash, hang, exception), stand-ins for an uninstalled engine and for one that only
streams, and a trivial suite. Never evidence that an engine works (harness_minillama, in
the same distribution, is a real one)."""

from __future__ import annotations

import os
import signal
import time
from typing import ClassVar, Literal

import numpy as np

from harness.backends.base import Backend, BackendConfig
from harness.backends.capabilities import Generating, LogprobRows, Stepped
from harness.errors import BackendError
from harness.suites.base import Chart, Metric, MetricSpec, Suite, SuiteParams


class FaultyConfig(BackendConfig):
    mode: Literal["ok", "crash", "hang", "raise", "killed", "nan", "garbled"] = "ok"
    """killed: SIGKILL to itself, which is what the kernel's OOM killer does. nan: the tick
    suite reports NaN and infinite samples. garbled: the worker sends half a result, then
    is killed (a child killed while it writes its outcome)."""
    sleep_s: float = 0.0
    """Seconds `load` sleeps first: a slow cell, for tests that kill the runner mid-cell."""
    tag: str = ""
    """With HARNESS_TEST_ORDER naming a file, the tick suites append "<tag> <suite> <pid>"
    to it each time they run: the order the runner ran cells and processes in (the
    `faulty-b` backend, the same class, gives a plan a second tag)."""
    fail_from: int = 0
    """Above 0: `load` raises once this tag has run that many times (the order file
    counts): a cell whose later worker process fails."""


class _ByteModel(Backend):
    """A 256-token byte "model" that misbehaves in `load` on request."""

    accepts: ClassVar[tuple[str, ...]] = ("gguf",)
    config_cls: ClassVar[type[BackendConfig]] = FaultyConfig

    @classmethod
    def version(cls) -> str:
        return "0.1"

    def load(self, artifact) -> None:
        time.sleep(self.config.sleep_s)
        mode = self.config.mode
        if mode == "garbled":
            from harness.runner import worker

            os.write(worker.OUTCOME_FD, b'{"status": "ok", "metrics": [{"name": "ti')
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if mode == "hang":
            time.sleep(3600)
        if mode == "killed":
            os.kill(os.getpid(), signal.SIGKILL)
        if mode == "raise":
            raise BackendError("refused on purpose")
        if self.config.fail_from and len(_runs(self.config.tag)) >= self.config.fail_from:
            raise BackendError(f"refused on run {self.config.fail_from + 1} on purpose")

    def unload(self) -> None: ...
    def tokenize(self, text, add_bos=True): return [ord(c) % 256 for c in text]
    def detokenize(self, tokens): return "".join(chr(t) for t in tokens)
    @property
    def vocab_size(self) -> int: return 256
    def ends_generation(self, token): return False


class FaultyBackend(_ByteModel, Stepped, LogprobRows):
    def reset(self) -> None: ...
    def prefill(self, tokens) -> None: ...
    def decode_step(self, token) -> None: ...
    def last_logits(self): return np.zeros(256, dtype=np.float32)
    def logprob_rows(self, tokens, first=0):
        yield first, np.full((len(tokens) - first, 256), -np.log(256), dtype=np.float32)


class FaultyBBackend(FaultyBackend):
    """The same, under a second name: a plan's second cell per suite, with its own tag."""


def _runs(tag: str) -> list[str]:
    """The lines the tick suites recorded for `tag` so far."""
    path = os.environ.get("HARNESS_TEST_ORDER")
    if not path or not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as handle:
        return [line for line in handle.read().splitlines() if line.split(" ")[0] == tag]


def _record(backend, suite: str) -> None:
    path = os.environ.get("HARNESS_TEST_ORDER")
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(f"{getattr(backend.config, 'tag', '')} {suite} {os.getpid()}\n")


class TickSuite(Suite):
    description: ClassVar[str] = "test-only: one sample of elapsed time"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (MetricSpec("tick_s", "s", False, "latency"),)
    requires: ClassVar[tuple[type, ...]] = (Stepped,)

    def run(self, backend, params: SuiteParams, ctx) -> list[Metric]:
        _record(backend, "tick")
        start = time.perf_counter()
        backend.decode_step(0)
        if getattr(backend.config, "mode", None) == "nan":
            return [Metric("tick_s", "s", [float("nan"), float("inf"), -float("inf"), 1.5],
                           False)]
        return [Metric("tick_s", "s", [time.perf_counter() - start], False)]


class TickCountSuite(Suite):
    """An untimed tick: one count, so its cells run once whatever `processes` says."""

    description: ClassVar[str] = "test-only: counts one step"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (MetricSpec("ticks", "steps", True, "count"),)
    requires: ClassVar[tuple[type, ...]] = (Stepped,)

    def run(self, backend, params: SuiteParams, ctx) -> list[Metric]:
        _record(backend, "tick-count")
        backend.decode_step(0)
        return [self.metric("ticks", [1.0])]


class MissingBackend(FaultyBackend):
    """Stands for a backend whose engine package is not installed."""

    install_hint: ClassVar[str] = "pip install 'harness[missing-engine]'"

    @classmethod
    def available(cls) -> bool:
        return False


class GenerateOnlyBackend(_ByteModel, Generating):
    """Stands for an engine behind an API that streams tokens and nothing else."""

    def generate(self, prompt, max_new_tokens, temperature=0.0, seed=0):
        yield from (0 for _ in range(max_new_tokens))


class WidgetSuite(Suite):
    """A third-party suite: one quality and one speed metric, each with its chart. Its
    verdicts, charts and export come from these declarations; no core module names it."""

    description: ClassVar[str] = "test-only: a quality score and a speed, each charted"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("widget_score", "score", True, "quality", threshold="mean:0.05",
                   chart=Chart("Widget score per model x format", order=200)),
        MetricSpec("widget_tokenize_per_s", "calls/s", True, "speed",
                   chart=Chart("Widget tokenize speed vs model file size", style="vs_size",
                               order=210)),
    )

    def run(self, backend, params: SuiteParams, ctx) -> list[Metric]:
        rates = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(200):
                backend.tokenize("widget")
            rates.append(200 / (time.perf_counter() - start))
        return [self.metric("widget_score", [0.75], stderr=0.01),
                self.metric("widget_tokenize_per_s", rates)]


class SandboxSleepSuite(Suite):
    """Runs one sleeping program in the HumanEval sandbox, for the test that kills the
    runner while a sandboxed program lives (nothing may survive it)."""

    description: ClassVar[str] = "test-only: a sandboxed program that sleeps"
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("sandbox_passed", "programs", True, "count"),)

    def run(self, backend, params: SuiteParams, ctx) -> list[Metric]:
        from harness.evaluation.sandbox import Limits, run_untrusted

        outcome = run_untrusted("import time\ntime.sleep(600)\n",
                                Limits(timeout_s=600, cpu_s=600))
        return [self.metric("sandbox_passed", [float(outcome.passed)])]
