"""Closed-form and exact queueing results (numpy/scipy).

Used (a) as test oracles for the SimPy simulator and (b) as a fast screen in the capacity
planner.  Every function here is *exact* for its model unless its name says ``approximation``
(only :func:`kingman_wq` and :func:`allen_cunneen_wq` are approximations).

Units: time in seconds, rates per second.  Invalid arguments raise
:class:`capplan.errors.CapplanError` with ``field`` naming the argument.

References
----------
* L. Kleinrock, *Queueing Systems, Vol. 1: Theory*, Wiley 1975 (Kleinrock).
* D. Gross, J. Shortle, J. Thompson, C. Harris, *Fundamentals of Queueing Theory*, 4th ed.
  (Gross & Harris).
* E. Lazowska, J. Zahorjan, G. Graham, K. Sevcik, *Quantitative System Performance*, 1984,
  ch. 6-7 and 20 (QSP).
* M. Reiser, S. Lavenberg, "Mean-value analysis of closed multichain queuing networks",
  JACM 27(2), 1980.
* J. Buzen, "Computational algorithms for closed queueing networks with exponential
  servers", CACM 16(9), 1973.
* G. Bolch, S. Greiner, H. de Meer, K. Trivedi, *Queueing Networks and Markov Chains*,
  2nd ed., Wiley 2006, sec. 8.1-8.2 (Bolch et al.).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import gammaln, logsumexp

from capplan.errors import CapplanError


def _brentq():
    # scipy.optimize costs ~0.3 s to import; only the quantile and GI/M/1 solvers need it.
    from scipy.optimize import brentq

    return brentq

__all__ = [
    "GIM1",
    "MG1",
    "MMC",
    "MMCK",
    "MVA",
    "MVAMulti",
    "MAX_LATTICE_POINTS",
    "allen_cunneen_wq",
    "ekm1",
    "erlang_b",
    "erlang_c",
    "gim1",
    "kingman_wq",
    "mg1_pk",
    "mgcc_blocking",
    "mmc",
    "mmc_sojourn_cdf",
    "mmc_sojourn_quantile",
    "mmc_wait_cdf",
    "mmc_wait_quantile",
    "mmck",
    "mva_exact",
    "mva_multiclass",
]

#: Largest population lattice (product of (N_r + 1) over classes) :func:`mva_multiclass` accepts.
MAX_LATTICE_POINTS: int = 2_000_000

_EPS = float(np.finfo(float).eps)


# --------------------------------------------------------------------------------------------
# Input validation helpers
# --------------------------------------------------------------------------------------------


def _real(name: str, x: object) -> float:
    """A real number that is not NaN (bools, strings and complex numbers are rejected)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise CapplanError(f"must be a real number, got {x!r}", field=name)
    v = float(x)
    if math.isnan(v):
        raise CapplanError("must not be NaN", field=name)
    return v


def _finite(name: str, x: object) -> float:
    v = _real(name, x)
    if not math.isfinite(v):
        raise CapplanError(f"must be finite, got {v}", field=name)
    return v


def _positive(name: str, x: object) -> float:
    v = _finite(name, x)
    if v <= 0.0:
        raise CapplanError(f"must be > 0, got {v}", field=name)
    return v


def _nonneg(name: str, x: object) -> float:
    v = _finite(name, x)
    if v < 0.0:
        raise CapplanError(f"must be >= 0, got {v}", field=name)
    return v


def _integer(name: str, x: object, minimum: int) -> int:
    """An integer >= minimum; integral floats such as 3.0 are accepted, 2.5 is not."""
    if isinstance(x, (bool, np.bool_)):
        raise CapplanError(f"must be an integer, got {x!r}", field=name)
    if isinstance(x, numbers.Integral):
        v = int(x)
    elif isinstance(x, numbers.Real) and math.isfinite(float(x)) and float(x).is_integer():
        v = int(float(x))
    else:
        raise CapplanError(f"must be an integer, got {x!r}", field=name)
    if v < minimum:
        raise CapplanError(f"must be an integer >= {minimum}, got {v}", field=name)
    return v


def _probability(name: str, p: object) -> float:
    """A probability level 0 <= p < 1 (for quantiles)."""
    v = _finite(name, p)
    if not 0.0 <= v < 1.0:
        raise CapplanError(f"must satisfy 0 <= p < 1, got {v}", field=name)
    return v


def _readonly(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=float)
    a.setflags(write=False)
    return a


