"""Tests for capplan.analytic: textbook numbers, independent oracles, properties, validation.

Every oracle below is computed independently of the code under test (explicit factorial sums,
birth-death chains, CTMC generators, brute-force product-form enumeration, numerical
integration, closed-form roots), never by calling the function being checked.
"""

from __future__ import annotations

import itertools
import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.special import lambertw

from capplan.analytic import (
    MAX_LATTICE_POINTS,
    allen_cunneen_wq,
    ekm1,
    erlang_b,
    erlang_c,
    gim1,
    kingman_wq,
    mg1_pk,
    mgcc_blocking,
    mmc,
    mmc_sojourn_cdf,
    mmc_sojourn_quantile,
    mmc_wait_cdf,
    mmc_wait_quantile,
    mmck,
    mva_exact,
    mva_multiclass,
)
from capplan.errors import CapplanError

HYP = settings(max_examples=60, deadline=None, database=None)


# ------------------------------------------------------------------------------------------
# Independent oracles
# ------------------------------------------------------------------------------------------


def erlang_b_direct(c: int, a: float) -> float:
    """(a^c / c!) / sum_{k<=c} a^k / k!, summed in log space."""
    logs = [k * math.log(a) - math.lgamma(k + 1) for k in range(c + 1)]
    mx = max(logs)
    return math.exp(logs[-1] - mx) / sum(math.exp(v - mx) for v in logs)


def erlang_c_direct(c: int, a: float) -> float:
    """Textbook M/M/c P0 form: (a^c/c!)/(1-rho) * P0."""
    rho = a / c
    head = sum(a**k / math.factorial(k) for k in range(c))
    tail = a**c / math.factorial(c) / (1 - rho)
    return tail / (head + tail)


def birth_death(birth, death, n_max: int) -> np.ndarray:
    """Stationary distribution of a birth-death chain on 0..n_max (log-space products)."""
    logw = [0.0]
    for n in range(1, n_max + 1):
        logw.append(logw[-1] + math.log(birth(n - 1)) - math.log(death(n)))
    w = np.exp(np.array(logw) - max(logw))
    return w / w.sum()


def repairman(d: float, m: int, z: float, n: int) -> tuple[float, float]:
    """Closed system: N customers thinking Z (exp) then served at an m-server station (mean D).

    Returns (throughput, mean number at the station) from the birth-death chain of the number
    at the station.
    """
    p = birth_death(lambda j: (n - j) / z, lambda j: min(j, m) / d, n)
    states = np.arange(n + 1)
    x = float(np.minimum(states, m) @ p) / d
    return x, float(states @ p)


def ctmc_tandem(d1: float, d2: float, m2: int, d3: float, z: float, n: int):
    """Full CTMC of think(Z, IS) -> st1 (1 server, D1) -> st2 (m2 servers, D2) -> st3 (IS, D3).

    Returns (throughput, [Q1, Q2, Q3]).  Solved from the generator, not from product form.
    """
    states = [s for s in itertools.product(range(n + 1), repeat=3) if sum(s) <= n]
    index = {s: i for i, s in enumerate(states)}
    q = np.zeros((len(states), len(states)))
    for s, i in index.items():
        j1, j2, j3 = s
        think = n - j1 - j2 - j3
        moves = []
        if think > 0:
            moves.append(((j1 + 1, j2, j3), think / z))
        if j1 > 0:
            moves.append(((j1 - 1, j2 + 1, j3), 1 / d1))
        if j2 > 0:
            moves.append(((j1, j2 - 1, j3 + 1), min(j2, m2) / d2))
        if j3 > 0:
            moves.append(((j1, j2, j3 - 1), j3 / d3))
        for t, rate in moves:
            q[i, index[t]] += rate
            q[i, i] -= rate
    a = np.vstack([q.T, np.ones(len(states))])
    b = np.zeros(len(states) + 1)
    b[-1] = 1.0
    pi = np.linalg.lstsq(a, b, rcond=None)[0]
    arr = np.array(states, dtype=float)
    qlen = arr.T @ pi
    x = float((arr[:, 0] > 0) @ pi) / d1
    return x, qlen


def textbook_mva(demands, z, n, delay=None):
    """Plain Reiser-Lavenberg MVA for single-server and delay stations (QSP Algorithm 6.1)."""
    delay = delay or [False] * len(demands)
    q = [0.0] * len(demands)
    x = 0.0
    r = list(demands)
    for pop in range(1, n + 1):
        r = [dk if dl else dk * (1 + qk) for dk, qk, dl in zip(demands, q, delay)]
        x = pop / (z + sum(r))
        q = [x * rk for rk in r]
    return x, r, q


