"""Steady-state statistics of one replication: warm-up truncation (MSER-5) and a trend test.

Two questions the simulator asks of each replication's output, answered by pure functions on
numpy arrays (no SimPy, no I/O):

1. Where does the warm-up end?  ``mser`` implements the MSER-5 truncation rule: White, K. P.
   (1997), "An effective truncation heuristic for bias reduction in simulation output",
   Simulation 69(6):323-334; White, K. P., Cobb, M. J. and Spratt, S. C. (2000), "A comparison
   of five steady-state truncation heuristics for simulation", Proc. Winter Simulation
   Conference, 755-760; Franklin, W. W. and White, K. P. (2008), "Stationarity tests and
   MSER-5: exploring the intuition behind mean-squared-error-reduction in warm-up period
   determination", Proc. Winter Simulation Conference, 541-546.  MSER picks the truncation
   point d that minimises the squared standard error of the mean of what is kept; a minimum
   at the largest allowed d means the series never settled, which Franklin & White read as a
   sign of non-stationarity.

2. Is the level still growing after the warm-up (an overloaded queue)?  ``trend`` fits an
   ordinary-least-squares line to the batch means and asks for a slope that is both
   statistically significant and practically large; ``combine`` takes a majority vote over
   independent replications.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from numbers import Integral, Real

import numpy as np
from scipy.special import stdtr, stdtrit

from capplan.errors import CapplanError

_EPS = float(np.finfo(np.float64).eps)


@dataclass(frozen=True)
class Truncation:
    """The MSER truncation point of one output series."""

    batches: int            # d*, in batches of `batch_size`
    observations: int       # d* * batch_size: raw observations to discard
    batch_size: int         # 5 for MSER-5
    candidates: int         # how many d were allowed (d = 0 .. candidates - 1)
    at_limit: bool          # d* is the largest allowed d: the series never settled
    statistic: float        # MSER(d*), in squared units of the series


@dataclass(frozen=True)
class Trend:
    """OLS trend of post-warm-up batch means against the batch index."""

    slope: float                 # per batch
    slope_low: float             # 95% CI of the slope
    slope_high: float
    p_value: float               # two-sided, H0: slope = 0
    relative_growth: float       # fitted (last - first) / max(|fitted mean|, floor)
    growing: bool                # p_value < alpha AND slope > 0 AND relative_growth > min_growth


def _finite_vector(values: object, field: str) -> np.ndarray:
    try:
        data = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise CapplanError(f"must be a sequence of numbers ({type(exc).__name__})", field=field) from None
    if data.ndim != 1:
        raise CapplanError(f"must be one-dimensional, got shape {data.shape}", field=field)
    bad = ~np.isfinite(data)
    if bad.any():
        first = int(np.argmax(bad))
        raise CapplanError(f"must be finite, got {data[first]} at index {first}", field=field)
    return data


def _scale(data: np.ndarray) -> float:
    # Both statistics are invariant (or scale exactly) under y -> y / s, so working on values of
    # magnitude <= 1 keeps sums of squares from overflowing on any finite input.
    return float(np.max(np.abs(data))) if data.size else 0.0


def mser(series: object, batch_size: int = 5, max_fraction: float = 0.5) -> Truncation:
    """MSER-``batch_size`` truncation point of ``series`` (MSER-5 by default).

    The series is cut into m consecutive batches of ``batch_size`` (an incomplete tail batch is
    dropped) with means Z_1..Z_m, and for d = 0..D

        MSER(d) = 1/(m-d)^2 * sum_{j=d+1..m} (Z_j - mean(Z_{d+1..m}))^2

    is minimised; the first minimum wins ties.  D = floor(m * max_fraction), but at most m - 2:
    with a single batch left MSER is 0 by construction (no variance to measure), so that
    candidate would be chosen for no reason.  ``at_limit`` is set when d* = D and there was more
    than one candidate.  O(m): suffix sums from reversed cumulative sums, on batch means
    centred on their overall mean so that a large level does not cancel out the spread.

    ``at_limit`` flags strong trends only.  For batch means rising by s per batch with noise of
    standard deviation sigma, MSER(d) ~ s^2 (m-d) / 12 + sigma^2 / (m-d) keeps falling up to the
    limit once the rise over the kept part, s (m-d), exceeds sqrt(12) sigma, but from one d to
    the next it falls by about s^2 / 12 while wobbling by about s sigma / (m-d), so the minimum
    lands exactly on the limit reliably only when s (m-d) is well above 12 sigma (simulated:
    about half the time at 7.5 sigma, 99.7% at 30 sigma).  Slower growth needs ``trend``.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, Integral) or batch_size < 1:
        raise CapplanError(f"must be an integer >= 1, got {batch_size!r}", field="batch_size")
    if (isinstance(max_fraction, bool) or not isinstance(max_fraction, Real)
            or not 0.0 < float(max_fraction) < 1.0):
        raise CapplanError(f"must be a number strictly between 0 and 1, got {max_fraction!r}",
                           field="max_fraction")
    b = int(batch_size)
    y = _finite_vector(series, "series")
    m = y.size // b
    if m < 2:
        raise CapplanError(f"needs at least 2 complete batches of {b} ({2 * b} observations), "
                           f"got {y.size}", field="series")
    # Exact rational arithmetic: 0.29 * 100 is 28.999999999999996 in floats but the binary value
    # of 0.29 really is below 0.29, so the floor must agree with observations <= fraction * n.
    limit = min(math.floor(Fraction(float(max_fraction)) * m), m - 2)
    candidates = limit + 1

    scale = _scale(y[: m * b])
    z = (y[: m * b] / scale).reshape(m, b).mean(axis=1) if scale > 0 else np.zeros(m)
    if np.ptp(z) == 0.0:
        # Constant batch means: every MSER(d) is 0; skip the arithmetic that would only add noise.
        return Truncation(0, 0, b, candidates, False, 0.0)

    c = z - z.mean()
    s1 = np.cumsum(c[::-1])[::-1][:candidates]           # sum_{j>d} c_j
    s2 = np.cumsum((c * c)[::-1])[::-1][:candidates]     # sum_{j>d} c_j^2
    n = (m - np.arange(candidates)).astype(np.float64)
    ss = np.maximum(s2 - s1 * s1 / n, 0.0)                # rounding can push an exact 0 below 0
    stat = ss / (n * n)
    # Bound on the rounding error of the running sums (Higham: n * eps * sum|terms|, and
    # s1^2/n <= s2 by Cauchy-Schwarz).  Candidates whose MSER differs from the minimum by less
    # than that are ties in exact arithmetic, and the first of them wins.
    err = 4.0 * (m + 2) * _EPS * s2 / (n * n)
    best = int(np.argmin(stat))
    d = int(np.argmax(stat <= stat[best] + err[best] + err))
    with np.errstate(over="ignore"):
        statistic = float(np.float64(stat[d]) * scale * scale)
    return Truncation(
        batches=d,
        observations=d * b,
        batch_size=b,
        candidates=candidates,
        at_limit=candidates > 1 and d == limit,
        statistic=statistic,
    )