# --------------------------------------------------------------------------------------------
# Erlang B / C and M/M/c
# --------------------------------------------------------------------------------------------


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability of M/M/c/c (and M/G/c/c) with offered load ``a = lam/mu``.

    Stable recursion B(0) = 1, B(k) = a B(k-1) / (k + a B(k-1)), k = 1..c (Gross & Harris
    sec. 2.6; Kleinrock vol. 1 sec. 3.7).  Cost O(c).
    """
    c = _integer("c", c, 1)
    a = _nonneg("a", a)
    b = 1.0
    for k in range(1, c + 1):
        ab = a * b
        b = ab / (k + ab)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C probability of waiting in M/M/c with offered load ``a = lam/mu`` (a < c).

    C = B / (1 - rho + rho B), rho = a / c, B = erlang_b(c, a) (Gross & Harris sec. 2.3;
    Kleinrock vol. 1 eq. 3.40).
    """
    c = _integer("c", c, 1)
    a = _nonneg("a", a)
    rho = a / c
    if rho >= 1.0:
        raise CapplanError(f"offered load a = {a} must be < c = {c} (rho = {rho} >= 1)", field="a")
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


@dataclass(frozen=True)
class MMC:
    """Steady-state M/M/c (FCFS) results."""

    rho: float  #: server utilization lam / (c mu)
    p_wait: float  #: Erlang C: probability an arrival waits
    wq: float  #: mean wait in queue (s)
    w: float  #: mean sojourn time = wq + 1/mu (s)
    lq: float  #: mean number waiting
    l: float  #: mean number in system  # noqa: E741


def _mmc_check(lam: object, mu: object, c: object) -> tuple[float, float, int]:
    lam_f = _positive("lam", lam)
    mu_f = _positive("mu", mu)
    c_i = _integer("c", c, 1)
    if lam_f >= c_i * mu_f:
        raise CapplanError(
            f"unstable: lam = {lam_f} must be < c mu = {c_i * mu_f} (rho >= 1)", field="lam"
        )
    return lam_f, mu_f, c_i


def mmc(lam: float, mu: float, c: int) -> MMC:
    """Exact M/M/c results (Gross & Harris sec. 2.3; Kleinrock vol. 1 sec. 3.5).

    C = erlang_c(c, lam/mu); Wq = C / (c mu - lam); W = Wq + 1/mu; Lq = lam Wq; L = lam W.
    """
    lam, mu, c = _mmc_check(lam, mu, c)
    pw = erlang_c(c, lam / mu)
    wq = pw / (c * mu - lam)
    w = wq + 1.0 / mu
    return MMC(rho=lam / (c * mu), p_wait=pw, wq=wq, w=w, lq=lam * wq, l=lam * w)


def mmc_wait_cdf(lam: float, mu: float, c: int, t: float) -> float:
    """P(Wq <= t) for M/M/c FCFS: 1 - C exp(-(c mu - lam) t) for t >= 0, 0 for t < 0.

    Gross & Harris sec. 2.3.2; Kleinrock vol. 1 eq. 3.41.
    """
    lam, mu, c = _mmc_check(lam, mu, c)
    t = _real("t", t)
    if t < 0.0:
        return 0.0
    pw = erlang_c(c, lam / mu)
    return 1.0 - pw * math.exp(-(c * mu - lam) * t)


def mmc_wait_quantile(lam: float, mu: float, c: int, p: float) -> float:
    """p-quantile of the M/M/c FCFS wait: 0 if p <= 1 - C, else ln(C / (1 - p)) / (c mu - lam)."""
    lam, mu, c = _mmc_check(lam, mu, c)
    p = _probability("p", p)
    pw = erlang_c(c, lam / mu)
    if p <= 1.0 - pw:
        return 0.0
    return math.log(pw / (1.0 - p)) / (c * mu - lam)


def _rel_expm1(x: float) -> float:
    """(1 - exp(-x)) / x for x >= 0, equal to 1 at x = 0 (no cancellation for small x)."""
    if x == 0.0:
        return 1.0
    return -math.expm1(-x) / x


def _mmc_sojourn_survival(lam: float, mu: float, c: int, t: float) -> float:
    """P(T > t), T = Wq + S, for t >= 0 (see :func:`mmc_sojourn_cdf`)."""
    pw = erlang_c(c, lam / mu)
    theta = c * mu - lam
    # P(Exp(theta) + Exp(mu) > t) = e^{-mu t} + mu (e^{-mu t} - e^{-theta t}) / (theta - mu); the
    # second fraction is written as t e^{-min(mu, theta) t} (1 - e^{-|theta - mu| t}) / (|.| t),
    # which is continuous through theta == mu (limit t e^{-mu t}) and never overflows.
    h = t * math.exp(-min(mu, theta) * t) * _rel_expm1(abs(theta - mu) * t)
    return math.exp(-mu * t) + pw * mu * h