def product_form_multiclass(d, z, pops, delay):
    """Brute-force enumeration of the multi-class product form (PS / IS stations).

    Weight of a state: prod over stations of n_k! prod_r D_rk^n_rk / n_rk! (PS) or
    prod_r D_rk^n_rk / n_rk! (IS), times prod_r Z_r^n0r / n0r! for the think stations.
    Returns throughputs (E[n_0r] / Z_r) and mean queue lengths (R, K).
    """
    n_cls, k_st = len(d), len(d[0])

    def splits(total, parts):
        if parts == 1:
            yield (total,)
            return
        for first in range(total + 1):
            for rest in splits(total - first, parts - 1):
                yield (first, *rest)

    per_class = [list(splits(pops[r], k_st + 1)) for r in range(n_cls)]  # last slot = think
    norm = 0.0
    e_think = np.zeros(n_cls)
    e_q = np.zeros((n_cls, k_st))
    for combo in itertools.product(*per_class):
        w = 1.0
        for k in range(k_st):
            nk = sum(combo[r][k] for r in range(n_cls))
            if not delay[k]:
                w *= math.factorial(nk)
            for r in range(n_cls):
                w *= d[r][k] ** combo[r][k] / math.factorial(combo[r][k])
        for r in range(n_cls):
            w *= z[r] ** combo[r][k_st] / math.factorial(combo[r][k_st])
        norm += w
        for r in range(n_cls):
            e_think[r] += w * combo[r][k_st]
            for k in range(k_st):
                e_q[r, k] += w * combo[r][k]
    return e_think / norm / np.asarray(z), e_q / norm


# ------------------------------------------------------------------------------------------
# Erlang B / C
# ------------------------------------------------------------------------------------------


def test_erlang_b_textbook_value():
    assert erlang_b(10, 5.0) == pytest.approx(0.018384, abs=1e-6)
    assert erlang_b(10, 5.0) == pytest.approx(erlang_b_direct(10, 5.0), rel=1e-12)


@pytest.mark.parametrize("c,a", [(1, 0.7), (2, 1.5), (7, 3.3), (40, 35.0), (120, 150.0)])
def test_erlang_b_matches_factorial_sum(c, a):
    assert erlang_b(c, a) == pytest.approx(erlang_b_direct(c, a), rel=1e-12)


def test_erlang_b_single_server_and_zero_load():
    assert erlang_b(1, 2.0) == pytest.approx(2.0 / 3.0, rel=1e-15)
    assert erlang_b(3, 0.0) == 0.0


def test_erlang_b_large_c_is_stable():
    b = erlang_b(2000, 1900.0)
    assert 0.0 < b < 1.0
    assert b == pytest.approx(erlang_b_direct(2000, 1900.0), rel=1e-10)


def test_erlang_c_mm3_example():
    assert erlang_c(3, 2.0) == pytest.approx(4.0 / 9.0, rel=1e-14)


@pytest.mark.parametrize("c,a", [(1, 0.3), (2, 1.2), (5, 4.1), (12, 9.0)])
def test_erlang_c_matches_p0_form(c, a):
    assert erlang_c(c, a) == pytest.approx(erlang_c_direct(c, a), rel=1e-12)


def test_erlang_c_single_server_is_rho():
    assert erlang_c(1, 0.65) == pytest.approx(0.65, rel=1e-15)


def test_erlang_c_rejects_overload():
    with pytest.raises(CapplanError) as ei:
        erlang_c(3, 3.0)
    assert ei.value.field == "a"


@HYP
@given(c=st.integers(1, 150), a=st.floats(0.001, 300.0))
def test_erlang_b_in_unit_interval_and_decreasing_in_c(c, a):
    b1, b2 = erlang_b(c, a), erlang_b(c + 1, a)
    assert 0.0 <= b2 <= b1 <= 1.0
    if b1 > 1e-290:
        assert b2 < b1


@HYP
@given(c=st.integers(1, 60), a=st.floats(0.01, 100.0))
def test_erlang_b_increasing_in_load(c, a):
    assert erlang_b(c, a * 1.01) > erlang_b(c, a) or erlang_b(c, a) < 1e-290


# ------------------------------------------------------------------------------------------
# M/M/c
# ------------------------------------------------------------------------------------------


def test_mm3_textbook_numbers():
    r = mmc(0.2, 0.1, 3)
    assert r.wq == pytest.approx(40.0 / 9.0, rel=1e-13)
    assert r.w == pytest.approx(40.0 / 9.0 + 10.0, rel=1e-13)
    assert r.lq == pytest.approx(8.0 / 9.0, rel=1e-13)
    assert r.l == pytest.approx(8.0 / 9.0 + 2.0, rel=1e-13)
    assert r.rho == pytest.approx(2.0 / 3.0)
    assert r.p_wait == pytest.approx(4.0 / 9.0)


@pytest.mark.parametrize("lam,mu", [(0.5, 1.0), (9.0, 10.0), (0.01, 3.0)])
def test_mm1_closed_forms(lam, mu):
    r = mmc(lam, mu, 1)
    rho = lam / mu
    assert r.wq == pytest.approx(rho / (mu - lam), rel=1e-13)
    assert r.w == pytest.approx(1 / (mu - lam), rel=1e-13)
    assert r.l == pytest.approx(rho / (1 - rho), rel=1e-13)
    assert r.lq == pytest.approx(rho**2 / (1 - rho), rel=1e-12)
    assert r.p_wait == pytest.approx(rho, rel=1e-14)


@pytest.mark.parametrize("lam,mu,c", [(0.2, 0.1, 3), (45.0, 1.0, 50), (1.0, 0.3, 4)])
def test_mmc_littles_law(lam, mu, c):
    r = mmc(lam, mu, c)
    assert r.l == pytest.approx(lam * r.w, rel=1e-13)
    assert r.lq == pytest.approx(lam * r.wq, rel=1e-13)
    assert r.l - r.lq == pytest.approx(lam / mu, rel=1e-12)  # mean busy servers


