"""The serving suite's metric definitions on hand-computed request records, and the load
generator's schedules on a stand-in server (no engine: the definitions and the timing of
the load are what is checked here; tests/backends/test_openai_http.py drives real servers)."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from harness.suites.load import RequestRecord, arrival_times, closed_loop, open_loop
from harness.suites.serving import ServingParams, ServingSuite
from harness.suites.serving_points import meets, point_metrics, speculation_metrics


def _records() -> list[RequestRecord]:
    # request A: sent at 0.0, first chunk (2 tokens) at 0.5, then 1 token at 0.6, 0.7, 0.9
    a = RequestRecord(scheduled=0.0, start=0.0, prompt_tokens=10,
                      chunks=[(0.5, 2), (0.6, 1), (0.7, 1), (0.9, 1)], end=0.95)
    # request B: sent at 0.2, one chunk of 1 token at 0.4, then 1 token at 1.4
    b = RequestRecord(scheduled=0.2, start=0.2, prompt_tokens=20,
                      chunks=[(0.4, 1), (1.4, 1)], end=1.5)
    # request C: failed after its start at 0.3
    c = RequestRecord(scheduled=0.3, start=0.3, error="ReadTimeout: boom", end=1.0)
    return [a, b, c]


def test_per_request_definitions_by_hand() -> None:
    a, b, c = _records()
    assert a.ttft == pytest.approx(0.5) and a.latency == pytest.approx(0.9)
    assert a.output_tokens == 5
    # AIPerf ITL: (0.9 - 0.5) / (5 - 2 tokens of the first chunk) = 0.1333
    assert a.itl == pytest.approx(0.4 / 3)
    # vLLM TPOT: (0.9 - 0.5) / (5 - 1) = 0.1
    assert a.tpot == pytest.approx(0.1)
    assert b.ttft == pytest.approx(0.2) and b.itl == pytest.approx(1.0)
    assert b.tpot == pytest.approx(1.0)
    assert not c.ok and c.output_tokens == 0
    one = RequestRecord(scheduled=0, start=0, chunks=[(0.1, 3)])
    assert one.itl is None and one.tpot == pytest.approx(0.0)


def test_point_metrics_by_hand() -> None:
    records = _records()
    wall = 1.5  # first send 0.0, last response 1.5
    metrics = point_metrics(ServingSuite.spec, records, wall, {"rate": 2.0},
                            {"ttft_ms": 300, "tpot_ms": 500}, seed=1, open_loop=True)
    by = {m.name: m for m in metrics}
    assert by["requests_per_s"].samples == [pytest.approx(2 / 1.5)]
    assert by["output_tokens_per_s"].samples == [pytest.approx(7 / 1.5)]
    assert by["total_tokens_per_s"].samples == [pytest.approx(37 / 1.5)]
    assert by["error_rate"].samples == [pytest.approx(1 / 3)]
    # three sends over 0.3 s
    assert by["offered_requests_per_s"].samples == [pytest.approx(2 / 0.3)]
    assert sorted(by["ttft_ms"].samples) == [pytest.approx(200), pytest.approx(500)]
    assert sorted(by["itl_ms"].samples) == [pytest.approx(400 / 3), pytest.approx(1000)]
    assert sorted(by["e2e_latency_ms"].samples) == [pytest.approx(900), pytest.approx(1200)]
    # numpy's linear percentile of [200, 500]: 200 + 0.99 * 300
    assert by["ttft_p99_ms"].samples == [pytest.approx(497)]
    assert by["ttft_p99_ms"].stderr is not None and by["ttft_p99_ms"].stderr > 0
    # A misses ttft (500 > 300); B misses tpot (1000 > 500); C failed: no good request
    assert by["goodput_requests_per_s"].samples == [0.0]
    assert by["slo_attainment"].samples == [0.0]
    relaxed = {m.name: m for m in point_metrics(ServingSuite.spec, records, wall, {},
                                                {"ttft_ms": 600, "tpot_ms": 500})}
    assert relaxed["goodput_requests_per_s"].samples == [pytest.approx(1 / 1.5)]
    assert relaxed["slo_attainment"].samples == [pytest.approx(1 / 3)]
    # every metric the point returns is declared by the suite
    assert all(m.kind is not None for m in metrics)
    # a closed loop's rate is the server's, not an offered one
    assert "offered_requests_per_s" not in {m.name for m in relaxed.values()}


def test_an_objective_on_a_value_a_request_lacks_holds() -> None:
    one = RequestRecord(scheduled=0, start=0, chunks=[(0.1, 1)])
    assert meets(one, {"itl_ms": 1.0, "ttft_ms": 200})
    assert not meets(one, {"ttft_ms": 50})


def test_poisson_arrivals_are_seeded_and_have_the_rate() -> None:
    times = arrival_times(4.0, 2001, "poisson", seed=3)
    assert times == arrival_times(4.0, 2001, "poisson", seed=3)
    assert times != arrival_times(4.0, 2001, "poisson", seed=4)
    gaps = np.diff(times)
    assert gaps.mean() == pytest.approx(0.25, rel=0.1)
    assert gaps.std() == pytest.approx(0.25, rel=0.15)  # exponential: sd = mean
    assert arrival_times(4.0, 3, "constant", seed=0) == [0.0, 0.25, 0.5]


class _OneAtATime:
    """A stand-in server that serves one request at a time, `service` seconds each,
    streaming 4 one-token chunks."""

    def __init__(self, service: float) -> None:
        self.lock = threading.Lock()
        self.service = service

    def __call__(self, prompt: str):
        with self.lock:
            for _ in range(4):
                time.sleep(self.service / 4)
                yield 1


def test_open_loop_keeps_its_schedule_when_the_server_falls_behind() -> None:
    server = _OneAtATime(service=0.2)  # at most 5 requests/s
    times = arrival_times(20.0, 8, "constant", seed=0)
    records, wall = open_loop(server, ["p"] * 8, times, max_duration_s=10)
    starts = [r.start for r in records]
    # every request left on time (within 50 ms), whatever the server did
    assert max(abs(s - t) for s, t in zip(starts, times, strict=True)) < 0.05
    ttft = [r.ttft for r in sorted(records, key=lambda r: r.start)]
    # queueing: each waits for those before it, so time to first token grows
    assert ttft[-1] > ttft[0] + 0.8
    assert wall >= 8 * 0.2 - 0.05


def test_open_loop_stops_sending_at_its_time_limit() -> None:
    times = arrival_times(10.0, 10, "constant", seed=0)
    records, _ = open_loop(_OneAtATime(0.01), ["p"] * 10, times, max_duration_s=0.35)
    assert len(records) == 4  # sent at 0, 0.1, 0.2, 0.3


def test_closed_loop_holds_its_concurrency_and_minimum_duration() -> None:
    active = peak = 0
    lock = threading.Lock()

    def server(prompt: str):
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        yield 1
        with lock:
            active -= 1

    records, wall = closed_loop(server, ["p"] * 100, 3, min_requests=6, min_duration_s=0.5,
                                max_duration_s=10)
    assert peak == 3
    assert wall >= 0.5 and 6 <= len(records) < 100
    assert all(r.ok for r in records)
    bounded, _ = closed_loop(server, ["p"] * 100, 2, min_requests=100, min_duration_s=0,
                             max_duration_s=0.2)
    assert len(bounded) < 20  # no request sent after 0.2 s


def test_a_request_that_raises_is_an_error_record_not_a_failed_point() -> None:
    def server(prompt: str):
        if prompt == "bad":
            raise ConnectionError("refused")
        yield 1

    records, _ = closed_loop(server, ["ok", "bad", "ok"], 1, 3, 0, 10)
    assert [r.ok for r in records] == [True, False, True]
    assert records[1].error == "ConnectionError: refused"


def test_workload_presets_fill_what_is_not_written() -> None:
    p = ServingParams(workload="shared-prefix")
    assert (p.shared_prefix_tokens, p.prompt_tokens, p.max_tokens) == (512, 64, 64)
    q = ServingParams(workload="code", max_tokens=16)
    assert q.max_tokens == 16 and q.prompt_tokens == 256 and q.corpus == "python-source"
    with pytest.raises(ValueError, match="no load point"):
        ServingParams(concurrency=[], rates=[], sweep=0)


def test_speculation_counts_only_what_happened_during_the_point() -> None:
    spec = ServingSuite().spec
    before = {"drafts": 2, "drafted": 10, "accepted": 4}
    after = {"drafts": 6, "drafted": 30, "accepted": 16}
    rate, length = speculation_metrics(spec, before, after, {"concurrency": 1})
    assert rate.samples == [12 / 20]  # accepted / drafted during the point
    assert length.samples == [1 + 12 / 4]  # tokens per step of the target model
    assert rate.tags == {"concurrency": 1}
    assert speculation_metrics(spec, after, after, {}) == []  # drafted nothing: no metric
    assert speculation_metrics(spec, None, None, {}) == []  # a server that cannot say
