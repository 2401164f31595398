"""Invariants of the engine and the models, checked on many generated inputs (hypothesis)."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.errors import CapplanError
from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import _validate, load_tier, load_workload
from capplan.model.network import NetworkModel
from capplan.sim.build import build_network, compile_network
from capplan.screen import screen
from capplan.sim.engine import run_replication
from capplan.sim.stats import GROWTH, LOWEST, Histogram
from edits import with_replicas

WORKLOAD = load_workload()
# The screen's closed-population fixed point is found by bisection to a relative 1e-6; comparisons
# of two screens are exact up to that.
BISECTION = 1e-5
QUICK = RunSettings(duration=90.0, warmup=20.0, replications=3, seed=5, workers=1)


@settings(max_examples=25, deadline=None)
@given(tier=st.sampled_from(["current", "tier1", "tier2", "microservices"]), r1=st.integers(1, 8),
       extra=st.integers(1, 8), users=st.integers(100, 20000))
def test_screen_more_replicas_never_raise_utilization(tier, r1, extra, users):
    base = load_tier(tier)
    name = base.services[0].name + ".cpu"
    low = screen(build_network(with_replicas(base, r1), WORKLOAD, users)).utilization.get(name, 0.0)
    high = screen(build_network(with_replicas(base, r1 + extra), WORKLOAD, users)).utilization.get(name, 0.0)
    assert high <= low + BISECTION


@settings(max_examples=25, deadline=None)
@given(tier=st.sampled_from(["current", "tier1", "tier2", "tier3", "microservices"]), u1=st.integers(50, 20000),
       extra=st.integers(1, 20000))
def test_screen_more_users_never_lower_utilization(tier, u1, extra):
    t = load_tier(tier)
    low = screen(build_network(t, WORKLOAD, u1))
    high = screen(build_network(t, WORKLOAD, u1 + extra))
    assert max(high.utilization.values()) >= max(low.utilization.values()) - BISECTION
    # Offered load is arithmetic on the demand shape: it never falls with users, on any resource
    # except per-user and per-IP limits, whose load per key stays what one user sends (up to the
    # rounding of the session population).
    for resource, value in low.offered.items():
        if resource.startswith(("rate limit per-user", "rate limit per-IP")):
            assert high.offered[resource] == pytest.approx(value, rel=2.0 / int(low_users(t, u1)))
        else:
            assert high.offered[resource] >= value * (1 - 1e-12), resource
    if not high.saturated:
        # Below saturation every resource carries more. Past it, the growing open traffic (API
        # reads, refreshes) crowds messages out of the saturated CPU, so resources behind it may
        # see slightly fewer messages: the busiest resource still never gets less busy.
        for resource, value in low.utilization.items():
            if resource.startswith(("rate limit per-user", "rate limit per-IP")):
                continue
            assert high.utilization[resource] >= value - BISECTION, resource


def low_users(tier, users) -> int:
    return build_network(tier, WORKLOAD, users).notes["active_users"]


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(users=st.integers(300, 3000), r1=st.integers(1, 4), extra=st.integers(1, 4))
def test_simulated_more_replicas_never_significantly_raise_utilization(users, r1, extra):
    base = load_tier("tier2")
    few, many = forecast_tiers([with_replicas(base, r1), with_replicas(base, r1 + extra)], WORKLOAD, users, QUICK)
    u_few, u_many = few.utilization["api.cpu"], many.utilization["api.cpu"]
    assert u_many.low <= u_few.high, (u_few, u_many)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(u1=st.integers(200, 3000), extra=st.integers(200, 3000))
def test_simulated_more_users_never_significantly_lower_utilization(u1, extra):
    t = load_tier("tier1")
    few = forecast_tiers([t], WORKLOAD, u1, QUICK)[0]
    many = forecast_tiers([t], WORKLOAD, u1 + extra, QUICK)[0]
    for resource in ("api.cpu", "mongo.primary", "redis"):
        assert many.utilization[resource].high >= few.utilization[resource].low, resource


dist = st.fixed_dictionaries({"kind": st.sampled_from(["exponential", "deterministic", "gamma", "lognormal", "erlang"]),
                              "mean": st.floats(0.01, 3.0)},
                             optional={"cv": st.sampled_from([0.0, 0.5, 1.0, 2.0, -1.0])})


@st.composite
def networks(draw):
    n_st = draw(st.integers(1, 3))
    stations = []
    for i in range(n_st):
        s = {"name": f"s{i}", "servers": draw(st.integers(1, 4)),
             "discipline": draw(st.sampled_from(["fcfs", "ps", "is"]))}
        if draw(st.booleans()):
            s["capacity"] = draw(st.integers(1, 10))
        stations.append(s)
    classes = []
    for k in range(draw(st.integers(1, 2))):
        route = []
        for _ in range(draw(st.integers(1, 4))):
            if draw(st.integers(0, 4)) == 0:
                route.append({"delay": draw(dist)})
            else:
                route.append({"station": draw(st.sampled_from([s["name"] for s in stations] + ["missing"])),
                              "service": draw(dist)})
        cls = {"name": f"c{k}", "route": route}
        if draw(st.booleans()):
            cls["interarrival"] = draw(dist)
        else:
            cls["population"] = draw(st.integers(1, 15))
            cls["think"] = draw(dist)
        classes.append(cls)
    return {"kind": "network", "name": "generated", "stations": stations, "classes": classes,
            "duration": 300, "warmup": 20}


@settings(max_examples=60, deadline=None)
@given(doc=networks(), seed=st.integers(0, 2**32 - 1))
def test_any_scenario_runs_or_fails_cleanly(doc, seed):
    try:
        model = _validate(NetworkModel, doc, "generated.yaml")
    except CapplanError as exc:
        assert "\n" not in str(exc)
        return
    net = compile_network(model)
    rep = run_replication(net, np.random.SeedSequence(seed), model.duration, model.warmup)
    assert rep.run_entered == rep.run_completed + rep.run_rejected + rep.run_in_flight
    for spec in net.stations:
        if spec.discipline != "is":
            assert all(0.0 <= u <= 1.0 + 1e-9 for u in rep.station_util[spec.name])
    for detail in rep.station_detail.values():
        total = sum(detail.state_probs)
        assert total == 0.0 or abs(total - 1.0) < 1e-9


@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.floats(0.0, 1e4, allow_nan=False), min_size=1, max_size=3000),
       q=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_histogram_quantile_within_bin_width(values, q):
    h = Histogram()
    for v in values:
        h.add(v)
    exact_lo = float(np.quantile(values, q, method="inverted_cdf"))
    got = h.quantile(q)
    assert h.n == len(values)
    assert abs(h.mean - float(np.mean(values))) <= 1e-9 * max(1.0, abs(float(np.mean(values))))
    # Positive values below LOWEST share the first bin, so they resolve only to its upper edge.
    floor = LOWEST * GROWTH
    if exact_lo == 0.0:
        assert got == 0.0 or got <= floor
    else:
        # one log bin (0.5%) of resolution, plus values below the lowest bin edge
        assert abs(got - exact_lo) <= 0.0051 * exact_lo + floor
