"""Steady-state statistics (capplan.sim.steady): MSER-5 truncation and the batch-means trend test.

Statistical claims are checked as rates over many seeded series, each against a bound stated
in advance plus a binomial allowance (the 99.9% quantile of the count, so a correct
implementation fails about once in a thousand fresh seed sets; the seeds here are fixed).
Reference rates quoted below come from 5,000-200,000-series runs of the same generators.
"""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.signal import lfilter
from scipy.stats import binom, linregress
from scipy.stats import t as student

from capplan.errors import CapplanError
from capplan.sim.steady import Trend, combine, mser, trend

TAIL = 1e-3   # binomial allowance: counts beyond the 99.9% quantile fail


def ar1(rng: np.random.Generator, rows: int, n: int, phi: float, sd: float) -> np.ndarray:
    """`rows` stationary AR(1) series of length n, marginal standard deviation sd."""
    e = rng.normal(0.0, sd * math.sqrt(1.0 - phi * phi), (rows, n))
    e[:, 0] = rng.normal(0.0, sd, rows)   # start in the stationary distribution
    return lfilter([1.0], [1.0, -phi], e, axis=1)


def at_most(n: int, p: float) -> int:
    """Largest count of events of probability <= p among n that is not yet evidence of p being exceeded."""
    return int(binom.ppf(1.0 - TAIL, n, p))


def at_least(n: int, p: float) -> int:
    return int(binom.ppf(TAIL, n, p))


def naive_mser(series: np.ndarray, batch_size: int, limit: int) -> list[float]:
    """MSER(d) for d = 0..limit straight from the definition, O(m^2), two-pass."""
    m = len(series) // batch_size
    z = [float(np.mean(series[j * batch_size:(j + 1) * batch_size])) for j in range(m)]
    out = []
    for d in range(limit + 1):
        kept = z[d:]
        mean = sum(kept) / len(kept)
        out.append(sum((v - mean) ** 2 for v in kept) / len(kept) ** 2)
    return out


# ------------------------------------------------------------------------------------ MSER

# AR(1) noise with phi = 0.5 and sd 0.5: the mean of 5 consecutive values has variance
# sd^2 / 25 * (5 + 2 * sum_{k<5} (5 - k) phi^k) = 0.445 sd^2, i.e. sigma_Z = 0.3335.
PHI, SD, B = 0.5, 0.5, 5
SIGMA_Z = math.sqrt(SD ** 2 / B ** 2 * (B + 2 * sum((B - k) * PHI ** k for k in range(1, B))))


def test_mser_tiny_series_by_hand():
    # Batch means 10, 1, 2, 1; d may be 0..2 (floor(4 * 0.5) = 2):
    # MSER(0) = (6.5^2 + 2.5^2 + 1.5^2 + 2.5^2) / 16 = 57/16
    # MSER(1) = ((1/3)^2 + (2/3)^2 + (1/3)^2) / 9 = 2/27
    # MSER(2) = (0.5^2 + 0.5^2) / 4 = 1/8           -> d* = 1
    y = [10] * 5 + [1] * 5 + [2] * 5 + [1] * 5
    assert naive_mser(np.array(y, float), 5, 2) == pytest.approx([57 / 16, 2 / 27, 1 / 8], rel=1e-15)
    r = mser(y)
    assert (r.batches, r.observations, r.batch_size, r.candidates, r.at_limit) == (1, 5, 5, 3, False)
    assert r.statistic == pytest.approx(2 / 27, rel=1e-12)
    # An incomplete tail batch is dropped, whatever it holds.
    assert mser(y + [1e6] * 4) == r


@pytest.mark.parametrize("batch_size,max_fraction,seed", [(5, 0.5, 1), (1, 0.6, 2), (3, 0.3, 3), (5, 0.9, 4)])
def test_mser_matches_naive_definition(batch_size, max_fraction, seed):
    rng = np.random.default_rng(seed)
    n = 5 * 23 + 2
    y = 3.0 + 4.0 * np.exp(-np.arange(n) / 15.0) + rng.normal(0.0, 1.0, n)
    m = n // batch_size
    limit = min(math.floor(m * max_fraction), m - 2)
    reference = naive_mser(y, batch_size, limit)
    d = int(np.argmin(reference))
    r = mser(y, batch_size=batch_size, max_fraction=max_fraction)
    assert r.batches == d and r.observations == d * batch_size
    assert r.candidates == limit + 1 and r.at_limit == (d == limit)
    assert r.statistic == pytest.approx(reference[d], rel=1e-12)


def test_mser_constant_series_truncates_at_zero():
    for value in (0.0, 0.1, -7.0, 1e300, 5e-324):
        r = mser([value] * 103)
        assert (r.batches, r.observations, r.at_limit, r.statistic) == (0, 0, False, 0.0)