def mmc_sojourn_cdf(lam: float, mu: float, c: int, t: float) -> float:
    """P(T <= t) for the M/M/c FCFS sojourn time T = Wq + S (S ~ Exp(mu) independent of Wq).

    With C = erlang_c and theta = c mu - lam, Wq is 0 w.p. 1 - C and Exp(theta) otherwise, so
    P(T > t) = e^{-mu t} + C mu (e^{-mu t} - e^{-theta t}) / (theta - mu) for theta != mu and
    P(T > t) = e^{-mu t} (1 + C mu t) for theta == mu (Gross & Harris, M/M/c waiting-time
    distributions, sec. 2.3).  For c = 1 this reduces to 1 - exp(-(mu - lam) t).
    """
    lam, mu, c = _mmc_check(lam, mu, c)
    t = _real("t", t)
    if t <= 0.0:
        return 0.0
    if math.isinf(t):
        return 1.0
    return 1.0 - _mmc_sojourn_survival(lam, mu, c, t)


def mmc_sojourn_quantile(lam: float, mu: float, c: int, p: float) -> float:
    """p-quantile of the M/M/c FCFS sojourn time: root of P(T > t) = 1 - p by Brent's method.

    Exact up to the root finder's tolerance (relative 4 machine epsilons).  p = 0 gives 0.
    """
    lam, mu, c = _mmc_check(lam, mu, c)
    p = _probability("p", p)
    if p == 0.0:
        return 0.0
    target = 1.0 - p
    slowest = min(mu, c * mu - lam)
    hi = max(1.0, -math.log(target)) / slowest
    for _ in range(200):
        if _mmc_sojourn_survival(lam, mu, c, hi) < target:
            break
        hi *= 2.0
    else:  # pragma: no cover - survival decays exponentially, so this cannot happen
        raise CapplanError("could not bracket the sojourn quantile", field="p")
    return float(
        _brentq()(
            lambda x: _mmc_sojourn_survival(lam, mu, c, x) - target,
            0.0,
            hi,
            xtol=1e-300,
            rtol=4.0 * _EPS,
            maxiter=500,
        )
    )


# --------------------------------------------------------------------------------------------
# M/M/c/K and M/G/c/c
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MMCK:
    """Steady-state M/M/c/K results (K = capacity including those in service)."""

    p_loss: float  #: p_K: probability an arrival is blocked (PASTA)
    throughput: float  #: accepted rate lam (1 - p_K), per second
    l: float  #: mean number in system  # noqa: E741
    lq: float  #: mean number waiting
    w: float  #: mean sojourn of accepted customers, l / throughput (s)
    wq: float  #: mean wait of accepted customers, lq / throughput (s)
    rho_server: float  #: per-server utilization throughput / (c mu)
    state_probs: np.ndarray  #: p_n, n = 0..K (read-only)


def mmck(lam: float, mu: float, c: int, K: int) -> MMCK:
    """Exact M/M/c/K by the birth-death balance equations (Gross & Harris sec. 2.5).

    p_n is proportional to prod_{i=1..n} lam / (min(i, c) mu); the products are accumulated in
    log space and normalised with a max shift, so K in the many thousands and lam >= c mu are
    fine.  Mean times follow from Little's law on accepted customers.  Cost O(K).
    """
    lam = _positive("lam", lam)
    mu = _positive("mu", mu)
    c = _integer("c", c, 1)
    K = _integer("K", K, 1)
    if K < c:
        raise CapplanError(f"must be >= c = {c}, got {K}", field="K")
    n = np.arange(1, K + 1, dtype=float)
    log_ratio = math.log(lam) - math.log(mu) - np.log(np.minimum(n, c))
    logw = np.concatenate(([0.0], np.cumsum(log_ratio)))
    w = np.exp(logw - logw.max())
    p = w / w.sum()
    states = np.arange(K + 1, dtype=float)
    p_loss = float(p[-1])
    throughput = lam * float(p[:-1].sum())  # = lam (1 - p_K) without cancellation near p_K = 1
    l_sys = float(states @ p)
    lq = float(np.maximum(states - c, 0.0) @ p)
    return MMCK(
        p_loss=p_loss,
        throughput=throughput,
        l=l_sys,
        lq=lq,
        w=l_sys / throughput,
        wq=lq / throughput,
        rho_server=min(1.0, throughput / (c * mu)),  # clip rounding above 1 at saturation
        state_probs=_readonly(p),
    )


