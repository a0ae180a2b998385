"""Steps in a noisy series: where a benchmark's level moved, and by how much.

The series is fitted with a piecewise-constant function that minimizes the sum of absolute
deviations from each segment's median plus a penalty per segment (the L1 Potts model that
asv's step detection also fits; here solved exactly by dynamic programming, which is fine
for the few hundred nightly points a history holds). Absolute deviations keep one wild
night from pulling a level or forcing a step the way squared deviations would.

The penalty is in units of the series' noise: a step has to explain away more deviation
than noise alone would explain by chance. The noise is given (a calibrated coefficient of
variation times the level) or estimated robustly from successive differences, which a few
steps barely move.
"""

from __future__ import annotations

import math
from bisect import insort
from dataclasses import dataclass
from statistics import median

PENALTY = 3.0
"""Penalty per segment, in units of b * ln(max(n, 20)) (b = the noise's Laplace scale,
sd/sqrt(2)): an extra segment must buy about 3 ln(n) nats of likelihood, a little more than
BIC asks. On flat series with normal noise that gives a false step in about 2 % of series
of 5-20 points (the noise estimate of a short series is itself noisy, hence the floor of 20
under n) and well under 1 % of 50-200 points; a 7-sd step halfway is found 99 % of the
time from 8 points on."""
MAD_TO_SD = 1.4826
"""sd = MAD * this, for normally distributed noise."""


@dataclass(frozen=True)
class Step:
    index: int
    """Position in the series of the first value at the new level."""
    before: float
    """The level (median) of the segment that ends at `index - 1`."""
    after: float
    """The level of the segment that starts at `index`."""

    @property
    def change(self) -> float:
        """after vs before, as a fraction of before (0.15 = 15 % up); inf from a zero level."""
        if self.before == 0:
            return 0.0 if self.after == 0 else math.copysign(math.inf, self.after)
        return (self.after - self.before) / abs(self.before)


@dataclass(frozen=True)
class Segment:
    start: int
    stop: int
    """Exclusive: the segment is values[start:stop]."""
    level: float

    @property
    def size(self) -> int:
        return self.stop - self.start


def noise_of(values: list[float]) -> float:
    """A robust sd of the noise: the MAD of successive differences (each difference of two
    independent points has sqrt(2) times the points' sd; a step spoils one difference)."""
    if len(values) < 2:
        return 0.0
    diffs = [b - a for a, b in zip(values, values[1:], strict=False)]
    return MAD_TO_SD * median(abs(d) for d in diffs) / math.sqrt(2)


def robust_sd(values: list[float]) -> float:
    """The sd of `values` around their level: MAD-based from 10 values on; below that the
    sample sd, since the MAD of a handful of points is often near zero (of three points it
    is the smaller distance to the middle one). Outliers big enough to matter are split off
    as segments of their own before this is asked of a segment."""
    if len(values) < 2:
        return 0.0
    mean = sum(values) / len(values)
    plain = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
    if len(values) < 10:
        return plain
    mid = median(values)
    mad = MAD_TO_SD * median(abs(v - mid) for v in values)
    return mad if mad > 0 else plain


def segments(values: list[float], noise: float | None = None) -> list[Segment]:
    """The optimal piecewise-constant fit of `values` (finite floats) as segments in order;
    `noise`: the sd of the noise (None: estimated with `noise_of`)."""
    n = len(values)
    if n == 0:
        return []
    sd = noise_of(values) if noise is None else float(noise)
    # a noise-free series (repeated identical values) still needs a positive penalty, or
    # every tie would open a segment
    floor = 1e-9 * max(1.0, max(abs(v) for v in values))
    penalty = PENALTY * max(sd, floor) / math.sqrt(2) * math.log(max(n, 20))
    cost = _l1_costs(values)
    best = [0.0] * (n + 1)
    cut = [0] * (n + 1)
    best[0] = -penalty
    for stop in range(1, n + 1):
        best[stop], cut[stop] = min(
            ((best[start] + cost[start][stop - 1] + penalty, start) for start in range(stop)),
            key=lambda item: (item[0], -item[1]))
    bounds, stop = [], n
    while stop > 0:
        bounds.append((cut[stop], stop))
        stop = cut[stop]
    return [Segment(a, b, median(values[a:b])) for a, b in reversed(bounds)]


def _l1_costs(values: list[float]) -> list[list[float]]:
    """cost[i][j] = sum of |v - median| over values[i..j] (inclusive), for all i <= j."""
    n = len(values)
    cost = [[0.0] * n for _ in range(n)]
    for i in range(n):
        window: list[float] = []
        for j in range(i, n):
            insort(window, values[j])
            half = len(window) // 2
            # around the median, the upper half's excess minus the lower half's
            cost[i][j] = sum(window[len(window) - half:]) - sum(window[:half])
    return cost


def detect_steps(values, noise: float | None = None) -> list[Step]:
    """Where the level of `values` moved: one Step per boundary of the optimal fit.
    Non-finite values are not allowed (leave missing nights out before calling)."""
    values = [float(v) for v in values]
    if any(not math.isfinite(v) for v in values):
        raise ValueError("detect_steps needs finite values; leave missing points out first")
    parts = segments(values, noise)
    return [Step(b.start, a.level, b.level) for a, b in zip(parts, parts[1:], strict=False)]
