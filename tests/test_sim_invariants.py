"""Physical invariants of the LibreChat forecasts over tiers and user counts from 100 to 100,000:
no resource carries more work than it has servers, throughput never passes the analytic maximum,
a bill never falls as users grow, a stable point agrees with itself at two run lengths and an
overloaded point is unstable at both."""

import datetime as dt
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.cost.bill import bill_deployment
from capplan.deploy import build_deployment
from capplan.errors import CapplanError
from capplan.cost.prices import load_llm_prices, load_price_book
from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import bundled_tier_names, load_tier, load_workload
from capplan.planner import SLO, size_tiers
from capplan.screen import class_load
from capplan.sim.build import build_network, mean_deltas
from capplan.sim.runner import simulate
from capplan.sim.stats import estimate
from edits import workload_with

WORKLOAD = load_workload()
TIERS = bundled_tier_names()
QUICK = RunSettings(duration=240.0, warmup=60.0, replications=2, seed=4, workers=2)
EDGE = 0.02   # jobs in service when the window opens can finish inside it: completed work may lead busy time by this


def _max_messages_per_second(net) -> float:
    """The analytic maximum: every station's servers / the work one message brings it (its request
    work and its stream's deltas; the open classes' work only lowers it further)."""
    msg = next(k for k, c in enumerate(net.classes) if c.name == "message")
    load = class_load(net, net.classes[msg].route, "message")
    bound = float("inf")
    for i, st_ in enumerate(net.stations):
        demand = load.demand.get(i, 0.0) + load.side.get(i, 0.0)
        if demand > 0 and st_.discipline != "is":
            bound = min(bound, st_.servers * st_.instances / demand)
    return bound


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tier=st.sampled_from(TIERS), exponent=st.floats(2.0, 5.0))
def test_no_station_carries_more_work_than_its_servers_and_throughput_stays_under_the_maximum(tier, exponent):
    users = int(round(10 ** exponent))           # 100 to 100,000, log-uniform
    t = load_tier(tier)
    f = forecast_tiers([t], WORKLOAD, users, QUICK)[0]
    scale = f.simulated_users / users
    net = build_network(t, WORKLOAD, users, scale=scale) if scale < 1 else build_network(t, WORKLOAD, users)
    res = simulate(net, duration=QUICK.duration, warmup=QUICK.warmup, replications=2, seed=QUICK.seed, workers=2)
    for rep in res.replications:
        for spec in net.stations:
            capacity = spec.servers * spec.instances
            assert rep.station_work[spec.name] <= capacity * (1 + EDGE), (tier, users, spec.name)
            assert max(rep.station_util[spec.name]) <= 1.0 + 1e-9
        carried = rep.metrics["response:message"].n / rep.measured_time
        assert carried <= _max_messages_per_second(net) * (1 + EDGE), (tier, users)
    # the forecast's own figures say the same
    for name, u in f.utilization.items():
        if not name.startswith("memory:"):
            assert u.mean <= 1.0 + 1e-9, name
    # the closed users never send more than they could with no queueing at all: N users thinking
    # E[Z] between messages complete at most N T / E[Z] cycles in T (+ N started before the window),
    # up to the sampling noise of the count (4 sigma). (Comparing the 2-replication interval with
    # the offered rate x 1.02 failed by chance: the session population is rounded up, and a short
    # run's count varies by several percent.)
    active, think = int(net.notes["active_users"]), WORKLOAD.think_time.mean
    for rep in res.replications:
        most = active * rep.measured_time / think + active
        assert rep.metrics["response:message"].n <= most + 4 * math.sqrt(most), (tier, users)


@pytest.mark.parametrize("loop", ["shared", "fifo"])
def test_the_node_loop_carries_requests_and_every_streamed_delta(loop):
    """Carried CPU per second = messages x (40 + 2 x 10 ms) + streams x E[deltas] x 0.5 ms + API reads
    x 5 ms + refreshes x 3 ms: streams are charged per delta, and nothing is lost or invented (on a
    FIFO loop too, whose slices are smaller and whose awaits add visits with no work)."""
    w = workload_with(cpu__event_loop=loop)
    deltas = mean_deltas(w.llm.output_tokens, w.llm.token_rate, w.llm.coalesce_window, w.llm.tokens_per_chunk)
    net = build_network(load_tier("tier2"), w, 10000)
    res = simulate(net, duration=900, warmup=120, replications=4, seed=6, workers=2)
    ratios = []
    for rep in res.replications:
        per_s = {k: rep.metrics[k].n / rep.measured_time for k in ("response:message", "stream_total",
                                                                     "response:api_read", "response:refresh")}
        expected = (per_s["response:message"] * (0.040 + 2 * 0.010 + 0.3 * 0.005)
                    + per_s["stream_total"] * deltas * 0.0005
                    + per_s["response:api_read"] * 0.005 + per_s["response:refresh"] * 0.003)
        ratios.append(rep.station_work["api.cpu"] / expected)
    e = estimate(ratios)
    assert e.low <= 1.0 <= e.high and e.relative_half_width < 0.03, e