def mgcc_blocking(lam: float, mean_holding: float, c: int) -> float:
    """Blocking probability of the M/G/c/c loss system: Erlang B with a = lam * mean_holding.

    Exact for *any* holding-time distribution with that mean (insensitivity of the Erlang loss
    formula, Sevastyanov 1957; Gross & Harris sec. 6.2; Kleinrock vol. 1 sec. 3.7).
    """
    lam = _positive("lam", lam)
    mean_holding = _positive("mean_holding", mean_holding)
    c = _integer("c", c, 1)
    return erlang_b(c, lam * mean_holding)


# --------------------------------------------------------------------------------------------
# M/G/1 and the G/G approximations
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MG1:
    """Steady-state M/G/1 (FCFS) results from the Pollaczek-Khinchine formula."""

    rho: float  #: utilization lam E[S]
    wq: float  #: mean wait in queue (s)
    w: float  #: mean sojourn = wq + E[S] (s)
    lq: float  #: mean number waiting
    l: float  #: mean number in system  # noqa: E741


def mg1_pk(lam: float, mean_s: float, cv_s: float) -> MG1:
    """Exact M/G/1 means by Pollaczek-Khinchine (Kleinrock vol. 1 eq. 5.73; Gross & Harris 5.1).

    Wq = rho E[S] (1 + cv^2) / (2 (1 - rho)), rho = lam E[S] < 1, cv = sd(S)/E[S].
    """
    lam = _positive("lam", lam)
    mean_s = _positive("mean_s", mean_s)
    cv_s = _nonneg("cv_s", cv_s)
    rho = lam * mean_s
    if rho >= 1.0:
        raise CapplanError(f"unstable: rho = lam * mean_s = {rho} must be < 1", field="lam")
    wq = rho * mean_s * (1.0 + cv_s * cv_s) / (2.0 * (1.0 - rho))
    w = wq + mean_s
    return MG1(rho=rho, wq=wq, w=w, lq=lam * wq, l=lam * w)


def kingman_wq(ca2: float, cs2: float, rho: float, mean_s: float) -> float:
    """APPROXIMATION (Kingman 1961, heavy-traffic) of the G/G/1 mean wait.

    Wq ~= rho / (1 - rho) * (ca2 + cs2) / 2 * E[S]; ca2, cs2 are the squared coefficients of
    variation of interarrival and service times.  Exact for M/M/1 and M/G/1 (ca2 = 1), not in
    general (see :func:`gim1`).
    """
    ca2 = _nonneg("ca2", ca2)
    cs2 = _nonneg("cs2", cs2)
    rho = _finite("rho", rho)
    if not 0.0 < rho < 1.0:
        raise CapplanError(f"must satisfy 0 < rho < 1, got {rho}", field="rho")
    mean_s = _positive("mean_s", mean_s)
    return rho / (1.0 - rho) * (ca2 + cs2) / 2.0 * mean_s


def allen_cunneen_wq(lam: float, mean_s: float, c: int, ca2: float, cs2: float) -> float:
    """APPROXIMATION (Allen-Cunneen) of the G/G/c mean wait.

    Wq ~= Wq(M/M/c with the same lam, mu = 1/mean_s, c) * (ca2 + cs2) / 2
    (Allen, *Probability, Statistics and Queueing Theory*, 1990; Bolch et al. sec. 6.3.4).
    """
    lam = _positive("lam", lam)
    mean_s = _positive("mean_s", mean_s)
    c = _integer("c", c, 1)
    ca2 = _nonneg("ca2", ca2)
    cs2 = _nonneg("cs2", cs2)
    if lam * mean_s >= c:
        raise CapplanError(
            f"unstable: lam * mean_s = {lam * mean_s} must be < c = {c}", field="lam"
        )
    return mmc(lam, 1.0 / mean_s, c).wq * (ca2 + cs2) / 2.0


# --------------------------------------------------------------------------------------------
# GI/M/1 (exact)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GIM1:
    """Steady-state GI/M/1 (FCFS) results."""

    sigma: float  #: root of sigma = A*(mu (1 - sigma)) in (0, 1)
    p_wait: float  #: probability an arrival waits (= sigma)
    wq: float  #: mean wait = sigma / (mu (1 - sigma)) (s)
    w: float  #: mean sojourn = 1 / (mu (1 - sigma)) (s)
    rho: float  #: utilization lam / mu
    lq: float  #: mean number waiting, lam wq
    l: float  #: mean number in system, lam w  # noqa: E741


