"""The zero-load latency floor (capplan/floor.py) and the planner's use of it."""

from __future__ import annotations

import math

import pytest

from capplan.floor import UNLIMITED, floor_bounds, latency_floor, zero_load
from capplan.forecast import RunSettings
from capplan.model.loader import load_scenario, load_tier, load_workload
from capplan.planner import SLO, apply_sizing, initial_sizing, size_tiers
from capplan.sim.build import build_network, compile_network
from capplan.sim.runner import simulate
from capplan.sim.spec import IS



def _scenario(name: str):
    from capplan.data import data_dir

    return data_dir("scenarios") / "textbook" / name


def test_zero_load_removes_every_source_of_waiting():
    net = zero_load(build_network(load_tier("tier2"), load_workload(), 3000))
    assert net.stations and all(s.discipline == IS and s.capacity is None for s in net.stations)
    assert all(p.size == UNLIMITED and not p.loss and p.queue_limit is None for p in net.pools)
    assert all(lim.limit == UNLIMITED for lim in net.limits)
    assert all(p.rpm is None and p.tpm is None for p in net.providers)
    # the routes are the same objects: the same work in the same order
    original = build_network(load_tier("tier2"), load_workload(), 3000)
    assert [len(c.route) for c in net.classes] == [len(c.route) for c in original.classes]


def test_the_floor_of_an_mm1_is_its_service_time_p95():
    """M/M/1 at rho 0.7 with nothing waiting: the sojourn time is the Exp(1) service, p95 = ln 20."""
    net = zero_load(compile_network(load_scenario(_scenario("mm1.yaml"))))
    result = simulate(net, duration=20_000, warmup=0.0, replications=5, seed=3, workers=1, truncate=False)
    p95 = result.quantile_estimate("response:job", 0.95)
    assert p95.contains(math.log(20.0)), p95
    assert p95.relative_half_width < 0.03
    # and the loaded queue's p95 (ln 20 / (1 - rho) = 9.99) is far above it
    loaded = simulate(compile_network(load_scenario(_scenario("mm1.yaml"))), duration=20_000, warmup=1_000,
                      replications=3, seed=3, workers=1)
    assert loaded.quantile_estimate("response:job", 0.95).low > 2 * p95.high


def test_a_tier_floor_lies_below_its_loaded_p95():
    tier = load_tier("tier1")
    sized = apply_sizing(tier, initial_sizing(tier, False))
    floor = latency_floor(sized, load_workload(), 3000, seed=2)
    assert 0 < floor.api_p95.low <= floor.api_p95.mean <= floor.api_p95.high
    assert floor.api_p95.relative_half_width < 0.5     # narrow enough to refuse a hopeless SLO
    assert floor.ttft_p95.mean > floor.api_p95.mean    # the first token waits for the provider


def test_an_slo_below_every_floor_is_answered_without_sizing_anything():
    tiers = [load_tier(n) for n in ("tier1", "tier2")]
    plans = size_tiers(tiers, load_workload(), 3000, SLO(p95_s=0.001), settings=RunSettings(replications=2, workers=1))
    for plan in plans:
        assert not plan.feasible
        assert plan.simulations == 0                   # no sizing was simulated
        assert plan.reason.startswith("unreachable: p95 API latency 0.001 s is below this tier's zero-load floor")
        assert plan.floor is not None and plan.floor.api_p95.low > 0.001


def test_a_reachable_slo_is_not_refused_and_its_floor_not_simulated_when_the_bound_rules_it_out():
    plans = size_tiers([load_tier("tier2")], load_workload(), 3000, SLO(p95_s=2.0, ttft_p95_s=5.0),
                       settings=RunSettings(replications=2, workers=1))
    assert plans[0].feasible and plans[0].floor is None
    # just above the floor but below the bound: simulated, and not refused
    plans = size_tiers([load_tier("tier2")], load_workload(), 3000, SLO(p95_s=0.15),
                       settings=RunSettings(replications=2, workers=1))
    assert plans[0].floor is not None and not plans[0].reason.startswith("unreachable")


@pytest.mark.parametrize("workload", ["librechat", "reasoning"])
@pytest.mark.parametrize("tier", ["current", "tier2", "microservices"])
def test_the_cheap_bounds_lie_above_the_simulated_floor(tier, workload):
    """floor_bounds (Cantelli on the path's mean and variance) must never be below the floor it lets
    the planner skip: checked against the simulated floor's upper 95% limit."""
    t = load_tier(tier)
    sized = apply_sizing(t, initial_sizing(t, False))
    wl = load_workload(workload)
    api, ttft = floor_bounds(build_network(sized, wl, 3000))
    floor = latency_floor(sized, wl, 3000, seed=4)
    assert api is not None and ttft is not None
    assert api >= floor.api_p95.high and ttft >= floor.ttft_p95.high
    assert api < 10 * floor.api_p95.mean        # and tight enough to spare the simulation at everyday SLOs
