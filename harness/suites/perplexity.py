"""Perplexity over a text corpus, with its standard error and bits per byte.

The `llama.cpp` scheme reproduces llama-perplexity (same chunks, same scored half,
same BOS substitution, same error formula), so a user can check one against the other.
"""

from __future__ import annotations

import math
import time
from typing import ClassVar

import numpy as np

from harness.backends.base import Backend
from harness.backends.capabilities import TokenLogprobs
from harness.data.corpora import describe, load_text
from harness.errors import HarnessError
from harness.stats import llama_perplexity
from harness.suites.base import Chart, Family, Metric, MetricSpec, Suite
from harness.suites.context import CellContext
from harness.suites.windows import Window, WindowParams, make_windows


class PerplexityParams(WindowParams):
    pass


class PerplexitySuite(Suite):
    name: ClassVar[str] = "perplexity"
    params_cls: ClassVar[type] = PerplexityParams
    description: ClassVar[str] = "perplexity ± stderr, bits per byte (llama.cpp or rolling windows)"
    requires: ClassVar[tuple[type, ...]] = (TokenLogprobs,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("perplexity", "ppl", False, "quality", threshold="mean:1%",
                   family=Family("perplexity (lower is better)", order=2), chart=(
                       Chart("Perplexity per model x format (lower is better)", order=80),
                       Chart("perplexity vs decode speed (point size = file size)",
                             style="pareto", order=110, label="perplexity",
                             against="decode_tokens_per_s",
                             x_label="decode tokens/s (median)"))),
        MetricSpec("nll_per_token", "nats", False, "quality", threshold="mean:1%",
                   description="mean negative log-likelihood of each window"),
        MetricSpec("bits_per_byte", "bits/byte", False, "quality", threshold="mean:1%"),
        MetricSpec("tokens_scored", "tokens", True, "count"),
        MetricSpec("scoring_tokens_per_s", "tokens/s", True, "speed"),
    )

    def run(self, backend: Backend, params: PerplexityParams, ctx: CellContext) -> list[Metric]:
        text = load_text(params.corpus)
        windows = corpus_windows(backend, text, params)
        start = time.perf_counter()
        nll_per_window, n_bytes = [], 0
        all_nll = []
        for window in windows:
            nll = -window_logprobs(backend, window)
            all_nll.append(nll)
            nll_per_window.append(float(nll.mean()))
            n_bytes += sum(len(backend.piece_bytes(t)) for t in window.targets())
        elapsed = time.perf_counter() - start
        nll = np.concatenate(all_nll)
        count = len(nll)
        ppl, stderr = llama_perplexity(nll)
        corpus = describe(params.corpus, text)
        # the default corpus is CPython's own docs: another Python version is another text
        tags = {"scheme": params.scheme, "n_ctx": params.n_ctx, "corpus": corpus["corpus"],
                "corpus_sha256": corpus["corpus_sha256"][:12]}
        evaluated = sum(len(w.tokens) for w in windows)
        return [
            self.metric("perplexity", [ppl], tags, stderr=stderr),
            self.metric("nll_per_token", nll_per_window, tags),
            self.metric("bits_per_byte", [float(nll.sum()) / math.log(2) / n_bytes], tags),
            self.metric("tokens_scored", [count], tags),
            self.metric("scoring_tokens_per_s", [evaluated / elapsed], tags),
        ]


def corpus_windows(backend: Backend, text: str, params: WindowParams) -> list[Window]:
    tokens = backend.tokenize(text, add_bos=True)
    adds_bos = bool(backend.tokenize("", add_bos=True))
    try:
        return make_windows(tokens, params, backend.bos_token() if adds_bos else None)
    except ValueError as exc:
        raise HarnessError(str(exc)) from None


def window_logprobs(backend: Backend, window: Window) -> np.ndarray:
    """log p of each scored target in `window` (float64, one per target)."""
    return backend.token_logprobs(window.tokens, first=window.first)