def gim1(interarrival_lst: Callable[[float], float], lam: float, mu: float) -> GIM1:
    """Exact GI/M/1 means (Kleinrock vol. 1 sec. 6.4; Gross & Harris sec. 6.3).

    ``interarrival_lst(s)`` is the Laplace-Stieltjes transform A*(s) = E[exp(-s A)] of the
    interarrival time A; ``lam`` must equal 1 / E[A] (it is not inferred from the transform).
    sigma is the unique root in (0, 1) of sigma = A*(mu (1 - sigma)), found by Brent's method;
    an arrival waits w.p. sigma, the wait given waiting is Exp(mu (1 - sigma)), hence
    Wq = sigma / (mu (1 - sigma)) and W = 1 / (mu (1 - sigma)).  Requires rho = lam/mu < 1.
    """
    if not callable(interarrival_lst):
        raise CapplanError("must be a callable s -> E[exp(-s A)]", field="interarrival_lst")
    lam = _positive("lam", lam)
    mu = _positive("mu", mu)
    rho = lam / mu
    if rho >= 1.0:
        raise CapplanError(f"unstable: rho = lam / mu = {rho} must be < 1", field="lam")

    def lst(s: float) -> float:
        try:
            v = float(interarrival_lst(s))
        except CapplanError:
            raise
        except Exception as exc:  # noqa: BLE001 - surface any user-callable failure uniformly
            raise CapplanError(f"raised {exc!r} at s = {s}", field="interarrival_lst") from exc
        if not (0.0 <= v <= 1.0):
            raise CapplanError(
                f"A*({s}) = {v} is not a Laplace-Stieltjes transform value in [0, 1]",
                field="interarrival_lst",
            )
        return v

    def f(sig: float) -> float:
        return lst(mu * (1.0 - sig)) - sig

    if f(0.0) <= 0.0:  # A*(mu) underflowed to 0: sigma is below the double-precision floor
        sigma = 0.0
    else:
        # f is convex with f(0) > 0, f(1) = 0 and f'(1) = mu/lam - 1 > 0, so f < 0 exactly on
        # (sigma, 1): walk b = 1 - 2^-k towards 1 until f(b) < 0 to get the bracket [0, b].
        b = None
        for k in range(1, 60):
            cand = 1.0 - 2.0**-k
            if f(cand) < 0.0:
                b = cand
                break
        if b is None:
            raise CapplanError(
                "no root of sigma = A*(mu (1 - sigma)) in (0, 1): is lam = 1/E[A] and rho < 1?",
                field="interarrival_lst",
            )
        sigma = float(_brentq()(f, 0.0, b, xtol=1e-300, rtol=4.0 * _EPS, maxiter=500))
    wq = sigma / (mu * (1.0 - sigma))
    w = 1.0 / (mu * (1.0 - sigma))
    return GIM1(sigma=sigma, p_wait=sigma, wq=wq, w=w, rho=rho, lq=lam * wq, l=lam * w)


def ekm1(k: int, lam: float, mu: float) -> GIM1:
    """Exact E_k/M/1: :func:`gim1` with Erlang-k interarrivals of rate lam.

    A*(s) = (k lam / (k lam + s))^k; k = 1 is M/M/1 (sigma = rho).  Kleinrock vol. 1 sec. 6.4.
    """
    k = _integer("k", k, 1)
    lam = _positive("lam", lam)
    mu = _positive("mu", mu)
    klam = k * lam
    return gim1(lambda s: (klam / (klam + s)) ** k, lam, mu)


# --------------------------------------------------------------------------------------------
# Closed networks: exact single-class solution (incl. multi-server stations)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MVA:
    """Exact single-class closed-network results at population N (arrays are read-only)."""

    throughput: float  #: X, system throughput (per second)
    response_time: float  #: R = sum of residence times, excluding think time (s)
    residence_times: np.ndarray  #: R_k per station (s); at N = 0 the empty-network value D_k
    queue_lengths: np.ndarray  #: Q_k, mean customers at station k (waiting + in service)
    utilizations: np.ndarray  #: X D_k / m_k per server; for delay stations X D_k (mean busy)
    population: int  #: N
    think_time: float  #: Z (s)


_DELAY = 0  # internal code for an infinite-server station