@HYP
@given(
    mu=st.floats(0.01, 100.0),
    c=st.integers(1, 30),
    f1=st.floats(0.01, 0.98),
    df=st.floats(1e-4, 0.5),
)
def test_mmc_wq_increasing_in_lambda(mu, c, f1, df):
    f2 = min(f1 + df, 0.995)
    assert mmc(f2 * c * mu, mu, c).wq > mmc(f1 * c * mu, mu, c).wq


def test_mmc_wait_cdf_and_quantile():
    lam, mu, c = 0.2, 0.1, 3
    cw = 4.0 / 9.0
    assert mmc_wait_cdf(lam, mu, c, 0.0) == pytest.approx(1 - cw)
    assert mmc_wait_cdf(lam, mu, c, -1.0) == 0.0
    for t in (0.5, 3.0, 40.0):
        assert mmc_wait_cdf(lam, mu, c, t) == pytest.approx(1 - cw * math.exp(-0.1 * t))
    assert mmc_wait_quantile(lam, mu, c, 0.0) == 0.0
    assert mmc_wait_quantile(lam, mu, c, 1 - cw) == 0.0
    assert mmc_wait_quantile(lam, mu, c, 0.5) == 0.0
    q95 = mmc_wait_quantile(lam, mu, c, 0.95)
    assert q95 == pytest.approx(math.log(cw / 0.05) / 0.1, rel=1e-13)
    # Mean of the wait from its CDF equals Wq = 40/9.
    mean = integrate.quad(lambda t: 1 - mmc_wait_cdf(lam, mu, c, t), 0, np.inf)[0]
    assert mean == pytest.approx(40.0 / 9.0, rel=1e-8)


@pytest.mark.parametrize("lam,mu", [(0.5, 1.0), (0.99, 1.0), (3.0, 7.0)])
def test_sojourn_cdf_c1_is_exponential(lam, mu):
    for t in (0.0, 0.01, 0.3, 1.0, 5.0, 50.0):
        assert mmc_sojourn_cdf(lam, mu, 1, t) == pytest.approx(
            1 - math.exp(-(mu - lam) * t), rel=1e-12, abs=1e-15
        )
    for p in (0.1, 0.5, 0.9, 0.999):
        assert mmc_sojourn_quantile(lam, mu, 1, p) == pytest.approx(
            -math.log(1 - p) / (mu - lam), rel=1e-10
        )


def _sojourn_cdf_by_quadrature(lam: float, mu: float, c: int, t: float) -> float:
    cw = erlang_c_direct(c, lam / mu)
    theta = c * mu - lam
    conv = integrate.quad(lambda x: theta * math.exp(-theta * x) * (1 - math.exp(-mu * (t - x))),
                          0, t, epsabs=1e-14, epsrel=1e-12)[0]
    return (1 - cw) * (1 - math.exp(-mu * t)) + cw * conv


@pytest.mark.parametrize(
    "lam,mu,c",
    [
        (0.2, 0.1, 3),  # theta = 0.1 = mu: the special case
        (1.0, 1.0, 2),  # theta = 1 = mu
        (1.0 + 1e-9, 1.0, 2),  # just off the special case
        (2.5, 1.0, 3),  # theta < mu
        (0.5, 1.0, 4),  # theta > mu
        (40.0, 1.0, 48),
    ],
)
def test_sojourn_cdf_matches_numerical_convolution(lam, mu, c):
    for t in (0.05, 0.7, 2.0, 9.0, 30.0):
        assert mmc_sojourn_cdf(lam, mu, c, t) == pytest.approx(
            _sojourn_cdf_by_quadrature(lam, mu, c, t), rel=1e-9, abs=1e-12
        )


@pytest.mark.parametrize("lam,mu,c", [(0.2, 0.1, 3), (2.5, 1.0, 3), (0.5, 1.0, 4)])
def test_sojourn_cdf_mean_equals_w(lam, mu, c):
    mean = integrate.quad(lambda t: 1 - mmc_sojourn_cdf(lam, mu, c, t), 0, np.inf,
                          epsrel=1e-11)[0]
    assert mean == pytest.approx(mmc(lam, mu, c).w, rel=1e-8)


def test_sojourn_special_case_is_continuous():
    at = mmc_sojourn_cdf(1.0, 1.0, 2, 1.3)
    # theta == mu: P(T > t) = e^{-mu t}(1 + C mu t) with C = erlang_c(2, 1) = 1/3
    assert at == pytest.approx(1 - math.exp(-1.3) * (1 + 1.3 / 3), rel=1e-14)
    for eps in (1e-12, 1e-8, 1e-5):
        assert mmc_sojourn_cdf(1.0 + eps, 1.0, 2, 1.3) == pytest.approx(at, abs=10 * eps)
        assert mmc_sojourn_cdf(1.0 - eps, 1.0, 2, 1.3) == pytest.approx(at, abs=10 * eps)