def test_mser_large_level_does_not_cancel():
    # Same fluctuations around 1 and around 1e8 + 1: centring keeps the choice and the statistic.
    rng = np.random.default_rng(11)
    y = 1.0 + 5.0 * np.exp(-np.arange(1000) / 40.0) + ar1(rng, 1, 1000, PHI, SD)[0]
    low, high = mser(y), mser(y + 1e8)
    assert high.batches == low.batches
    assert high.statistic == pytest.approx(low.statistic, rel=1e-6)


def test_mser_finds_the_end_of_an_initial_transient():
    # Bias 9 exp(-t / tau) over AR(1) noise around 1, i.e. decay from 10 to 1.  tau is set so the
    # bias falls to the noise of one batch mean, sigma_Z, at t_end = 20% of the series: after that
    # the transient cannot be told from noise batch by batch.  MSER drops a batch when its squared
    # deviation exceeds about twice the kept batch means' variance (MSER(d+1) < MSER(d) iff
    # delta^2 > S (1 - (n-1)^2 / n^2) ~ 2 S / n), i.e. near bias = sqrt(2) sigma_Z, shortly before
    # t_end, moved either way by the noise.  Band: bias at the cut between sigma_Z / 4 and
    # 4 sigma_Z, i.e. t_end +- tau ln 4.  Reference: 99.86% of 5,000 series land inside (median
    # 380 for t_end = 400), none at the limit.
    n, seeds = 2000, 200
    t_end = 0.2 * n
    tau = t_end / math.log(9.0 / SIGMA_Z)
    low, high = t_end - tau * math.log(4.0), t_end + tau * math.log(4.0)
    rng = np.random.default_rng(2024)
    series = 1.0 + 9.0 * np.exp(-np.arange(n) / tau) + ar1(rng, seeds, n, PHI, SD)
    cuts = [mser(y) for y in series]
    inside = sum(low <= c.observations <= high for c in cuts)
    assert inside >= at_least(seeds, 0.99)
    assert not any(c.at_limit for c in cuts)
    # And it is a real bias reduction: the transient's exact leftover bias in the mean of the kept
    # data is below 3 standard errors of that mean (reference: all 5,000 series, median 1.3),
    # where keeping everything leaves 24.  MSER trades bias against variance, so some remains.
    se = SD * math.sqrt((1 + PHI) / (1 - PHI) / (n - high))
    leftover = [9.0 * np.exp(-np.arange(c.observations, n) / tau).mean() for c in cuts]
    assert 9.0 * np.exp(-np.arange(n) / tau).mean() > 20 * se
    assert sum(b < 3 * se for b in leftover) >= at_least(seeds, 0.99)


def test_mser_stationary_series_truncates_early():
    # No transient: the cut should be within the first few batches.  Reference: 94% of 5,000
    # series of 1,000 AR(1) values (200 batches) cut within 5 batches (2.5% of the data), none at
    # the limit.  The claim tested is "most": at least 85%.
    rng = np.random.default_rng(7)
    seeds = 200
    cuts = [mser(y) for y in 1.0 + ar1(rng, seeds, 1000, PHI, SD)]
    assert sum(c.batches <= 5 for c in cuts) >= at_least(seeds, 0.85)
    assert sum(c.at_limit for c in cuts) <= at_most(seeds, 0.01)


def test_mser_linear_growth_ends_at_the_limit():
    # Batch means rising s = 0.2 per batch (1 to 41 over the series) with sigma_Z = 0.33.
    # MSER(d) ~ s^2 (m-d)/12 + sigma_Z^2 / (m-d) keeps falling up to the limit (its minimum would
    # be at m - d = sqrt(12) sigma_Z / s ~ 6 batches, far below the 100 kept there), and near the
    # limit each step's drift s^2 / 12 dwarfs its wobble s sigma_Z / (m-d) (ratio 0.2), so every
    # seed should stop exactly at the limit (reference: 2,000 of 2,000).
    rng = np.random.default_rng(5)
    n = 1000
    series = 1.0 + 40.0 * np.arange(n) / n + ar1(rng, 50, n, PHI, SD)
    for y in series:
        r = mser(y)
        assert r.at_limit and r.batches == r.candidates - 1 == 100
    # A milder rise (1 to 11, wobble ratio 0.8) still ends within a few batches of the limit.
    mild = [mser(y) for y in 1.0 + 10.0 * np.arange(n) / n + ar1(rng, 50, n, PHI, SD)]
    assert all(r.batches >= 90 for r in mild)


@settings(max_examples=200, deadline=None)
@given(batch_size=st.integers(1, 8), max_fraction=st.floats(0.0, 1.0, exclude_min=True, exclude_max=True),
       data=st.data())