def _station_servers(servers: Sequence[object] | None, k: int, *, allow_multi: bool) -> list[int]:
    """Normalise ``servers`` to a list of ints: 0 = delay, m >= 1 = m-server queue."""
    if servers is None:
        return [1] * k
    if isinstance(servers, (str, bytes)) or not isinstance(servers, (Sequence, np.ndarray)):
        raise CapplanError("must be a sequence (one entry per station) or None", field="servers")
    if len(servers) != k:
        raise CapplanError(f"has {len(servers)} entries for {k} stations", field="servers")
    out: list[int] = []
    for s in servers:
        if s is None:
            out.append(_DELAY)
            continue
        if isinstance(s, float) and s == math.inf:
            out.append(_DELAY)
            continue
        m = _integer("servers", s, 0)
        if m > 1 and not allow_multi:
            raise CapplanError(
                f"multi-server stations (m = {m}) are not supported here; use 1 or 0/None",
                field="servers",
            )
        out.append(m)
    return out


def _demand_vector(demands: object, name: str = "demands") -> np.ndarray:
    try:
        d = np.asarray(demands, dtype=float)
    except (TypeError, ValueError) as exc:
        raise CapplanError(f"must be a sequence of numbers: {exc}", field=name) from exc
    return d


def _log_convolve_station(logg: np.ndarray, log_d: float, m: int) -> np.ndarray:
    """Log-space product of the generating function of ``exp(logg)`` with an m-server station.

    The station's factor is f(j) = D^j / beta(j), beta(j) = prod_{i<=j} min(i, m), i.e.
    F(z) = sum_{j<m} (Dz)^j / j! + (D^m / m!) z^m / (1 - (D/m) z).  The polynomial part costs
    O(N m); the geometric tail is a running log-sum-exp, O(N).  All terms are positive, so
    there is no cancellation (unlike the textbook load-dependent MVA recursion).  Truncated to
    len(logg).
    """
    n = logg.shape[0]
    out = logg.copy()  # j = 0 term, f(0) = 1
    for j in range(1, min(m - 1, n - 1) + 1):
        out[j:] = np.logaddexp(out[j:], j * log_d - math.lgamma(j + 1) + logg[: n - j])
    if m <= n - 1:
        r = log_d - math.log(m)
        idx = np.arange(n, dtype=float)
        # H(i) = sum_{s<=i} (D/m)^{i-s} G(s)  ->  log H(i) = i r + logcumsumexp(logG(s) - s r)
        logh = np.logaddexp.accumulate(logg - idx * r) + idx * r
        out[m:] = np.logaddexp(out[m:], m * log_d - math.lgamma(m + 1) + logh[: n - m])
    return out


