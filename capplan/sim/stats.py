"""Bounded-memory statistics: log-binned streaming histograms and confidence intervals.

A histogram keeps exact count, sum and sum of squares (so means are exact) and a count per
log-spaced bin 0.5% wide (so any quantile is within +-0.25% of the sample quantile), plus the
number of exact zeros (customers that did not wait). Samples are buffered and binned with numpy
in blocks, which costs one list append per sample on the hot path. Memory is fixed whatever the
run length as long as the buffer is flushed regularly: ``add`` flushes every 8,192 samples, and
capplan.sim.engine, which appends to ``buffer`` directly, flushes on an adaptive simulated-time
interval. Histograms of independent replications merge by adding counts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import stdtrit

LOWEST = 1e-7          # seconds; smaller positive values share the first bin
GROWTH = 1.005         # bin width ratio
NBINS = int(math.ceil(math.log(1e6 / LOWEST) / math.log(GROWTH))) + 1   # up to ~11.6 days
_LOG_LOWEST = math.log(LOWEST)
_LOG_GROWTH = math.log(GROWTH)
_FLUSH = 8192


class Histogram:
    __slots__ = ("buffer", "counts", "zeros", "n", "total", "total_sq", "maximum")

    def __init__(self) -> None:
        self.buffer: list[float] = []
        self.counts = np.zeros(NBINS, dtype=np.int64)
        self.zeros = 0
        self.n = 0
        self.total = 0.0
        self.total_sq = 0.0
        self.maximum = 0.0

    def add(self, value: float) -> None:
        buffer = self.buffer
        buffer.append(value)
        if len(buffer) >= _FLUSH:
            self.flush()

    def flush(self) -> None:
        if not self.buffer:
            return
        values = np.asarray(self.buffer, dtype=np.float64)
        self.buffer = []
        self.n += values.size
        self.total += float(values.sum())
        self.total_sq += float(np.dot(values, values))
        self.maximum = max(self.maximum, float(values.max()))
        positive = values[values > 0.0]
        self.zeros += values.size - positive.size
        if positive.size:
            idx = np.floor((np.log(np.maximum(positive, LOWEST)) - _LOG_LOWEST) / _LOG_GROWTH).astype(np.int64)
            np.clip(idx, 0, NBINS - 1, out=idx)
            self.counts += np.bincount(idx, minlength=NBINS)

    def snapshot(self) -> tuple:
        """The counts so far, to be subtracted later (measuring from a point found after the run)."""
        self.flush()
        return (self.counts.copy(), self.zeros, self.n, self.total, self.total_sq)

    def subtract(self, snap: tuple) -> None:
        """Remove what :meth:`snapshot` had counted: the histogram of the samples added since."""
        counts, zeros, n, total, total_sq = snap
        self.flush()
        self.counts -= counts
        self.zeros -= zeros
        self.n -= n
        self.total -= total
        self.total_sq -= total_sq

    def since(self, snap: tuple) -> "Histogram":
        """A new histogram of the samples added after :meth:`snapshot` returned ``snap`` (its maximum
        is this one's: the largest sample since is not kept apart)."""
        counts, zeros, n, total, total_sq = snap
        self.flush()
        h = Histogram()
        h.counts = self.counts - counts
        h.zeros = self.zeros - zeros
        h.n = self.n - n
        h.total = self.total - total
        h.total_sq = self.total_sq - total_sq
        h.maximum = self.maximum
        return h

    @property
    def mean(self) -> float:
        self.flush()
        return self.total / self.n if self.n else float("nan")

    def share_positive(self) -> float:
        """Fraction of samples greater than zero (e.g. probability of waiting)."""
        self.flush()
        return (self.n - self.zeros) / self.n if self.n else float("nan")

    def share_above(self, threshold: float) -> float:
        self.flush()
        if not self.n:
            return float("nan")
        if threshold <= 0:
            return self.share_positive()
        edge = int(math.floor((math.log(threshold) - _LOG_LOWEST) / _LOG_GROWTH))
        return float(self.counts[max(edge + 1, 0):].sum()) / self.n

    def quantile(self, q: float) -> float:
        """The q-quantile, interpolated geometrically inside its bin."""
        self.flush()
        if not self.n:
            return float("nan")
        rank = q * self.n
        if rank <= self.zeros:
            return 0.0
        cumulative = np.cumsum(self.counts)
        target = rank - self.zeros
        b = int(np.searchsorted(cumulative, target, side="left"))
        b = min(b, NBINS - 1)
        before = float(cumulative[b - 1]) if b > 0 else 0.0
        inside = float(self.counts[b]) or 1.0
        frac = min(max((target - before) / inside, 0.0), 1.0)
        return min(math.exp(_LOG_LOWEST + (b + frac) * _LOG_GROWTH), self.maximum)


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its 95% confidence interval over independent replications."""

    mean: float
    low: float
    high: float
    replications: int

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0

    @property
    def relative_half_width(self) -> float:
        return self.half_width / abs(self.mean) if self.mean else float("inf")

    def contains(self, value: float) -> bool:
        return self.low <= value <= self.high

    def as_dict(self, digits: int = 6) -> dict[str, float | None]:
        return {"mean": _round(self.mean, digits), "ci95": [_round(self.low, digits), _round(self.high, digits)]}


def _round(value: float, digits: int) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def estimate(values: list[float] | np.ndarray, confidence: float = 0.95) -> Estimate:
    """Student-t interval of the mean of independent replication values (NaNs dropped)."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=np.float64)
    if data.size == 0:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    mean = float(data.mean())
    if data.size == 1:
        return Estimate(mean, float("-inf"), float("inf"), 1)
    sem = float(data.std(ddof=1)) / math.sqrt(data.size)
    t = float(stdtrit(data.size - 1, 0.5 + confidence / 2.0))
    return Estimate(mean, mean - t * sem, mean + t * sem, int(data.size))