def test_mser_discards_at_most_the_allowed_share(batch_size, max_fraction, data):
    values = data.draw(st.lists(st.floats(allow_nan=False, allow_infinity=False),
                                min_size=2 * batch_size, max_size=120))
    r = mser(values, batch_size=batch_size, max_fraction=max_fraction)
    m = len(values) // batch_size
    assert 0 <= r.observations == r.batches * batch_size
    assert r.observations <= Fraction(max_fraction) * len(values)
    assert r.candidates == min(math.floor(Fraction(max_fraction) * m), m - 2) + 1
    assert r.statistic >= 0.0


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(-1e6, 1e6), min_size=10, max_size=80))
def test_mser_picks_a_minimum_of_the_definition(values):
    y = np.array(values)
    m = len(y) // 5
    reference = naive_mser(y, 5, min(m // 2, m - 2))
    r = mser(y)
    # Compare values, not indices: candidates equal up to rounding are ties.
    slack = 1e-9 * (max(abs(v) for v in values) ** 2 + 1e-300)
    assert reference[r.batches] <= min(reference) + slack
    assert r.statistic == pytest.approx(reference[r.batches], rel=1e-6, abs=slack)


# ----------------------------------------------------------------------------------- trend

K = 20   # batch means per replication


def test_trend_matches_scipy_linregress():
    rng = np.random.default_rng(3)
    for k in (4, 7, 20, 40):
        y = 2.0 + 0.1 * np.arange(k) + rng.normal(0.0, 0.5, k)
        t, ref = trend(y), linregress(np.arange(k), y)
        assert t.slope == pytest.approx(ref.slope, rel=1e-10)
        assert t.p_value == pytest.approx(ref.pvalue, rel=1e-8)
        half = (t.slope_high - t.slope_low) / 2
        assert half == pytest.approx(ref.stderr * student.ppf(0.975, k - 2), rel=1e-8)
        assert t.relative_growth == pytest.approx(ref.slope * (k - 1) / y.mean(), rel=1e-10)


def test_trend_constant_series():
    for values in ([0.1] * 20, [7.0] * 4, [0.0] * 9):
        assert trend(values) == Trend(0.0, 0.0, 0.0, 1.0, 0.0, False)


def test_trend_exact_line_is_certain():
    t = trend([5.0 + 0.5 * i for i in range(10)])
    assert t.p_value == pytest.approx(0.0, abs=1e-12) and t.growing
    assert t.slope == pytest.approx(0.5) and t.slope_low == pytest.approx(0.5) and t.slope_high == pytest.approx(0.5)


def test_trend_pvalue_is_calibrated_on_independent_batches():
    # i.i.d. normal batch means satisfy the t-test's assumptions exactly: P(p < 0.05) = 0.05 and
    # P(growing) <= P(p < alpha and slope > 0) = alpha / 2 = 0.005.
    n = 2000
    rng = np.random.default_rng(17)
    results = [trend(y) for y in 5.0 + rng.normal(0.0, 1.0, (n, K))]
    significant = sum(t.p_value < 0.05 for t in results)
    assert at_least(n, 0.05) <= significant <= at_most(n, 0.05)
    assert sum(t.growing for t in results) <= at_most(n, 0.005)


def test_trend_false_positive_rate_on_stationary_ar1():
    # Batches ~10 relaxation times long leave adjacent batch means with lag-1 correlation ~0.06;
    # test at 0.1.  Bound: alpha (the one-sided nominal rate is alpha / 2; the factor 2 is the
    # allowance for that correlation, see trend's docstring).  Noise is 20% of the level so the
    # practical criterion does not help: this tests the t-test itself.  Reference rate: 0.0092.
    n, alpha = 2000, 0.01
    rng = np.random.default_rng(19)
    results = [trend(y, alpha=alpha) for y in 5.0 + ar1(rng, n, K, 0.1, 1.0)]
    assert sum(t.growing for t in results) <= at_most(n, alpha)


def test_trend_majority_vote_controls_short_batches():
    # Short batches (lag-1 correlation 0.5) push one replication's false-positive rate to ~0.056,
    # above alpha; a majority of 5 replications is wrong with probability ~10 q^3 ~ 0.002 < alpha.
    runs, reps, alpha = 1000, 5, 0.01
    rng = np.random.default_rng(23)
    series = 5.0 + ar1(rng, runs * reps, K, 0.5, 1.0)
    alarms = sum(combine([trend(y, alpha=alpha) for y in series[r * reps:(r + 1) * reps]]) for r in range(runs))
    assert alarms <= at_most(runs, alpha)


def test_trend_detects_fifty_percent_growth():
    # Level 5 rising to 7.5 over the window (noise 10% of the level, lag-1 correlation 0.1): the
    # fitted rise relative to the fitted mean 6.25 is 0.4 with sd ~0.065, 3 sd above min_growth
    # 0.2, and the t statistic is ~6, so a miss has probability ~0.001 (reference: 0.0009).
    n = 200
    rng = np.random.default_rng(29)
    series = 5.0 + 2.5 * np.arange(K) / (K - 1) + ar1(rng, n, K, 0.1, 0.5)
    results = [trend(y) for y in series]
    assert sum(not t.growing for t in results) <= at_most(n, 0.001)
    assert np.mean([t.relative_growth for t in results]) == pytest.approx(0.4, abs=0.02)


def test_trend_decreasing_series_is_never_growing():
    rng = np.random.default_rng(31)
    series = 7.5 - 2.5 * np.arange(K) / (K - 1) + ar1(rng, 500, K, 0.1, 0.5)
    results = [trend(y) for y in series]
    assert not any(t.growing for t in results)
    assert all(t.slope < 0 for t in results if t.p_value < 0.01)


def test_trend_tiny_slope_on_precise_run_is_not_growth():
    # 2% drift over 40 batches with almost no noise: overwhelmingly significant, practically nil.
    rng = np.random.default_rng(37)
    y = 50.0 * (1.0 + 0.02 * np.arange(40) / 39) + rng.normal(0.0, 0.01, 40)
    t = trend(y)
    assert t.p_value < 1e-12 and t.slope > 0
    assert t.relative_growth == pytest.approx(0.02, rel=0.05)
    assert not t.growing


def test_trend_slope_interval_coverage():
    # i.i.d. noise around a known line: the 95% interval is exact, so coverage ~ Binomial(n, 0.95).
    n, k, true_slope = 2000, 12, 0.3
    rng = np.random.default_rng(41)
    series = 1.0 + true_slope * np.arange(k) + rng.normal(0.0, 2.0, (n, k))
    covered = sum(t.slope_low <= true_slope <= t.slope_high for t in map(trend, series))
    assert at_least(n, 0.95) <= covered <= at_most(n, 0.95)


@settings(max_examples=300, deadline=None)
@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=4, max_size=60))
def test_trend_never_raises_on_finite_input(values):
    t = trend(values)
    assert 0.0 <= t.p_value <= 1.0
    assert t.slope_low <= t.slope <= t.slope_high
    assert not math.isnan(t.relative_growth)
    assert isinstance(t.growing, bool)
    assert not (t.growing and t.slope <= 0)