@HYP
@given(
    mu=st.floats(0.05, 50.0),
    c=st.integers(1, 20),
    frac=st.floats(0.05, 0.97),
    p=st.floats(1e-6, 0.9999),
)
def test_sojourn_quantile_inverts_cdf(mu, c, frac, p):
    lam = frac * c * mu
    t = mmc_sojourn_quantile(lam, mu, c, p)
    assert t > 0
    assert mmc_sojourn_cdf(lam, mu, c, t) == pytest.approx(p, rel=1e-9, abs=1e-12)


def test_sojourn_quantile_zero_and_order():
    assert mmc_sojourn_quantile(0.2, 0.1, 3, 0.0) == 0.0
    qs = [mmc_sojourn_quantile(0.2, 0.1, 3, p) for p in (0.1, 0.5, 0.9, 0.99)]
    assert qs == sorted(qs)
    # The sojourn quantile dominates the wait quantile plus nothing and S's quantile.
    assert qs[2] > mmc_wait_quantile(0.2, 0.1, 3, 0.9)
    assert qs[2] > -math.log(0.1) / 0.1


# ------------------------------------------------------------------------------------------
# M/M/c/K, M/G/c/c
# ------------------------------------------------------------------------------------------


def mm1k_closed(rho: float, k: int) -> tuple[float, float]:
    """(p_K, L) of M/M/1/K (Gross & Harris sec. 2.4), in forms safe for rho > 1 and large K."""
    if rho == 1.0:
        return 1 / (k + 1), k / 2
    if rho < 1:
        pk = (1 - rho) * rho**k / (1 - rho ** (k + 1))
        l_sys = rho / (1 - rho) - (k + 1) * rho ** (k + 1) / (1 - rho ** (k + 1))
    else:
        inv = 1 / rho
        pk = (rho - 1) / (rho - inv**k)  # = (1-rho) rho^K / (1 - rho^{K+1})
        l_sys = rho / (1 - rho) + (k + 1) / (1 - inv ** (k + 1))
    return pk, l_sys


@pytest.mark.parametrize("rho,k", [(0.5, 10), (2.0, 10), (1.0, 7), (0.9, 1000), (1.5, 1000)])
def test_mm1k_closed_form(rho, k):
    mu = 2.0
    r = mmck(rho * mu, mu, 1, k)
    pk, l_sys = mm1k_closed(rho, k)
    assert r.p_loss == pytest.approx(pk, rel=1e-10, abs=1e-300)
    assert r.l == pytest.approx(l_sys, rel=1e-10)
    assert r.throughput == pytest.approx(rho * mu * (1 - pk), rel=1e-12)
    assert r.state_probs.sum() == pytest.approx(1.0)


def test_mmck_small_case_explicit_probabilities():
    lam, mu, c, k = 3.0, 1.0, 2, 5
    w = [lam**n / (math.factorial(n) * mu**n) if n <= c else
         lam**n / (math.factorial(c) * c ** (n - c) * mu**n) for n in range(k + 1)]
    p = np.array(w) / sum(w)
    r = mmck(lam, mu, c, k)
    np.testing.assert_allclose(r.state_probs, p, rtol=1e-13)
    assert r.lq == pytest.approx(sum((n - c) * p[n] for n in range(c + 1, k + 1)), rel=1e-13)
    assert r.wq == pytest.approx(r.lq / (lam * (1 - p[-1])), rel=1e-13)


@pytest.mark.parametrize("lam,mu,c", [(0.2, 0.1, 3), (7.0, 1.0, 10), (0.9, 1.0, 1)])
def test_mmck_huge_k_converges_to_mmc(lam, mu, c):
    big = mmck(lam, mu, c, 3000)
    ref = mmc(lam, mu, c)
    assert big.p_loss < 1e-12
    assert big.wq == pytest.approx(ref.wq, rel=1e-9)
    assert big.w == pytest.approx(ref.w, rel=1e-9)
    assert big.l == pytest.approx(ref.l, rel=1e-9)
    assert big.lq == pytest.approx(ref.lq, rel=1e-9)


@pytest.mark.parametrize("c,a", [(1, 0.5), (5, 4.0), (10, 5.0), (30, 45.0)])
def test_mmcc_loss_is_erlang_b(c, a):
    r = mmck(a * 0.25, 0.25, c, c)
    assert r.p_loss == pytest.approx(erlang_b_direct(c, a), rel=1e-12)
    assert r.lq == 0.0 and r.wq == 0.0
    assert r.w == pytest.approx(4.0, rel=1e-12)  # no waiting: W = 1/mu


@pytest.mark.parametrize("lam,mu,c,k", [(3.0, 1.0, 2, 5), (50.0, 1.0, 10, 1000), (0.1, 2.0, 4, 9)])
def test_mmck_internal_identities(lam, mu, c, k):
    r = mmck(lam, mu, c, k)
    assert r.l == pytest.approx(r.throughput * r.w, rel=1e-12)
    assert r.lq == pytest.approx(r.throughput * r.wq, rel=1e-12)
    # mean busy servers = L - Lq = throughput / mu
    assert r.rho_server == pytest.approx((r.l - r.lq) / c, rel=1e-10)
    assert 0.0 <= r.p_loss <= 1.0 and 0.0 <= r.rho_server <= 1.0


