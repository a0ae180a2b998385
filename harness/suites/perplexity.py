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
from harness.data.corpora import describe, load_text
from harness.errors import HarnessError
from harness.runner.context import CellContext
from harness.suites.base import Metric, Suite
from harness.suites.windows import Window, WindowParams, make_windows


class PerplexityParams(WindowParams):
    pass


class PerplexitySuite(Suite):
    name: ClassVar[str] = "perplexity"
    params_cls: ClassVar[type] = PerplexityParams
    description: ClassVar[str] = "perplexity ± stderr, bits per byte (llama.cpp or rolling windows)"
    requires: ClassVar[tuple[str, ...]] = ("token_logprobs",)

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
        mean = float(nll.mean())
        ppl = math.exp(mean)
        # llama-perplexity's estimate: sqrt((E[nll^2] - E[nll]^2) / (count - 1)) * ppl
        var = float((nll.astype(np.float64) ** 2).mean() - mean**2)
        stderr = math.sqrt(max(var, 0.0) / (count - 1)) * ppl
        corpus = describe(params.corpus, text)
        # the default corpus is CPython's own docs: another Python version is another text
        tags = {"scheme": params.scheme, "n_ctx": params.n_ctx, "corpus": corpus["corpus"],
                "corpus_sha256": corpus["corpus_sha256"][:12]}
        evaluated = sum(len(w.tokens) for w in windows)
        return [
            Metric("perplexity", "ppl", [ppl], False, tags, stderr=stderr),
            Metric("nll_per_token", "nats", nll_per_window, False, tags),
            Metric("bits_per_byte", "bits/byte", [float(nll.sum()) / math.log(2) / n_bytes],
                   False, tags),
            Metric("tokens_scored", "tokens", [float(count)], True, tags),
            Metric("scoring_tokens_per_s", "tokens/s", [evaluated / elapsed], True, tags),
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