def test_combine_is_a_strict_majority():
    up, flat = Trend(1.0, 0.5, 1.5, 0.001, 0.5, True), Trend(0.0, -1.0, 1.0, 1.0, 0.0, False)
    assert combine([up]) and not combine([flat])
    assert not combine([up, flat]) and not combine([up, up, flat, flat])
    assert combine([up, up, flat]) and combine(iter([up, flat, up]))


# ------------------------------------------------------------------------------ bad input

@pytest.mark.parametrize("call,field", [
    (lambda: mser([1.0] * 9), "series"),
    (lambda: mser([1.0] * 3, batch_size=2), "series"),
    (lambda: mser([1.0] * 20 + [math.nan]), "series"),
    (lambda: mser([1.0] * 20 + [math.inf]), "series"),
    (lambda: mser([[1.0] * 10] * 2), "series"),
    (lambda: mser(["a"] * 10), "series"),
    (lambda: mser([1.0] * 20, batch_size=0), "batch_size"),
    (lambda: mser([1.0] * 20, batch_size=2.5), "batch_size"),
    (lambda: mser([1.0] * 20, batch_size=True), "batch_size"),
    (lambda: mser([1.0] * 20, max_fraction=0.0), "max_fraction"),
    (lambda: mser([1.0] * 20, max_fraction=1.0), "max_fraction"),
    (lambda: mser([1.0] * 20, max_fraction=math.nan), "max_fraction"),
    (lambda: trend([1.0, 2.0, 3.0]), "values"),
    (lambda: trend([1.0, 2.0, math.nan, 4.0]), "values"),
    (lambda: trend([1.0, 2.0, -math.inf, 4.0]), "values"),
    (lambda: trend([1.0] * 5, alpha=0.0), "alpha"),
    (lambda: trend([1.0] * 5, min_growth=-0.1), "min_growth"),
    (lambda: trend([1.0] * 5, floor=0.0), "floor"),
    (lambda: combine([]), "trends"),
])
def test_bad_input_raises_one_line_error(call, field):
    with pytest.raises(CapplanError) as info:
        call()
    assert info.value.field == field
    message = str(info.value)
    assert message.startswith(f"{field}: ") and "\n" not in message
