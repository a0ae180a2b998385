"""Load on a server: when each request is sent, and what it saw.

Two kinds of load, as the serving benchmarks the harness is measured against have them:
- closed loop (vLLM's --max-concurrency, GuideLLM's concurrent): N clients, each sending
  its next request when its last one ends, so the server sets the pace;
- open loop (MLPerf LoadGen's server scenario, GuideLLM's constant and poisson): requests
  leave at scheduled times whatever the server does, so a server that cannot keep up
  shows it as queueing (growing time to first token), not as a lower offered rate.

Every point is bounded in requests (the prompts it is given) and in seconds
(`max_duration_s`: no request is sent after it, and the point waits for those in flight
at most `timeout_s` more); every request is timed from one clock, `perf_counter`, in
seconds after the point began.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import wait as wait_all
from dataclasses import asdict, dataclass, field

import numpy as np

Stream = Callable[[str], Iterator[int]]
"""Sends one prompt and yields, as each streamed chunk arrives, the tokens it carries."""

MAX_OPEN_REQUESTS = 256
"""Requests an open-loop point may have in flight at once (a thread each)."""


@dataclass
class RequestRecord:
    """One request as the client saw it; times in seconds after its point began."""

    scheduled: float
    """When the load meant to send it (open loop: its arrival time; closed loop: when
    its client became free)."""
    start: float = 0.0
    prompt_tokens: int = 0
    chunks: list[tuple[float, int]] = field(default_factory=list)
    """(arrival, generated tokens it carried) of every chunk that carried any: an empty
    first chunk is not a first token (AIPerf's definition of TTFT)."""
    end: float | None = None
    error: str | None = None
    server: dict | None = None
    """What the server reported of the request itself (llama-server's `timings`)."""

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.chunks)

    @property
    def output_tokens(self) -> int:
        return sum(n for _, n in self.chunks)

    @property
    def ttft(self) -> float:
        return self.chunks[0][0] - self.start

    @property
    def latency(self) -> float:
        """End to end: sent to last token."""
        return self.chunks[-1][0] - self.start

    @property
    def itl(self) -> float | None:
        """AIPerf's inter-token latency: (latency - TTFT) / (output tokens - tokens of the
        first chunk); None for a request whose every token came in its first chunk."""
        after_first = self.output_tokens - self.chunks[0][1]
        return (self.latency - self.ttft) / after_first if after_first > 0 else None

    @property
    def tpot(self) -> float | None:
        """vLLM's time per output token: (latency - TTFT) / (output tokens - 1)."""
        n = self.output_tokens
        return (self.latency - self.ttft) / (n - 1) if n > 1 else None

    def to_dict(self) -> dict:
        """Times to the microsecond: what `perf_counter` resolves, and a compact line."""
        out = asdict(self)
        for key in ("scheduled", "start", "end"):
            if out[key] is not None:
                out[key] = round(out[key], 6)
        out["chunks"] = [[round(t, 6), n] for t, n in self.chunks]
        return out


def arrival_times(rate: float, count: int, arrivals: str, seed: int) -> list[float]:
    """When `count` requests at `rate` per second are sent: evenly spaced (`constant`) or a
    seeded Poisson process (`poisson`: exponential gaps), the first at 0."""
    if arrivals == "constant":
        return [i / rate for i in range(count)]
    gaps = np.random.default_rng(seed).exponential(1.0 / rate, count - 1)
    return [0.0, *np.cumsum(gaps).tolist()]


def _send(stream: Stream, prompt: str, record: RequestRecord, t0: float) -> RequestRecord:
    record.start = time.perf_counter() - t0
    try:
        chunks = stream(prompt)
        while True:
            try:
                n = next(chunks)
            except StopIteration as done:  # a stream may return the server's own report
                record.server = done.value
                break
            if n > 0:
                record.chunks.append((time.perf_counter() - t0, n))
        if not record.chunks:
            record.error = "the server streamed no tokens"
    except Exception as exc:  # one failed request is a measured error, not a failed point
        record.error = f"{type(exc).__name__}: {exc}"[:300]
    record.end = time.perf_counter() - t0
    return record


def open_loop(stream: Stream, prompts: list[str], times: list[float],
              max_duration_s: float) -> tuple[list[RequestRecord], float]:
    """Each prompt sent at its time (s after the start) on a thread of its own; those
    whose time is past `max_duration_s` are not sent. Returns the records and the wall
    time from the first send to the last response."""
    records = []
    with ThreadPoolExecutor(max_workers=min(len(prompts), MAX_OPEN_REQUESTS)) as pool:
        futures = []
        t0 = time.perf_counter()
        for prompt, at in zip(prompts, times, strict=True):
            if at > max_duration_s:
                break
            delay = at - (time.perf_counter() - t0)
            if delay > 0:
                time.sleep(delay)
            record = RequestRecord(scheduled=at)
            records.append(record)
            futures.append(pool.submit(_send, stream, prompt, record, t0))
        wait_all(futures)
    return records, _wall(records)


def closed_loop(stream: Stream, prompts: list[str], concurrency: int, min_requests: int,
                min_duration_s: float, max_duration_s: float) -> tuple[list[RequestRecord],
                                                                        float]:
    """`concurrency` clients, each sending its next prompt when its last one ends, until
    `min_requests` are done and `min_duration_s` has passed, the prompts run out or
    `max_duration_s` has passed."""
    lock = threading.Lock()
    queue = iter(prompts)
    records: list[RequestRecord] = []
    # the first requests leave together, as an asyncio client's do (vLLM's benchmark,
    # GuideLLM): clients started one by one reach an idle server apart, and the first then
    # runs its prefill alone, a lead it keeps in every later round of a saturated server
    start = threading.Barrier(concurrency)
    t0 = time.perf_counter()

    def client() -> None:
        start.wait()
        while True:
            now = time.perf_counter() - t0
            with lock:
                done = len(records) >= min_requests and now >= min_duration_s
                prompt = None if done or now > max_duration_s else next(queue, None)
                if prompt is None:
                    return
                record = RequestRecord(scheduled=now)
                records.append(record)
            _send(stream, prompt, record, t0)

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for future in [pool.submit(client) for _ in range(concurrency)]:
            future.result()
    return records, _wall(records)


def _wall(records: list[RequestRecord]) -> float:
    """From the first send to the last response."""
    if not records:
        return 0.0
    return max(r.end or r.start for r in records) - min(r.start for r in records)
