"""Drawing the model's distributions: a user starting part-way through a think time starts where a
user of a long-running system is (the forward-recurrence time, not a uniform share of one draw)."""

import math

import numpy as np
import pytest
from scipy import stats

from capplan.model.distributions import Dist, deterministic
from capplan.sim.engine import run_replication
from capplan.sim.sampling import DistSum, batch_sampler, residual_sampler
from capplan.sim.spec import ClassSpec, NetworkSpec, Op, Step

DRAWS = 200_000


def _draws(sampler, n=DRAWS) -> np.ndarray:
    return np.array([sampler() for _ in range(n)])


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    half = stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / math.sqrt(len(values))
    return values.mean() - half, values.mean() + half


@pytest.mark.parametrize("dist", [Dist(kind="exponential", mean=60.0), Dist(kind="lognormal", mean=60.0, cv=1.0),
                                  Dist(kind="lognormal", mean=60.0, cv=2.0), Dist(kind="gamma", mean=60.0, cv=0.5),
                                  Dist(kind="erlang", mean=60.0, cv=0.5)],
                         ids=["exponential", "lognormal cv 1", "lognormal cv 2", "gamma cv 0.5", "erlang 4"])
def test_the_mean_residual_is_the_renewal_theorys(dist):
    """E[residual] = E[X^2] / (2 E[X]) = mean (1 + cv^2) / 2 (a plain U x X would give mean / 2)."""
    theory = dist.mean * (1.0 + dist.effective_cv**2) / 2.0
    low, high = _mean_ci(_draws(residual_sampler(dist, np.random.default_rng(7))))
    assert low <= theory <= high
    assert high - low < 0.05 * theory


def test_a_sums_residual_size_biases_one_part_by_its_share_of_the_mean():
    """X = Exp(1) + 2: E[X] = 3, E[X^2] = 1 + 9, so E[residual] = 10 / 6."""
    dist = DistSum([Dist(kind="exponential", mean=1.0), deterministic(2.0)])
    low, high = _mean_ci(_draws(residual_sampler(dist, np.random.default_rng(7))))
    assert low <= 10.0 / 6.0 <= high and high - low < 0.02


def test_the_residual_law_is_the_equilibrium_distribution():
    """Its CDF is (1 / E[X]) x integral of the survival function: for the exponential, the
    exponential itself; for the lognormal, r S(r) / m + Phi((ln r - mu - sigma^2) / sigma)."""
    exp_draws = _draws(residual_sampler(Dist(kind="exponential", mean=60.0), np.random.default_rng(3)), 20_000)
    assert stats.kstest(exp_draws, "expon", args=(0.0, 60.0)).pvalue > 0.001
    m, cv = 60.0, 2.0
    sigma2 = math.log1p(cv**2)
    mu, sigma = math.log(m) - sigma2 / 2.0, math.sqrt(sigma2)

    def equilibrium_cdf(r):
        r = np.maximum(np.asarray(r, dtype=float), 1e-300)
        survival = stats.lognorm.sf(r, sigma, scale=math.exp(mu))
        return r * survival / m + stats.norm.cdf((np.log(r) - mu - sigma2) / sigma)

    logn_draws = _draws(residual_sampler(Dist(kind="lognormal", mean=m, cv=cv), np.random.default_rng(3)), 20_000)
    assert stats.kstest(logn_draws, equilibrium_cdf).pvalue > 0.001
    # and a plain U x X draw is not that law: the test can tell them apart
    plain = batch_sampler(Dist(kind="lognormal", mean=m, cv=cv), np.random.default_rng(3))
    uniform = np.random.default_rng(4).random(20_000)
    assert stats.kstest(_draws(plain, 20_000) * uniform, equilibrium_cdf).pvalue < 1e-6


@pytest.mark.parametrize("think", [Dist(kind="exponential", mean=60.0), Dist(kind="lognormal", mean=60.0, cv=2.0)],
                         ids=["exponential", "lognormal cv 2"])
def test_a_closed_population_sends_the_steady_rate_from_the_first_second(think):
    """20,000 users thinking 60 s between 1 ms requests: a stationary renewal process sends
    N t / E[cycle] requests in (0, t) whatever the think law, so the first 6 s carry 1,999.6 of
    them; starting everyone at U x think sent 2.9 times that (exponential; 3.7 times, lognormal)."""
    users, window, request = 20_000, 6.0, 0.001
    counts = []
    for seed in range(8):
        net = NetworkSpec(name="users", stations=[], classes=[])
        net.classes.append(ClassSpec(name="user", route=[Step(Op.DELAY, dist=deterministic(request))],
                                     population=users, think=think, metric=net.metric_index("response:user")))
        rep = run_replication(net, np.random.SeedSequence(seed), window, 0.0, truncate=False)
        counts.append(rep.metrics["response:user"].n)
    theory = users * (window - request) / (think.mean + request)
    low, high = _mean_ci(np.array(counts, dtype=float))
    assert low <= theory <= high
    assert high - low < 0.05 * theory