def test_mmck_overloaded_saturates():
    r = mmck(50.0, 1.0, 10, 1000)
    assert r.p_loss == pytest.approx(1 - 10 / 50, rel=1e-9)  # throughput -> c mu
    assert r.rho_server == pytest.approx(1.0, rel=1e-9)


@HYP
@given(lam=st.floats(0.01, 100.0), mu=st.floats(0.01, 100.0), c=st.integers(1, 20),
       extra=st.integers(0, 200))
def test_mmck_loss_decreases_with_capacity(lam, mu, c, extra):
    k = c + extra
    a, b = mmck(lam, mu, c, k), mmck(lam, mu, c, k + 1)
    assert 0.0 <= b.p_loss <= a.p_loss * (1 + 1e-12) and a.p_loss <= 1.0
    assert a.l <= k + 1e-9


def test_mgcc_blocking_is_erlang_b_insensitive():
    assert mgcc_blocking(2.5, 2.0, 10) == pytest.approx(erlang_b_direct(10, 5.0), rel=1e-12)
    assert mgcc_blocking(0.5, 10.0, 10) == pytest.approx(0.018384, abs=1e-6)


# ------------------------------------------------------------------------------------------
# M/G/1 and approximations
# ------------------------------------------------------------------------------------------


def test_pk_cv1_is_mm1():
    lam, s = 0.8, 1.0
    r = mg1_pk(lam, s, 1.0)
    assert r.wq == pytest.approx(0.8 / (1.0 - 0.8), rel=1e-13)  # rho/(mu - lam), mu = 1
    assert r.l == pytest.approx(0.8 / 0.2, rel=1e-13)
    assert r.wq == pytest.approx(mmc(lam, 1 / s, 1).wq, rel=1e-13)


def test_pk_cv0_is_md1():
    r = mg1_pk(0.5, 1.0, 0.0)
    assert r.wq == pytest.approx(0.5, rel=1e-14)  # rho S / (2 (1 - rho))
    assert r.lq == pytest.approx(0.25, rel=1e-14)  # rho^2 / (2 (1 - rho))
    assert r.l == pytest.approx(0.75, rel=1e-14)
    assert r.w == pytest.approx(1.5, rel=1e-14)


def test_pk_little():
    r = mg1_pk(3.0, 0.2, 2.0)
    assert r.rho == pytest.approx(0.6)
    assert r.wq == pytest.approx(0.6 * 0.2 * 5 / (2 * 0.4), rel=1e-14)
    assert r.l == pytest.approx(3.0 * r.w, rel=1e-14)


def test_kingman_exact_for_mm1_and_mg1():
    assert kingman_wq(1.0, 1.0, 0.8, 1.0) == pytest.approx(4.0, rel=1e-14)
    assert kingman_wq(1.0, 0.0, 0.5, 1.0) == pytest.approx(0.5, rel=1e-14)  # M/D/1


def test_allen_cunneen_exact_for_mmc():
    assert allen_cunneen_wq(0.2, 10.0, 3, 1.0, 1.0) == pytest.approx(40.0 / 9.0, rel=1e-13)
    assert allen_cunneen_wq(0.2, 10.0, 3, 0.5, 0.0) == pytest.approx(10.0 / 9.0, rel=1e-13)


# ------------------------------------------------------------------------------------------
# GI/M/1
# ------------------------------------------------------------------------------------------


def e2m1_sigma(rho: float) -> float:
    """E2/M/1 with mu = 1: sigma (2 lam + 1 - sigma)^2 = 4 lam^2 factors as
    (sigma - 1)(sigma^2 - (4 lam + 1) sigma + 4 lam^2) = 0; take the root in (0, 1)."""
    b = 4 * rho + 1
    return (b - math.sqrt(b * b - 16 * rho * rho)) / 2


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_e2m1_exact_and_kingman_misses(rho):
    r = ekm1(2, rho, 1.0)
    sigma = e2m1_sigma(rho)
    assert r.sigma == pytest.approx(sigma, rel=1e-12)
    assert r.wq == pytest.approx(sigma / (1 - sigma), rel=1e-11)
    assert r.w == pytest.approx(1 / (1 - sigma), rel=1e-11)
    assert r.l == pytest.approx(rho * r.w, rel=1e-13)
    king = kingman_wq(0.5, 1.0, rho, 1.0)
    assert abs(king - r.wq) / r.wq > 0.03
    ac = allen_cunneen_wq(rho, 1.0, 1, 0.5, 1.0)
    assert abs(ac - r.wq) / r.wq > 0.03


def test_e2m1_textbook_values():
    assert ekm1(2, 0.5, 1.0).sigma == pytest.approx((3 - math.sqrt(5)) / 2, rel=1e-12)
    assert ekm1(2, 0.8, 1.0).sigma == pytest.approx((4.2 - math.sqrt(7.4)) / 2, rel=1e-12)


@pytest.mark.parametrize("k,rho", [(3, 0.7), (5, 0.9), (10, 0.3)])
def test_ekm1_matches_polynomial_root(k, rho):
    lam, mu = rho * 2.0, 2.0
    # (k lam)^k = sigma (k lam + mu - mu sigma)^k
    poly = np.polynomial.Polynomial([k * lam + mu, -mu]) ** k * np.polynomial.Polynomial([0, 1])
    poly = poly - (k * lam) ** k
    roots = [z.real for z in poly.roots() if abs(z.imag) < 1e-9 and 1e-9 < z.real < 1 - 1e-9]
    assert len(roots) == 1
    assert ekm1(k, lam, mu).sigma == pytest.approx(roots[0], rel=1e-9)