def trend(values: object, alpha: float = 0.01, min_growth: float = 0.2, floor: float = 1e-9) -> Trend:
    """OLS trend test of k batch means (k >= 4) against their index 0..k-1.

    The slope's standard error comes from the residuals and the test is Student's t with k - 2
    degrees of freedom; the 95% interval uses the same distribution.  ``growing`` needs three
    things: p < ``alpha``, a positive slope, and a fitted rise over the window,
    slope * (k - 1), larger than ``min_growth`` times the fitted level (the mean, which is the
    fitted value at the centre of the window; ``floor`` keeps a zero level from dividing by
    zero).  The last criterion stops a long, precise run from calling a statistically
    detectable but practically negligible drift "growth".

    Why a t-test on batch means is acceptable: the test assumes independent normal residuals.
    The mean of a batch is an average of many correlated observations, so by the central limit
    theorem for dependent sequences it is close to normal, and the correlation between adjacent
    batch means falls as the batches grow: for autocorrelation exp(-t/tau), batches of length
    B >> tau have lag-1 correlation about tau / (2 (B - tau)), 0.06 at B = 10 tau (the method of
    batch means: Schmeiser 1982; Law & Kelton, "Simulation Modeling and Analysis", ch. 9).  What
    correlation r remains makes the test anti-conservative (the true variance of the slope is
    about (1 + r) / (1 - r) times the estimate).  Only positive slopes count, so with
    independent batches the false-positive rate is at most alpha / 2; simulated with k = 20
    AR(1) batch means and alpha = 0.01 it is about 0.009 at r = 0.1 (still below alpha),
    0.014 at r = 0.2 and 0.056 at r = 0.5.  Hence the small default ``alpha``, the
    practical-size criterion (which only lowers the rate further) and ``combine``'s majority vote
    (five replications at r = 0.5: about 0.002).  The CALLER must make each batch much longer
    than the system's relaxation time (ten times or more; e.g. about 1 / (mu (1 - sqrt(rho))^2)
    for an M/M/1 queue at utilisation rho) and pass only batches after the warm-up truncation;
    with short batches the false-positive rate is not controlled.
    """
    if not isinstance(alpha, Real) or not 0.0 < float(alpha) < 1.0:
        raise CapplanError(f"must be strictly between 0 and 1, got {alpha!r}", field="alpha")
    if not isinstance(min_growth, Real) or not 0.0 <= float(min_growth) < math.inf:
        raise CapplanError(f"must be a finite number >= 0, got {min_growth!r}", field="min_growth")
    if not isinstance(floor, Real) or not 0.0 < float(floor) < math.inf:
        raise CapplanError(f"must be a finite number > 0, got {floor!r}", field="floor")
    y = _finite_vector(values, "values")
    k = y.size
    if k < 4:
        raise CapplanError(f"needs at least 4 batch means, got {k}", field="values")

    # All arithmetic on y / scale (|values| <= 1): the t statistic, p-value and relative growth
    # are scale-free, and only the slope and its interval are multiplied back.
    scale = _scale(y)
    u = y / scale if scale > 0.0 else y
    if np.ptp(u) == 0.0:
        # A constant series has no slope and no residual: report "no evidence" rather than 0/0.
        return Trend(0.0, 0.0, 0.0, 1.0, 0.0, False)
    x = np.arange(k, dtype=np.float64) - (k - 1) / 2.0   # exact: half-integers, sum exactly 0
    sxx = k * (k * k - 1) / 12.0
    level = float(u.mean())
    uc = u - level
    b = float(np.dot(x, uc)) / sxx
    resid = uc - b * x
    dof = k - 2
    se = math.sqrt(float(np.dot(resid, resid)) / dof / sxx)
    tcrit = float(stdtrit(dof, 0.975))
    if se > 0.0:
        p = float(min(1.0, 2.0 * stdtr(dof, -abs(b) / se)))
    else:
        p = 1.0 if b == 0.0 else 0.0          # an exact straight line: the slope is certain
    denominator = max(abs(level), floor / scale)
    rel = b * (k - 1) / denominator
    with np.errstate(over="ignore"):
        slope = float(np.float64(b) * scale)
        half = float(np.float64(tcrit * se) * scale)
    return Trend(
        slope=slope,
        slope_low=slope - half,
        slope_high=slope + half,
        p_value=p,
        relative_growth=float(rel),
        growing=bool(p < alpha and b > 0.0 and rel > min_growth),
    )


def combine(trends: list[Trend]) -> bool:
    """The run is non-stationary if a strict majority of its replications are ``growing``.

    A majority over independent replications also cuts the false-positive rate well below each
    replication's: with r replications each wrong with probability q, a false alarm needs more
    than r/2 of them wrong at once.
    """
    trends = list(trends)
    if not trends:
        raise CapplanError("needs at least one replication's trend", field="trends")
    growing = sum(1 for t in trends if t.growing)
    return 2 * growing > len(trends)