def test_a_saturated_loop_slows_streams_and_the_first_token():
    """Near the single process's capacity the loop is shared by more work: streams take longer than the
    provider's pace and the first token comes later than at light load."""
    run = RunSettings(duration=900.0, warmup=120.0, replications=4, seed=4, workers=2)
    light = forecast_tiers([load_tier("current")], WORKLOAD, 2000, run)[0]
    busy = forecast_tiers([load_tier("current")], WORKLOAD, 8000, run)[0]
    assert light.stream_stretch.p95.mean < 1.01
    assert busy.utilization["api.cpu"].mean > 0.85
    assert busy.stream_stretch.p95.low > light.stream_stretch.p95.high
    assert busy.ttft.p95.low > light.ttft.p95.high


@pytest.mark.parametrize("tier,users", [("tier2", 3000), ("tier2", 30000)])
def test_a_stable_point_agrees_with_itself_at_two_run_lengths(tier, users):
    short = forecast_tiers([load_tier(tier)], WORKLOAD, users, RunSettings(duration=600.0, replications=5, seed=2,
                                                                          workers=2))[0]
    long = forecast_tiers([load_tier(tier)], WORKLOAD, users, RunSettings(duration=1800.0, replications=5, seed=3,
                                                                         workers=2))[0]
    assert short.verdict == long.verdict == "stable"
    for a, b in ((short.api_latency.p95, long.api_latency.p95), (short.ttft.p95, long.ttft.p95),
                 (short.messages_per_second, long.messages_per_second)):
        assert a.low <= b.high and b.low <= a.high, (a, b)   # the two intervals overlap


@pytest.mark.parametrize("tier,users", [("tier2", 100_000), ("current", 12_000)])
def test_an_overloaded_point_is_unstable_at_both_run_lengths_and_shows_no_plain_latency(tier, users):
    from capplan.report.json import tier_dict

    for duration in (300.0, 1200.0):
        f = forecast_tiers([load_tier(tier)], WORKLOAD, users, RunSettings(duration=duration, replications=3, seed=5,
                                                                          workers=2))[0]
        assert f.verdict == "unstable" and f.over_capacity
        carried = f.utilization[f.bottleneck].mean
        assert carried > 0.97 and f.analytic.offered[f.bottleneck] > 1.0
        doc = tier_dict(f)
        assert doc["api_latency_s"]["p95"] is None and doc["api_latency_s"]["lower_bound"]["p95"] > 0
        assert doc["api_latency_s"]["growing"] is True


PROVIDERS = ("aws", "gcp", "azure")
TODAY = dt.date(2026, 11, 28)


def _bills(tier_name: str, users: int) -> dict:
    """What `capplan cost` prices on each provider: the planner's sizing, or the largest sizing tried
    when no sizing meets the SLO, on the offered demand."""
    tier = load_tier(tier_name)
    settings = RunSettings(duration=240.0, warmup=60.0, replications=2, seed=7, workers=2)
    plan = size_tiers([tier], WORKLOAD, users, SLO(), settings=settings)[0]
    forecast = plan.forecast or forecast_tiers([plan.sized], WORKLOAD, users, settings)[0]
    out = {}
    for provider in PROVIDERS:
        book = load_price_book(provider)
        try:
            deployment = build_deployment(plan.sized, forecast, WORKLOAD, book)
        except CapplanError as exc:
            # a compose tier is one Docker host: past the book's largest machine it has no deployment
            assert "compose host" in str(exc), exc
            out[provider] = None
            continue
        out[provider] = bill_deployment(deployment, book, load_llm_prices(), today=TODAY)
    return out


@pytest.mark.parametrize("tier", TIERS)
def test_monthly_cost_never_falls_as_users_grow(tier):
    bills = {users: _bills(tier, users) for users in (100, 1000, 10_000, 100_000)}
    for provider in PROVIDERS:
        priced = [bills[u][provider] for u in sorted(bills)]
        deployable = [b for b in priced if b is not None]
        assert priced[:len(deployable)] == deployable, (tier, provider)   # once it does not fit, it never does
        assert len(deployable) >= 2 and (tier in ("current", "tier1") or len(deployable) == len(priced))
        totals = [b.total_usd for b in deployable]
        infra = [b.infrastructure_usd for b in deployable]
        assert totals == sorted(totals), (tier, provider, totals)
        assert infra == sorted(infra), (tier, provider, infra)