def mva_exact(
    demands: Sequence[float],
    think_time: float,
    population: int,
    servers: Sequence[int | None] | None = None,
) -> MVA:
    """Exact solution of a single-class closed product-form network (QSP ch. 6 and 20).

    ``demands[k]`` is the service demand D_k = visits x mean service time (s) at station k;
    ``servers[k]`` is 1 (single-server queue, default), m > 1 (m-server queue, exponential
    FCFS service; handled exactly as a load-dependent station with rate min(j, m)/D_k), or
    0 / None (delay, infinite server).  ``think_time`` Z is a delay in the customer cycle that
    is not counted in ``response_time``.

    Method: the exact results of MVA (Reiser & Lavenberg 1980) and load-dependent MVA are
    obtained from the normalising constants G(n) of the product-form solution (Buzen 1973),
    computed in log space: X(N) = G(N-1)/G(N); for a single-server station
    Q_k = sum_{j>=1} D_k^j G(N-j)/G(N); for an m-server station the exact marginal queue-length
    distribution p_k(j|N) = f_k(j) G_{-k}(N-j)/G(N) (G_{-k}: network without k) gives Q_k.
    This is numerically stable for any N, whereas the textbook load-dependent MVA recursion
    computes p_k(0|n) by subtraction and its rounding errors grow geometrically in N when a
    multi-server station with m >= 3 is near saturation.

    Cost: O(N (K + sum_k min(m_k, N)) (1 + L)) time and O(N) memory, with K stations and L
    multi-server stations; N = 5000 with a handful of stations takes milliseconds.  A
    multi-server station with m >= N is exactly a delay station and is solved as one.
    """
    d = _demand_vector(demands)
    if d.ndim != 1 or d.size == 0:
        raise CapplanError("must be a non-empty 1-D sequence of demands", field="demands")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise CapplanError("every demand must be finite and >= 0", field="demands")
    z = _nonneg("think_time", think_time)
    n_pop = _integer("population", population, 0)
    kinds = _station_servers(servers, d.size, allow_multi=True)
    k_st = d.size

    if n_pop == 0:
        zeros = np.zeros(k_st)
        return MVA(
            throughput=0.0,
            response_time=float(d.sum()),
            residence_times=_readonly(d),
            queue_lengths=_readonly(zeros),
            utilizations=_readonly(zeros),
            population=0,
            think_time=z,
        )

    # Delay stations (explicit, and multi-server stations with m >= N) merge with the think
    # time into one infinite-server station; zero-demand stations drop out.
    eff = [(_DELAY if (m == _DELAY or m >= n_pop) else m) for m in kinds]
    queue_idx = [k for k in range(k_st) if eff[k] != _DELAY and d[k] > 0.0]
    z_tot = z + float(sum(d[k] for k in range(k_st) if eff[k] == _DELAY))
    if not queue_idx and z_tot == 0.0:
        raise CapplanError("all demands and the think time are 0: throughput is unbounded",
                           field="demands")

    # Scale times by the bottleneck demand per server (keeps logs small; exact rescaling).
    if queue_idx:
        scale = max(d[k] / eff[k] for k in queue_idx)
    else:
        scale = z_tot
    nn = np.arange(n_pop + 1, dtype=float)
    if z_tot > 0.0:
        base = nn * math.log(z_tot / scale) - gammaln(nn + 1.0)
    else:
        base = np.full(n_pop + 1, -np.inf)
        base[0] = 0.0
    log_d = {k: math.log(d[k] / scale) for k in queue_idx}

    def network(skip: int | None) -> np.ndarray:
        logg = base
        for k in queue_idx:
            if k != skip:
                logg = _log_convolve_station(logg, log_d[k], eff[k])
        return logg

    logg = network(None)
    x_scaled = math.exp(float(logg[n_pop - 1] - logg[n_pop]))
    x = x_scaled / scale

    q = np.zeros(k_st)
    util = np.zeros(k_st)
    for k in range(k_st):
        if eff[k] == _DELAY or d[k] == 0.0:
            q[k] = x * d[k]
            util[k] = x * d[k] if kinds[k] == _DELAY else x * d[k] / kinds[k]
            continue
        m = eff[k]
        util[k] = x * d[k] / m
        j = np.arange(1, n_pop + 1, dtype=float)
        if m == 1:
            # P(n_k >= j | N) = D^j G(N-j) / G(N)
            tail = np.exp(j * log_d[k] + logg[n_pop - 1 :: -1] - logg[n_pop])
            q[k] = float(tail.sum())
        else:
            comp = network(k)
            jj = np.arange(n_pop + 1, dtype=float)
            logf = np.where(
                jj < m,
                jj * log_d[k] - gammaln(jj + 1.0),
                m * log_d[k] - math.lgamma(m + 1) + (jj - m) * (log_d[k] - math.log(m)),
            )
            logp = logf + comp[::-1]
            logp -= logsumexp(logp)
            q[k] = float(np.exp(logp) @ jj)
    resid = q / x
    return MVA(
        throughput=x,
        response_time=float(resid.sum()),
        residence_times=_readonly(resid),
        queue_lengths=_readonly(q),
        utilizations=_readonly(util),
        population=n_pop,
        think_time=z,
    )


# --------------------------------------------------------------------------------------------
# Closed networks: exact multi-class MVA
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class MVAMulti:
    """Exact multi-class closed-network results at population vector N (arrays read-only)."""

    throughputs: np.ndarray  #: X_r per class (per second), shape (R,)
    response_times: np.ndarray  #: R_r = sum_k R_rk, excluding think time (s), shape (R,)
    residence_times: np.ndarray  #: R_rk (s), shape (R, K); for N_r = 0 see mva_multiclass
    queue_lengths: np.ndarray  #: Q_rk = X_r R_rk, shape (R, K)
    utilizations: np.ndarray  #: X_r D_rk, shape (R, K) (for delay stations: mean busy)
    populations: tuple[int, ...]  #: N
    think_times: np.ndarray  #: Z_r (s), shape (R,)


def _per_class(name: str, values: object, n_cls: int) -> list[object]:
    """A flat sequence with one entry per class."""
    if isinstance(values, (str, bytes)) or not isinstance(values, (Sequence, np.ndarray)):
        raise CapplanError(f"must be a sequence with one entry per class ({n_cls})", field=name)
    out = list(values)
    if len(out) != n_cls:
        raise CapplanError(f"has {len(out)} entries for {n_cls} classes", field=name)
    return out


