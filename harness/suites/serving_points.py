"""The metrics of one load point, from its request records (harness.suites.load).

Definitions follow NVIDIA AIPerf / GenAI-Perf and vLLM's benchmark, so figures can be
checked against theirs:
- time to first token: sent to the first chunk that carries a token;
- inter-token latency (AIPerf): (latency - TTFT) / (output tokens - tokens of the first
  chunk), one value per request;
- time per output token (vLLM): (latency - TTFT) / (output tokens - 1);
- end-to-end latency: sent to the last token;
- requests/s and tokens/s: completed requests (and their tokens) over the point's wall
  time, from the first send to the last response;
- goodput: completed requests/s that met every service-level objective of the suite;
- offered requests/s (open loops only): (sent - 1) over the span of their send times,
  the schedule's rate whatever the server does; a closed loop's rate is the server's.
Percentiles p90 and p99 are single values, with a bootstrap standard error.
"""

from __future__ import annotations

import numpy as np

from harness.suites.base import Metric, MetricSpec
from harness.suites.load import RequestRecord

PERCENTILES = (90, 99)
SLO_FIELDS = {"ttft_ms": "ttft", "itl_ms": "itl", "tpot_ms": "tpot",
              "e2e_latency_ms": "latency"}
"""SLO keys a suite file may use -> the RequestRecord property each bounds."""
_BOOTSTRAP = 200


def point_metrics(spec, records: list[RequestRecord], wall: float, tags: dict,
                  slo: dict[str, float], seed: int = 0, open_loop: bool = False
                  ) -> list[Metric]:
    """`spec`: the suite's `spec(name)` lookup."""
    ok = [r for r in records if r.ok]
    metrics = [spec("error_rate").measure([(len(records) - len(ok)) / max(len(records), 1)],
                                          tags)]
    if open_loop and len(records) > 1:
        starts = sorted(r.start for r in records)
        if starts[-1] > starts[0]:
            metrics.append(spec("offered_requests_per_s").measure(
                [(len(starts) - 1) / (starts[-1] - starts[0])], tags))
    if not ok or wall <= 0:
        return metrics
    out = sum(r.output_tokens for r in ok)
    metrics += [
        spec("requests_per_s").measure([len(ok) / wall], tags),
        spec("output_tokens_per_s").measure([out / wall], tags),
        spec("total_tokens_per_s").measure([(out + sum(r.prompt_tokens for r in ok)) / wall],
                                           tags),
        spec("output_tokens").measure([float(r.output_tokens) for r in ok], tags),
    ]
    rng = np.random.default_rng(seed)
    for name, prop in SLO_FIELDS.items():
        values = [v * 1000 for r in ok if (v := getattr(r, prop)) is not None]
        if not values:
            continue
        metrics.append(spec(name).measure(values, tags))
        base = name.removesuffix("_ms")
        for p in PERCENTILES:
            value, stderr = _percentile(values, p, rng)
            metrics.append(spec(f"{base}_p{p}_ms").measure([value], tags, stderr,
                                                           name=f"{base}_p{p}_ms"))
    rates = [(r.output_tokens - r.chunks[0][1]) / (r.latency - r.ttft) for r in ok
             if r.latency > r.ttft]
    if rates:
        metrics.append(spec("request_output_tokens_per_s").measure(rates, tags))
    if slo:
        good = [r for r in ok if meets(r, slo)]
        metrics += [spec("goodput_requests_per_s").measure([len(good) / wall], tags),
                    spec("slo_attainment").measure([len(good) / len(records)], tags)]
    return metrics


def speculation_metrics(spec, before: dict | None, after: dict | None, tags: dict
                        ) -> list[Metric]:
    """Acceptance of the point's speculation, from the server's counters around it (as
    llama.cpp and vLLM define them): accepted / drafted tokens, and mean accepted length
    = 1 + accepted / drafts, the tokens each step of the target model yields."""
    if not before or not after:
        return []
    delta = {k: after[k] - before.get(k, 0.0) for k in after}
    if delta.get("drafted", 0) <= 0 or delta.get("drafts", 0) <= 0:
        return []
    return [spec("draft_acceptance_rate").measure([delta["accepted"] / delta["drafted"]], tags),
            spec("mean_accepted_length").measure([1 + delta["accepted"] / delta["drafts"]],
                                                 tags)]


def meets(record: RequestRecord, slo: dict[str, float]) -> bool:
    """Whether a completed request met every objective (a bound on a value the request
    does not have, such as ITL of a one-token answer, holds)."""
    for key, limit in slo.items():
        value = getattr(record, SLO_FIELDS[key])
        if value is not None and value * 1000 > limit:
            return False
    return True


def _percentile(values: list[float], p: int, rng: np.random.Generator
                ) -> tuple[float, float | None]:
    data = np.asarray(values)
    value = float(np.percentile(data, p))
    if len(data) < 2:
        return value, None
    draws = rng.choice(data, size=(_BOOTSTRAP, len(data)), replace=True)
    return value, float(np.std(np.percentile(draws, p, axis=1), ddof=1))


def latency_specs(chart) -> tuple[MetricSpec, ...]:
    """The per-request latency metrics and their percentiles; `chart(name)` gives the
    charts of each (a tuple, or None)."""
    specs = []
    for name in SLO_FIELDS:
        specs.append(MetricSpec(name, "ms", False, "latency", chart=chart(name)))
        base = name.removesuffix("_ms")
        specs += [MetricSpec(f"{base}_p{p}_ms", "ms", False, "latency",
                             chart=chart(f"{base}_p{p}_ms"),
                             description=f"percentile {p} of the point's {name}")
                  for p in PERCENTILES]
    return tuple(specs)