@pytest.mark.parametrize("lam,mu", [(0.3, 1.0), (4.0, 5.0)])
def test_gim1_exponential_is_mm1(lam, mu):
    r = gim1(lambda s: lam / (lam + s), lam, mu)
    assert r.sigma == pytest.approx(lam / mu, rel=1e-12)
    assert r.wq == pytest.approx(mmc(lam, mu, 1).wq, rel=1e-10)
    assert ekm1(1, lam, mu).sigma == pytest.approx(lam / mu, rel=1e-12)


@pytest.mark.parametrize("rho", [0.5, 0.8, 0.95])
def test_dm1_matches_lambert_w(rho):
    lam, mu = rho, 1.0
    r = gim1(lambda s: math.exp(-s / lam), lam, mu)
    sigma = float(-rho * lambertw(-math.exp(-1 / rho) / rho).real)
    assert r.sigma == pytest.approx(sigma, rel=1e-10)
    if rho == 0.5:
        assert r.sigma == pytest.approx(0.2032, abs=1e-4)


def test_gim1_rejects_bad_transform():
    with pytest.raises(CapplanError) as ei:
        gim1(lambda s: 2.0, 0.5, 1.0)
    assert ei.value.field == "interarrival_lst"
    with pytest.raises(CapplanError) as ei:
        gim1("not callable", 0.5, 1.0)  # type: ignore[arg-type]
    assert ei.value.field == "interarrival_lst"
    with pytest.raises(CapplanError) as ei:  # lam inconsistent with the transform (true rho 2)
        gim1(lambda s: 2.0 / (2.0 + s), 0.5, 1.0)
    assert ei.value.field == "interarrival_lst"


# ------------------------------------------------------------------------------------------
# Single-class closed networks
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "d,z,n", [(0.3, 5.0, 1), (0.3, 5.0, 20), (0.05, 2.0, 3000), (2.0, 1e-3, 40)]
)
def test_mva_single_queue_matches_machine_repairman(d, z, n):
    x_ref, q_ref = repairman(d, 1, z, n)
    r = mva_exact([d], z, n)
    assert r.throughput == pytest.approx(x_ref, rel=1e-10)
    assert r.queue_lengths[0] == pytest.approx(q_ref, rel=1e-10)
    assert r.response_time == pytest.approx(n / x_ref - z, rel=1e-9)
    assert r.utilizations[0] == pytest.approx(x_ref * d, rel=1e-10)


def test_mva_no_think_time_single_queue():
    r = mva_exact([2.0], 0.0, 4)
    assert r.throughput == pytest.approx(0.5, rel=1e-14)
    assert r.queue_lengths[0] == pytest.approx(4.0, rel=1e-14)
    assert r.response_time == pytest.approx(8.0, rel=1e-14)


def test_mva_one_customer_and_zero_population():
    r = mva_exact([0.2, 0.3], 1.5, 1, servers=[1, 4])
    assert r.throughput == pytest.approx(1 / 2.0)
    np.testing.assert_allclose(r.residence_times, [0.2, 0.3], rtol=1e-12)
    r0 = mva_exact([0.2, 0.3], 1.5, 0)
    assert r0.throughput == 0.0
    np.testing.assert_array_equal(r0.queue_lengths, [0.0, 0.0])


def test_mva_matches_textbook_recursion_many_stations():
    demands = [0.05, 0.02, 0.03, 0.2, 0.011]
    delay = [False, False, False, True, False]
    for n in (1, 7, 60, 400):
        x_ref, r_ref, q_ref = textbook_mva(demands, 3.0, n, delay)
        r = mva_exact(demands, 3.0, n, servers=[1, 1, 1, None, 1])
        assert r.throughput == pytest.approx(x_ref, rel=1e-10)
        np.testing.assert_allclose(r.residence_times, r_ref, rtol=1e-9)
        np.testing.assert_allclose(r.queue_lengths, q_ref, rtol=1e-9)


@pytest.mark.parametrize(
    "d,m,z,n",
    [
        (1.0, 2, 3.0, 10),
        (1.0, 3, 10.0, 60),  # near the knee
        (0.8, 8, 5.0, 200),  # saturated: textbook LD-MVA recursion is unstable here
        (0.5, 16, 30.0, 5000),
        (2.0, 64, 1.0, 3000),
        (1.0, 50, 2.0, 20),  # m >= N: behaves as a delay station
    ],
)
def test_mva_multiserver_matches_birth_death(d, m, z, n):
    x_ref, q_ref = repairman(d, m, z, n)
    r = mva_exact([d], z, n, servers=[m])
    assert r.throughput == pytest.approx(x_ref, rel=1e-9)
    assert r.queue_lengths[0] == pytest.approx(q_ref, rel=1e-9)
    assert r.utilizations[0] == pytest.approx(x_ref * d / m, rel=1e-9)


