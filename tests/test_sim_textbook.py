"""The engine against queueing theory (capplan.accuracy's cases at CI-sized run lengths): every
exact value must lie inside the run's interval, and the interval must be narrow enough to mean
something (95% half-width <= 5% of the estimate). The long version is bench/accuracy.py.

The suite checks METRICS values at once. If each had only its own 95% interval, an exact engine
would still miss one in most seeds (1 - 0.95^45 is 90% for independent ones): the intervals are
simultaneous (Bonferroni), each at 1 - 5%/METRICS, so the whole suite's false alarm is <= 5%."""

import pytest
from scipy.stats import t as student_t

from capplan.sim.build import compile_network
from capplan.accuracy import cases, run_case
from capplan.sim.runner import simulate

# arrivals per replication, chosen so each interval is at most +-5% (10 replications)
CUSTOMERS = {"M/M/1": 60_000, "M/M/8": 120_000, "M/M/3/6": 80_000, "M/G/10/10 lognormal": 150_000,
             "M/D/1": 40_000, "M/G/1 cv^2=4": 150_000, "E2/M/1": 80_000, "closed, 1 class": 20_000,
             "closed, 2 classes": 20_000, "M/G/1-PS deterministic": 40_000, "M/G/1-PS lognormal cv 2": 60_000,
             "M/G/inf lognormal": 40_000, "BCMP: PS + FCFS + IS, 2 classes": 20_000}
CASES = {c.name: c for c in cases()}
METRICS = sum(len(CASES[name].metrics) for name in CUSTOMERS)


def simultaneous(e) -> tuple[float, float]:
    """The replications' Student-t 95% interval widened to 1 - 0.05 / METRICS (same mean and sem)."""
    widen = student_t.ppf(1 - 0.025 / METRICS, e.replications - 1) / student_t.ppf(0.975, e.replications - 1)
    half = (e.high - e.low) / 2.0 * widen
    return e.mean - half, e.mean + half


def test_every_case_has_a_ci_length():
    assert set(CUSTOMERS) == set(CASES)


@pytest.mark.parametrize("name", sorted(CUSTOMERS))
def test_theory_inside_the_95_percent_interval(name):
    rows = run_case(CASES[name], CUSTOMERS[name], replications=10, seed=11, workers=2)
    for row in rows:
        e = row.estimate
        low, high = simultaneous(e)
        assert low <= row.exact <= high, f"{name} {row.metric}: exact {row.exact:.5g} outside [{low:.5g}, {high:.5g}]"
        assert e.relative_half_width <= 0.05, f"{name} {row.metric}: interval +-{e.relative_half_width:.1%} too wide"


def test_littles_law_per_station(textbook):
    """L = lambda W on every replication: time-average number at the station equals throughput x
    mean time there (wait + service), up to customers straddling the window's edges."""
    model = textbook("mm8")
    r = simulate(compile_network(model), duration=5000, warmup=500, replications=3, seed=1, workers=2)
    for rep in r.replications:
        w = rep.metrics["response:job"].mean
        lam = rep.station_throughput["server"]
        l_avg = rep.station_in_system["server"]
        assert abs(l_avg - lam * w) / l_avg < 0.01


def test_conservation_arrivals_completed_rejected_in_flight(textbook):
    for name in ("mmck", "closed-mva", "mm1"):
        model = textbook(name)
        r = simulate(compile_network(model), duration=2000, warmup=model.warmup, replications=2, seed=1, workers=2)
        for rep in r.replications:
            assert rep.run_entered == rep.run_completed + rep.run_rejected + rep.run_in_flight
            assert rep.run_entered > 1000