def mva_multiclass(
    demands: Sequence[Sequence[float]],
    think_times: Sequence[float],
    populations: Sequence[int],
    servers: Sequence[int | None] | None = None,
) -> MVAMulti:
    """Exact multi-class MVA (Reiser & Lavenberg 1980; QSP ch. 7, Algorithm 7.1).

    ``demands[r][k]`` = D_rk (s), ``think_times[r]`` = Z_r, ``populations[r]`` = N_r.
    Stations are single-server queueing (FCFS with class-independent exponential service, PS
    or LCFS-PR) or, where ``servers[k]`` is 0/None, delay.  Recursion over the whole lattice
    0 <= n <= N:  R_rk(n) = D_rk (1 + Q_k(n - e_r)) (queue) or D_rk (delay);
    X_r(n) = n_r / (Z_r + sum_k R_rk(n));  Q_k(n) = sum_r X_r(n) R_rk(n).

    Cost: time O(R K prod_r (N_r + 1)); memory O(R prod_r (N_r + 1)) for the lattice index
    plus one level of Q (it proceeds level by level in total population).  Lattices larger
    than MAX_LATTICE_POINTS (2e6) are refused.  For a class with N_r = 0, throughput is 0
    and R_rk = D_rk (1 + Q_k(N)) (queue) is what a single added class-r customer would see
    (arrival theorem).
    """
    d = _demand_vector(demands)
    if d.ndim != 2 or d.shape[0] == 0 or d.shape[1] == 0:
        raise CapplanError("must be a non-empty 2-D array of shape (classes, stations)",
                           field="demands")
    if not np.all(np.isfinite(d)) or np.any(d < 0):
        raise CapplanError("every demand must be finite and >= 0", field="demands")
    n_cls, k_st = d.shape
    z = np.array([_nonneg("think_times", t) for t in _per_class("think_times", think_times, n_cls)])
    pops = tuple(_integer("populations", p, 0)
                 for p in _per_class("populations", populations, n_cls))
    kinds = _station_servers(servers, k_st, allow_multi=False)
    queue = np.array([m != _DELAY for m in kinds])
    for r in range(n_cls):
        if pops[r] > 0 and z[r] == 0.0 and not np.any(d[r] > 0):
            raise CapplanError(
                f"class {r} has zero think time and zero demands: throughput is unbounded",
                field="demands",
            )
    shape = tuple(p + 1 for p in pops)
    n_points = math.prod(shape)
    if n_points > MAX_LATTICE_POINTS:
        raise CapplanError(
            f"population lattice has {n_points} points (> {MAX_LATTICE_POINTS}); "
            "use smaller populations or an approximate method",
            field="populations",
        )

    total = sum(pops)
    q_final = np.zeros(k_st)
    x_final = np.zeros(n_cls)
    r_final = d.copy()  # overwritten below
    if total > 0:
        coords = np.indices(shape, dtype=np.int32).reshape(n_cls, -1).T
        level = coords.sum(axis=1)
        order = np.argsort(level, kind="stable")
        counts = np.bincount(level, minlength=total + 1)
        starts = np.concatenate(([0], np.cumsum(counts)))
        pos = np.empty(n_points, dtype=np.int64)
        pos[order] = np.arange(n_points) - starts[level[order]]
        strides = [math.prod(shape[r + 1 :]) for r in range(n_cls)]
        q_prev = np.zeros((1, k_st))
        for lv in range(1, total + 1):
            idx = order[starts[lv] : starts[lv + 1]]
            co = coords[idx]
            q_new = np.zeros((idx.size, k_st))
            for r in range(n_cls):
                mask = co[:, r] > 0
                if not mask.any():
                    continue
                qp = q_prev[pos[idx[mask] - strides[r]]]
                res = d[r] * np.where(queue, 1.0 + qp, 1.0)
                xr = co[mask, r] / (z[r] + res.sum(axis=1))
                q_new[mask] += xr[:, None] * res
                if lv == total:
                    x_final[r] = xr[0]
                    r_final[r] = res[0]
            q_prev = q_new
        q_final = q_prev[0]
    for r in range(n_cls):
        if pops[r] == 0:
            r_final[r] = d[r] * np.where(queue, 1.0 + q_final, 1.0)
    qlen = x_final[:, None] * r_final
    return MVAMulti(
        throughputs=_readonly(x_final),
        response_times=_readonly(r_final.sum(axis=1)),
        residence_times=_readonly(r_final),
        queue_lengths=_readonly(qlen),
        utilizations=_readonly(x_final[:, None] * d),
        populations=pops,
        think_times=_readonly(z),
    )