@pytest.mark.parametrize(
    "d1,d2,m2,d3,z,n",
    [(0.4, 1.0, 3, 0.7, 2.0, 8), (0.2, 1.5, 2, 0.1, 0.5, 9), (0.5, 0.9, 4, 2.0, 1.0, 7)],
)
def test_mva_network_matches_full_ctmc(d1, d2, m2, d3, z, n):
    x_ref, q_ref = ctmc_tandem(d1, d2, m2, d3, z, n)
    r = mva_exact([d1, d2, d3], z, n, servers=[1, m2, 0])
    assert r.throughput == pytest.approx(x_ref, rel=1e-9)
    np.testing.assert_allclose(r.queue_lengths, q_ref, rtol=1e-8)
    np.testing.assert_allclose(r.utilizations, [x_ref * d1, x_ref * d2 / m2, x_ref * d3],
                               rtol=1e-9)


def test_mva_large_population_is_fast_and_consistent():
    demands = [0.01, 0.02, 0.005, 0.1, 0.3, 0.004]
    servers = [1, 1, 0, 8, 16, 1]
    t0 = time.perf_counter()
    r = mva_exact(demands, 30.0, 5000, servers=servers)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0
    # Every customer is somewhere: sum of queue lengths + customers thinking = N.
    assert r.queue_lengths.sum() + r.throughput * 30.0 == pytest.approx(5000, rel=1e-9)
    assert r.response_time == pytest.approx(5000 / r.throughput - 30.0, rel=1e-9)
    # Saturated: throughput is capped by the bottleneck max(D_k / m_k) = 0.02.
    assert r.throughput == pytest.approx(50.0, rel=1e-9)
    assert np.all(r.utilizations[[0, 1, 3, 4, 5]] <= 1.0 + 1e-12)


def test_mva_zero_demand_station():
    r = mva_exact([0.0, 0.5], 1.0, 5)
    x_ref, _ = repairman(0.5, 1, 1.0, 5)
    assert r.throughput == pytest.approx(x_ref, rel=1e-10)
    assert r.queue_lengths[0] == 0.0 and r.residence_times[0] == 0.0


def test_mva_results_are_read_only():
    r = mva_exact([0.1], 1.0, 3)
    with pytest.raises(ValueError):
        r.queue_lengths[0] = 1.0


# ------------------------------------------------------------------------------------------
# Multi-class MVA
# ------------------------------------------------------------------------------------------


def test_multiclass_one_class_equals_single_class():
    demands = [0.3, 0.1, 0.25, 0.5]
    servers = [1, 1, 0, 1]
    mc = mva_multiclass([demands], [2.0], [25], servers=servers)
    sc = mva_exact(demands, 2.0, 25, servers=servers)
    assert mc.throughputs[0] == pytest.approx(sc.throughput, rel=1e-10)
    assert mc.response_times[0] == pytest.approx(sc.response_time, rel=1e-10)
    np.testing.assert_allclose(mc.queue_lengths[0], sc.queue_lengths, rtol=1e-9)
    np.testing.assert_allclose(mc.residence_times[0], sc.residence_times, rtol=1e-9)


def test_multiclass_two_identical_classes_equal_single_class_total():
    demands = [0.3, 0.1, 0.25]
    sc = mva_exact(demands, 1.0, 10)
    mc = mva_multiclass([demands, demands], [1.0, 1.0], [6, 4])
    assert mc.throughputs.sum() == pytest.approx(sc.throughput, rel=1e-10)
    np.testing.assert_allclose(mc.throughputs, [0.6 * sc.throughput, 0.4 * sc.throughput],
                               rtol=1e-10)
    np.testing.assert_allclose(mc.queue_lengths.sum(axis=0), sc.queue_lengths, rtol=1e-9)
    np.testing.assert_allclose(mc.response_times, [sc.response_time] * 2, rtol=1e-10)


@pytest.mark.parametrize(
    "d,z,pops,delay",
    [
        ([[0.3, 0.1, 0.5], [0.05, 0.4, 1.0]], [1.0, 2.0], [3, 2], [False, False, True]),
        ([[0.2, 0.6], [0.5, 0.1], [0.3, 0.3]], [0.5, 1.0, 3.0], [2, 1, 2], [False, False]),
    ],
)
def test_multiclass_matches_brute_force_product_form(d, z, pops, delay):
    x_ref, q_ref = product_form_multiclass(d, z, pops, delay)
    servers = [0 if dl else 1 for dl in delay]
    r = mva_multiclass(d, z, pops, servers=servers)
    np.testing.assert_allclose(r.throughputs, x_ref, rtol=1e-10)
    np.testing.assert_allclose(r.queue_lengths, q_ref, rtol=1e-9, atol=1e-14)


def test_multiclass_population_conservation_and_zero_class():
    d = [[0.1, 0.2, 1.0], [0.3, 0.1, 2.0]]
    r = mva_multiclass(d, [1.0, 2.0], [10, 8], servers=[1, 1, None])
    np.testing.assert_allclose(r.queue_lengths.sum(axis=1) + r.throughputs * [1.0, 2.0],
                               [10, 8], rtol=1e-10)
    r0 = mva_multiclass(d, [1.0, 2.0], [10, 0], servers=[1, 1, None])
    sc = mva_exact(d[0], 1.0, 10, servers=[1, 1, None])
    assert r0.throughputs[1] == 0.0
    assert r0.throughputs[0] == pytest.approx(sc.throughput, rel=1e-10)
    # Arrival theorem: a single added class-1 customer sees D_1k (1 + Q_k(N)).
    np.testing.assert_allclose(
        r0.residence_times[1], np.array(d[1]) * [1 + sc.queue_lengths[0],
                                                 1 + sc.queue_lengths[1], 1.0], rtol=1e-9)


