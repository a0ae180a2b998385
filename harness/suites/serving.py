"""A server under load, measured from the client (harness.suites.load).

Points, in this order, each with its own tags:
- `concurrency: [1, 2, 4]`: closed loops of N clients (tag `concurrency`);
- `rates: [0.5, 1]`: open loops at that many requests/s, `arrivals: poisson` (seeded by
  the cell's seed) or `constant` (tag `rate`);
- `sweep: K` (GuideLLM's sweep): a synchronous point (one client), a throughput point
  (every request sent at once), then K open-loop rates evenly spaced between the two
  measured request rates (tag `sweep`: synchronous, throughput, 1..K; the rate each
  used is the point's `offered_requests_per_s`).
Each point sends at least `requests_per_level` requests and goes on until
`min_duration_s` has passed, never past `max_requests_per_level` requests or
`max_duration_s` seconds of sending.

Prompts are consecutive pieces of real text of `prompt_tokens` tokens, one per request,
so no request reuses another's cached prefix, except the `shared_prefix_tokens` that a
workload puts before every prompt (a system prompt: what prefix caching is for). The
server re-reads each piece as text; the token counts it sees are stored. Every request's
record (send, every token's arrival, tokens, error) is kept with the cell.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from harness.backends.base import Backend
from harness.backends.capabilities import Serving
from harness.data.corpora import DEFAULT_CORPUS, CorpusSpec, load_text
from harness.errors import HarnessError
from harness.suites.base import Chart, Metric, MetricSpec, Suite, SuiteParams
from harness.suites.context import CellContext
from harness.suites.load import RequestRecord, arrival_times, closed_loop, open_loop
from harness.suites.serving_points import latency_specs, point_metrics, speculation_metrics

SERVING_CHART = "Serving: time to first token and output tokens/s vs concurrency"

WORKLOADS = {
    "chat": {"prompt_tokens": 128, "max_tokens": 64, "shared_prefix_tokens": 0},
    "shared-prefix": {"prompt_tokens": 64, "max_tokens": 64, "shared_prefix_tokens": 512},
    "summarise": {"prompt_tokens": 1024, "max_tokens": 128, "shared_prefix_tokens": 0},
    "code": {"prompt_tokens": 256, "max_tokens": 128, "shared_prefix_tokens": 0,
             "corpus": "python-source"},
}
"""Named workloads with exact token lengths (inference-benchmarker's presets, sized for
small CPU models); fields written beside `workload` win."""


class ServingParams(SuiteParams):
    workload: Literal["custom", "chat", "shared-prefix", "summarise", "code"] = "custom"
    prompt_tokens: int = Field(default=128, ge=1)
    shared_prefix_tokens: int = Field(default=0, ge=0,
                                      description="the same text before every prompt")
    max_tokens: int = Field(default=64, ge=2, description="generated tokens per request")
    concurrency: list[int] = Field(default=[1, 2, 4])
    rates: list[float] = Field(default=[], description="open-loop requests/s")
    arrivals: Literal["poisson", "constant"] = "poisson"
    sweep: int = Field(default=0, ge=0, description="open-loop rates between the "
                       "synchronous and the saturated request rate (GuideLLM's sweep)")
    requests_per_level: int = Field(default=8, ge=1)
    max_requests_per_level: int | None = Field(
        default=None, ge=1, description="default: requests_per_level, or 4 times it "
        "with min_duration_s")
    min_duration_s: float = Field(default=0.0, ge=0)
    max_duration_s: float = Field(default=600.0, gt=0, description="no request of a "
                                  "point is sent after this many seconds")
    slo: dict[Literal["ttft_ms", "itl_ms", "tpot_ms", "e2e_latency_ms"], float] = Field(
        default={}, description="objectives for goodput, e.g. {ttft_ms: 2000, tpot_ms: 100}")
    warmup: int = Field(default=1, ge=0, description="unrecorded requests before the first level")
    corpus: CorpusSpec = DEFAULT_CORPUS

    @model_validator(mode="before")
    @classmethod
    def _workload(cls, data):
        if isinstance(data, dict) and data.get("workload") in WORKLOADS:
            data = {**WORKLOADS[data["workload"]], **data}
        return data

    @model_validator(mode="after")
    def _enough_requests(self):
        if any(n < 1 for n in self.concurrency):
            raise ValueError("concurrency levels must be at least 1; fix: remove the others")
        if any(r <= 0 for r in self.rates):
            raise ValueError("rates must be above 0 requests/s; fix: remove the others")
        if not (self.concurrency or self.rates or self.sweep):
            raise ValueError("no load point: concurrency, rates and sweep are all empty; "
                             "fix: give at least one")
        if self.requests_per_level < max(self.concurrency, default=1):
            raise ValueError(f"requests_per_level {self.requests_per_level} is below the "
                             f"largest concurrency {max(self.concurrency)}; fix: raise it")
        if self.max_requests < self.requests_per_level:
            raise ValueError(f"max_requests_per_level {self.max_requests} is below "
                             f"requests_per_level {self.requests_per_level}; fix: raise it")
        return self

    @property
    def max_requests(self) -> int:
        if self.max_requests_per_level is not None:
            return self.max_requests_per_level
        return self.requests_per_level * (4 if self.min_duration_s else 1)

    def required_context(self) -> int:
        # a piece of text may come back a few tokens longer when the server re-reads it
        return self.shared_prefix_tokens + self.prompt_tokens + self.max_tokens + 8


def _tags(params: ServingParams, **point) -> dict:
    tags = {**point, "prompt_tokens": params.prompt_tokens, "max_tokens": params.max_tokens}
    if params.shared_prefix_tokens:
        tags["shared_prefix_tokens"] = params.shared_prefix_tokens
    if params.workload != "custom":
        tags["workload"] = params.workload
    return tags


LATENCY_CHART = "Serving: latency against throughput (each load point)"
GOODPUT_CHART = "Serving: goodput against offered load"


def _curve(label: str) -> Chart:
    return Chart(LATENCY_CHART, style="load_curve", order=51, label=label,
                 against="requests_per_s", x_label="completed requests/s")


_CHARTS = {
    "ttft_ms": (Chart(SERVING_CHART, style="concurrency", order=50,
                      label="median time to first token (ms)"), _curve("TTFT p50 (ms)")),
    "ttft_p99_ms": _curve("TTFT p99 (ms)"),
    "tpot_ms": _curve("TPOT p50 (ms)"),
    "tpot_p99_ms": _curve("TPOT p99 (ms)"),
    "output_tokens_per_s": Chart(SERVING_CHART, style="concurrency", order=50,
                                 label="output tokens/s, all requests together"),
    "goodput_requests_per_s": Chart(GOODPUT_CHART, style="load_curve", order=52,
                                    label="goodput (requests/s)",
                                    against="offered_requests_per_s",
                                    x_label="offered requests/s"),
}

SPECULATION = Chart("Serving: speculative decoding, speedup and acceptance", order=53,
                    style="speculation", against="output_tokens_per_s")


class ServingSuite(Suite):
    name: ClassVar[str] = "serving"
    params_cls: ClassVar[type[SuiteParams]] = ServingParams
    description: ClassVar[str] = ("TTFT, ITL, TPOT, latency percentiles, requests/s, tokens/s "
                                  "and goodput under closed- and open-loop load")
    requires: ClassVar[tuple[type, ...]] = (Serving,)

    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec("prompt_tokens", "tokens", True, "count"),
        *latency_specs(_CHARTS.get),
        MetricSpec("requests_per_s", "requests/s", True, "speed"),
        MetricSpec("output_tokens_per_s", "tokens/s", True, "speed",
                   chart=_CHARTS["output_tokens_per_s"]),
        MetricSpec("total_tokens_per_s", "tokens/s", True, "speed"),
        MetricSpec("output_tokens", "tokens", True, "count"),
        MetricSpec("request_output_tokens_per_s", "tokens/s", True, "speed"),
        MetricSpec("offered_requests_per_s", "requests/s", True, "count",
                   description="the rate requests were sent at"),
        MetricSpec("error_rate", "fraction", False, "count"),
        MetricSpec("goodput_requests_per_s", "requests/s", True, "speed",
                   chart=_CHARTS["goodput_requests_per_s"],
                   description="completed requests/s that met every objective in `slo`"),
        MetricSpec("slo_attainment", "fraction", True, "count"),
        MetricSpec("draft_acceptance_rate", "fraction", True, "count",
                   chart=replace(SPECULATION, label="acceptance rate (accepted / drafted)"),
                   description="drafted tokens the target model accepted"),
        MetricSpec("mean_accepted_length", "tokens", True, "count",
                   chart=replace(SPECULATION, label="mean accepted length (tokens per step)"),
                   description="tokens per step of the target model: 1 + accepted / drafts"),
    )

    def run(self, backend: Backend, params: ServingParams, ctx: CellContext) -> list[Metric]:
        prompts = _Prompts(backend, params)
        for prompt in prompts.take(params.warmup):
            list(backend.stream_completion(prompt, params.max_tokens))
        metrics = [self.metric("prompt_tokens", prompts.lengths, _tags(params))]
        stream = lambda prompt: backend.stream_completion(prompt, params.max_tokens)  # noqa: E731
        self._records: dict[str, list[RequestRecord]] = {}

        def measure(tags: dict, run, open_loop: bool = False) -> float:
            batch = prompts.take(params.max_requests)
            before = backend.speculation()
            records, wall = run(stream, batch)
            for record, prompt in zip(records, batch, strict=False):  # sent in batch order
                record.prompt_tokens = prompts.tokens(prompt)
            metrics.extend(point_metrics(self.spec, records, wall, tags, params.slo,
                                         ctx.seed, open_loop))
            metrics.extend(speculation_metrics(self.spec, before, backend.speculation(), tags))
            self._records[_point_name(tags)] = records
            ok = [r for r in records if r.ok]
            return len(ok) / wall if wall > 0 and ok else 0.0

        for level in params.concurrency:
            measure(_tags(params, concurrency=level), self._closed(params, level))
        for rate in params.rates:
            measure(_tags(params, rate=rate), self._open(params, rate, ctx.seed), True)
        if params.sweep:
            sync = measure(_tags(params, sweep="synchronous"), self._closed(params, 1))
            peak = measure(_tags(params, sweep="throughput"),
                           self._closed(params, params.requests_per_level))
            if sync <= 0 or peak <= 0:
                raise HarnessError("the sweep's synchronous or throughput point completed "
                                   "no request; fix: check the server's errors")
            for k in range(1, params.sweep + 1):
                rate = sync + (peak - sync) * k / (params.sweep + 1)
                measure(_tags(params, sweep=k), self._open(params, rate, ctx.seed + k), True)
        return metrics

    def records(self) -> dict[str, Any] | None:
        """Every request of the last `run`, by point: times in seconds after the point
        began, each chunk as [arrival, tokens]."""
        points = getattr(self, "_records", None)
        if points is None:
            return None
        return {"requests": {k: [r.to_dict() for r in v] for k, v in points.items()}}

    @staticmethod
    def _closed(params: ServingParams, level: int):
        return lambda stream, batch: closed_loop(
            stream, batch, level, params.requests_per_level, params.min_duration_s,
            params.max_duration_s)

    @staticmethod
    def _open(params: ServingParams, rate: float, seed: int):
        count = max(params.requests_per_level,
                    min(params.max_requests, math.ceil(rate * params.min_duration_s)))
        times = arrival_times(rate, count, params.arrivals, seed)
        return lambda stream, batch: open_loop(stream, batch[:count], times,
                                               params.max_duration_s)


def _point_name(tags: dict) -> str:
    for key in ("concurrency", "rate", "sweep"):
        if key in tags:
            return f"{key}={tags[key]}"
    return "point"


class _Prompts:
    """Distinct pieces of the corpus, handed out in order (the shared prefix before
    each); cycles when the corpus has fewer pieces than the points ask for."""

    def __init__(self, backend: Backend, params: ServingParams) -> None:
        points = (len(params.concurrency) + len(params.rates)
                  + (params.sweep + 2 if params.sweep else 0))
        need = params.warmup + points * params.max_requests
        text = load_text(params.corpus)
        prefix = ""
        if params.shared_prefix_tokens:
            prefix = text_pieces(backend, text, params.shared_prefix_tokens, 1)[0]
            text = text[len(prefix):]
        self._prompts = [prefix + p for p in text_pieces(backend, text, params.prompt_tokens,
                                                         need, at_least=1)]
        self._tokens = {p: len(backend.tokenize(p)) for p in self._prompts}
        self.lengths = [float(n) for n in self._tokens.values()]
        self._next = 0

    def take(self, n: int) -> list[str]:
        out = [self._prompts[(self._next + i) % len(self._prompts)] for i in range(n)]
        self._next += n
        return out

    def tokens(self, prompt: str) -> int:
        """How many tokens the server reads in `prompt`."""
        return self._tokens[prompt]


def text_pieces(backend: Backend, text: str, n_tokens: int, count: int,
                at_least: int | None = None) -> list[str]:
    """`count` consecutive pieces of `text`, each the text of `n_tokens` tokens (with
    `at_least`: as many as the text holds, if that is at least so many)."""
    need = n_tokens * count
    chars = need * 6
    while True:
        tokens = backend.tokenize(text[:chars], add_bos=False)
        if len(tokens) > need or chars >= len(text):
            break
        chars *= 2
    have = min(count, len(tokens) // n_tokens)
    if have < (count if at_least is None else at_least):
        raise HarnessError(f"the corpus has {len(tokens)} tokens, fewer than the "
                           f"{n_tokens * (at_least or count)} that prompts of {n_tokens} "
                           "tokens need; fix: lower requests_per_level or prompt_tokens, "
                           "or use a longer corpus")
    return [backend.detokenize(tokens[i * n_tokens : (i + 1) * n_tokens]) for i in range(have)]
