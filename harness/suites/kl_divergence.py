"""KL divergence of a format's next-token distributions from a reference format.

The reference (default F16 of the same model, on the same backend) is evaluated once
over the same windows as perplexity and stored compactly: per scored position its
top-k token ids and log-probabilities plus the log of the remaining mass. KL(P_ref||Q)
is then exact over that coarsened distribution (top-k tokens + one "rest" bucket),
which by the data-processing inequality is a lower bound of the full KL, tight when
the top-k holds nearly all of the mass (the stored tail mass says how much it missed).
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import ClassVar

import numpy as np
from pydantic import Field, field_validator

from harness.backends.base import Backend
from harness.backends.capabilities import LogprobRows
from harness.cache import atomic_target, cache_dir
from harness.data.corpora import describe, load_text
from harness.stats import binomial_standard_error, standard_error
from harness.suites.base import Chart, Metric, MetricSpec, Suite
from harness.suites.context import CellContext
from harness.suites.perplexity import corpus_windows
from harness.suites.windows import Window, WindowParams


class KlParams(WindowParams):
    reference_format: str = "f16"
    top_k: int = Field(default=256, ge=1, le=4096, description="reference tokens kept per position")
    max_tokens: int | None = Field(default=8192, ge=16)

    @field_validator("reference_format")
    @classmethod
    def _known(cls, value: str) -> str:
        from harness.formats.resolve import all_formats

        known = all_formats()
        if value not in known:
            raise ValueError(f"unknown reference format '{value}'; fix: use a known format "
                             f"({', '.join(known)})")
        return value

    def extra_formats(self) -> list[str]:
        return [self.reference_format]


class KlDivergenceSuite(Suite):
    name: ClassVar[str] = "kl-divergence"
    params_cls: ClassVar[type] = KlParams
    description: ClassVar[str] = "KL divergence and same-top-1 % against a reference format"
    requires: ClassVar[tuple[type, ...]] = (LogprobRows,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("kl_divergence_mean", "nats", False, "quality", threshold="mean:0.005",
                   chart=Chart("KL divergence from the reference vs bits per weight",
                               style="vs_bits", order=130,
                               label="mean KL divergence (nats, log scale)")),
        MetricSpec("kl_divergence_median", "nats", False, "quality", threshold="mean:0.005"),
        MetricSpec("kl_divergence_p99", "nats", False, "quality", threshold="mean:0.05"),
        MetricSpec("kl_divergence_max", "nats", False, "quality", threshold="mean:0.5"),
        MetricSpec("same_top1_pct", "%", True, "quality", threshold="mean:1.0"),
        MetricSpec("reference_tail_mass", "probability", False, "count",
                   description="reference mass outside its top-k: a diagnostic of the "
                               "reference, not of the format measured"),
        MetricSpec("kl_positions", "tokens", True, "count"),
    )

    def run(self, backend: Backend, params: KlParams, ctx: CellContext) -> list[Metric]:
        text = load_text(params.corpus)
        windows = corpus_windows(backend, text, params)
        ref = reference_topk(backend, ctx, windows, params,
                             describe(params.corpus, text)["corpus_sha256"])
        kl, same = [], []
        row = 0
        for window in windows:
            for q in scored_rows(backend, window):
                ids, logp, tail = ref["ids"][row], ref["logp"][row], ref["tail"][row]
                kl.append(_kl(ids, logp.astype(np.float64), float(tail), q))
                same.append(int(q.argmax()) == int(ids[0]))
                row += 1
        kl_arr = np.asarray(kl)
        same_frac = float(np.mean(same))
        tags = {"reference": params.reference_format, "scheme": params.scheme,
                "n_ctx": params.n_ctx, "top_k": params.top_k}
        n = len(kl_arr)
        return [
            self.metric("kl_divergence_mean", [float(kl_arr.mean())], tags,
                        stderr=standard_error(kl_arr)),
            self.metric("kl_divergence_median", [float(np.median(kl_arr))], tags),
            self.metric("kl_divergence_p99", [float(np.percentile(kl_arr, 99))], tags),
            self.metric("kl_divergence_max", [float(kl_arr.max())], tags),
            self.metric("same_top1_pct", [100 * same_frac], tags,
                        stderr=100 * binomial_standard_error(same_frac, n)),
            self.metric("reference_tail_mass", [float(np.exp(ref["tail"]).mean())], tags),
            self.metric("kl_positions", [n], tags),
        ]


def scored_rows(backend: Backend, window: Window):
    """Full log-probability rows of the scored positions of `window`, in order."""
    last = len(window.tokens) - 1
    for pos, rows in backend.logprob_rows(window.tokens, first=window.first):
        yield from rows[: max(last - pos, 0)]


def reference_topk(backend: Backend, ctx: CellContext, windows: list[Window],
                   params: KlParams, corpus_sha: str) -> dict[str, np.ndarray]:
    """Top-k of the reference over `windows`, computed once (by a second instance of the
    backend that the worker loads with the reference format) and cached on disk."""
    ref_sha = ctx.extra_artifacts[params.reference_format].sha256
    key_data = {"ref": ref_sha, "backend": backend.name, "version": backend.version(),
                "corpus": corpus_sha, "scheme": params.scheme, "n_ctx": params.n_ctx,
                "stride": params.effective_stride(), "max_tokens": params.max_tokens,
                "top_k": params.top_k}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True).encode()).hexdigest()[:24]
    path = cache_dir() / "reference-logits" / f"{key}.npz"
    if path.is_file():
        with np.load(path) as data:
            return {k: data[k] for k in ("ids", "logp", "tail")}
    with ctx.extra_backend(params.reference_format) as ref:
        ids, logp, tail = [], [], []
        for window in windows:
            for row in scored_rows(ref, window):
                top = np.argpartition(row, -params.top_k)[-params.top_k:]
                top = top[np.argsort(row[top])[::-1]]
                ids.append(top.astype(np.int32))
                logp.append(row[top].astype(np.float32))
                kept = float(np.exp(row[top].astype(np.float64)).sum())
                tail.append(math.log(max(1.0 - kept, 1e-30)))
    data = {"ids": np.stack(ids), "logp": np.stack(logp), "tail": np.asarray(tail, np.float32)}
    tmp = atomic_target(path)
    with open(tmp, "wb") as handle:
        np.savez_compressed(handle, **data)
    tmp.replace(path)
    return data


def _kl(ids: np.ndarray, logp: np.ndarray, tail: float, q_row: np.ndarray) -> float:
    logq = q_row[ids].astype(np.float64)
    q_tail = max(1.0 - float(np.exp(logq).sum()), 1e-30)
    p = np.exp(logp)
    kl = float((p * (logp - logq)).sum())
    p_tail = math.exp(tail)
    if p_tail > 1e-12:
        kl += p_tail * (tail - math.log(q_tail))
    return max(kl, 0.0)