def test_multiclass_lattice_limit():
    with pytest.raises(CapplanError) as ei:
        mva_multiclass([[0.1], [0.1]], [1.0, 1.0], [2000, 2000])
    assert ei.value.field == "populations"
    assert MAX_LATTICE_POINTS == 2_000_000


# ------------------------------------------------------------------------------------------
# Input validation
# ------------------------------------------------------------------------------------------


BAD_CALLS = [
    (erlang_b, (0, 1.0), "c"),
    (erlang_b, (2.5, 1.0), "c"),
    (erlang_b, (True, 1.0), "c"),
    (erlang_b, (3, -1.0), "a"),
    (erlang_b, (3, float("nan")), "a"),
    (erlang_b, (3, "1"), "a"),
    (erlang_c, (2, 2.0), "a"),
    (mmc, (0.0, 1.0, 1), "lam"),
    (mmc, (1.0, -1.0, 1), "mu"),
    (mmc, (1.0, 1.0, 0), "c"),
    (mmc, (2.0, 1.0, 2), "lam"),
    (mmc, (float("inf"), 1.0, 2), "lam"),
    (mmc_wait_cdf, (0.5, 1.0, 1, float("nan")), "t"),
    (mmc_wait_quantile, (0.5, 1.0, 1, 1.0), "p"),
    (mmc_wait_quantile, (0.5, 1.0, 1, -0.1), "p"),
    (mmc_sojourn_cdf, (1.5, 1.0, 1, 1.0), "lam"),
    (mmc_sojourn_quantile, (0.5, 1.0, 1, 1.0), "p"),
    (mmck, (1.0, 1.0, 3, 2), "K"),
    (mmck, (1.0, 1.0, 3, 3.5), "K"),
    (mmck, (-1.0, 1.0, 1, 3), "lam"),
    (mmck, (1.0, 0.0, 1, 3), "mu"),
    (mgcc_blocking, (1.0, 0.0, 3), "mean_holding"),
    (mgcc_blocking, (1.0, 1.0, -3), "c"),
    (mg1_pk, (1.0, 1.0, 0.5), "lam"),
    (mg1_pk, (0.5, 1.0, -0.1), "cv_s"),
    (mg1_pk, (0.5, 0.0, 1.0), "mean_s"),
    (kingman_wq, (-1.0, 1.0, 0.5, 1.0), "ca2"),
    (kingman_wq, (1.0, -1.0, 0.5, 1.0), "cs2"),
    (kingman_wq, (1.0, 1.0, 1.0, 1.0), "rho"),
    (kingman_wq, (1.0, 1.0, 0.5, 0.0), "mean_s"),
    (allen_cunneen_wq, (3.0, 1.0, 3, 1.0, 1.0), "lam"),
    (allen_cunneen_wq, (1.0, 1.0, 3, 1.0, -1.0), "cs2"),
    (gim1, (lambda s: 1.0 / (1.0 + s), 1.0, 1.0), "lam"),
    (ekm1, (0, 0.5, 1.0), "k"),
    (ekm1, (2, 0.5, 0.0), "mu"),
    (mva_exact, ([0.1, -0.2], 1.0, 5), "demands"),
    (mva_exact, ([], 1.0, 5), "demands"),
    (mva_exact, ([0.1], -1.0, 5), "think_time"),
    (mva_exact, ([0.1], 1.0, -1), "population"),
    (mva_exact, ([0.1], 1.0, 2.5), "population"),
    (mva_exact, ([0.1, 0.2], 1.0, 5, [1]), "servers"),
    (mva_exact, ([0.1], 1.0, 5, [-2]), "servers"),
    (mva_exact, ([0.0], 0.0, 5), "demands"),
    (mva_multiclass, ([0.1, 0.2], [1.0], [2]), "demands"),
    (mva_multiclass, ([[0.1, 0.2]], [1.0, 2.0], [2]), "think_times"),
    (mva_multiclass, ([[0.1, 0.2]], [1.0], [-2]), "populations"),
    (mva_multiclass, ([[0.1, 0.2]], [1.0], [2], [1, 3]), "servers"),
    (mva_multiclass, ([[0.1, float("nan")]], [1.0], [2]), "demands"),
    (mva_multiclass, ([[0.1, 0.2]], 1.0, [2]), "think_times"),
    (mva_multiclass, ([[0.1, 0.2]], [1.0], [[2]]), "populations"),
    (mva_multiclass, ([[0.0, 0.0]], [0.0], [2]), "demands"),
]


@pytest.mark.parametrize("func,args,field", BAD_CALLS,
                         ids=[f"{f.__name__}-{fld}-{i}" for i, (f, _, fld) in enumerate(BAD_CALLS)])
def test_invalid_inputs_raise_capplan_error(func, args, field):
    with pytest.raises(CapplanError) as ei:
        func(*args)
    assert ei.value.field == field
