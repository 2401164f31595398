"""Planner and footprint: SLO-meeting sizings, monotone costs, traceable totals."""

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capplan.cost.bill import bill_deployment
from capplan.deploy import DeployOptions, build_deployment
from capplan.deploy.demand import demand
from capplan.errors import CapplanError
from capplan.cost.prices import load_llm_prices, load_price_book
from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import bundled_tier_names, load_tier, load_workload
from capplan.planner import SLO, apply_sizing, initial_sizing, recommend, seed_band, size_tiers
from edits import with_replicas

WORKLOAD = load_workload()
QUICK = RunSettings(duration=150.0, warmup=40.0, replications=3, seed=9, workers=2)
TODAY = dt.date(2026, 11, 27)
LLM = load_llm_prices()


@pytest.fixture(scope="module")
def tier2_forecast():
    return forecast_tiers([load_tier("tier2")], WORKLOAD, 2000, QUICK)[0]


@pytest.mark.parametrize("slo_p95", [0.15, 0.4, 2.0])
def test_recommend_never_returns_a_sizing_that_breaks_the_slo(slo_p95):
    rec = recommend([load_tier(n) for n in ("tier1", "tier2")], WORKLOAD, 1500, ["aws", "gcp"], SLO(p95_s=slo_p95),
                    settings=QUICK, today=TODAY)
    for option in rec.options:
        f = option.plan.forecast
        assert f.api_latency.p95.high <= slo_p95
        assert not f.saturated
    costs = [o.bill.infrastructure_usd for o in rec.options]
    assert costs == sorted(costs)


def test_tight_slo_costs_at_least_as_much_as_a_loose_one():
    tiers = [load_tier("tier2")]
    loose = recommend(tiers, WORKLOAD, 3000, ["aws"], SLO(p95_s=2.0), settings=QUICK, today=TODAY)
    tight = recommend(tiers, WORKLOAD, 3000, ["aws"], SLO(p95_s=0.15), settings=QUICK, today=TODAY)
    assert loose.winner and tight.winner
    assert tight.winner.bill.infrastructure_usd >= loose.winner.bill.infrastructure_usd
    assert tight.winner.plan.sizing.replicas_of("api") >= loose.winner.plan.sizing.replicas_of("api")


def test_screen_saves_simulations_and_require_ha_excludes_single_process():
    plans = size_tiers([load_tier(n) for n in bundled_tier_names()], WORKLOAD, 60000, SLO(), require_ha=True,
                       settings=QUICK)
    by = {p.tier.name: p for p in plans}
    assert not by["current"].feasible and "not highly available" in by["current"].reason
    assert sum(p.screen_rejections for p in plans) > sum(p.simulations for p in plans)
    for p in plans:
        if p.feasible:
            assert all(r >= 2 for _, r in p.sizing.replicas)


def test_current_tier_cannot_scale_out():
    plan = size_tiers([load_tier("current")], WORKLOAD, 20000, SLO(), settings=QUICK)[0]
    assert not plan.feasible and "one Node process" in plan.reason
    assert initial_sizing(load_tier("current"), False).replicas_of("api") == 1


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(r1=st.integers(1, 12), extra=st.integers(1, 12), provider=st.sampled_from(["aws", "gcp", "azure"]))
def test_cost_is_monotone_in_replicas(tier2_forecast, r1, extra, provider):
    book = load_price_book(provider)
    base = load_tier("tier2")
    few = build_deployment(with_replicas(base, r1), tier2_forecast, WORKLOAD, book)
    many = build_deployment(with_replicas(base, r1 + extra), tier2_forecast, WORKLOAD, book)
    assert bill_deployment(many, book, LLM).total_usd >= bill_deployment(few, book, LLM).total_usd


def test_cost_grows_with_users():
    tier = load_tier("tier2")
    small, large = forecast_tiers([tier], WORKLOAD, 500, QUICK)[0], forecast_tiers([tier], WORKLOAD, 4000, QUICK)[0]
    for provider in ("aws", "gcp", "azure"):
        book = load_price_book(provider)
        a = bill_deployment(build_deployment(tier, small, WORKLOAD, book), book, LLM)
        b = bill_deployment(build_deployment(tier, large, WORKLOAD, book), book, LLM)
        assert b.total_usd > a.total_usd and b.variable_usd > a.variable_usd


def test_bill_total_is_the_sum_of_its_lines(tier2_forecast):
    for provider in ("aws", "gcp", "azure"):
        book = load_price_book(provider)
        bill = bill_deployment(build_deployment(load_tier("tier2"), tier2_forecast, WORKLOAD, book), book, LLM,
                               today=TODAY)
        assert bill.total_usd == sum((line.monthly_usd for line in bill.lines), Decimal(0))
        assert bill.total_usd == bill.fixed_usd + bill.variable_usd == bill.infrastructure_usd + bill.llm_usd
        assert all(isinstance(line.monthly_usd, Decimal) for line in bill.lines)
        assert bill.llm_usd > 0 and any(line.component == "llm" for line in bill.lines)


def test_demand_is_the_offered_demand_not_what_a_saturated_run_served(tier2_forecast):
    """2,000 users x 50% a day x 20 messages x 21.7 days; tokens from the turn-by-turn prompt. A tier
    that cannot carry the load is billed on the same demand (the bill never falls with users)."""
    d = demand(load_tier("tier2"), tier2_forecast, WORKLOAD)
    assert d.messages_per_month == round(2000 * 0.5 * 20 * 21.7)
    assert d.llm_output_tokens == pytest.approx(d.messages_per_month * (500 + 0.3 * 20), rel=1e-6)
    assert d.llm_input_tokens == pytest.approx(d.messages_per_month * (WORKLOAD.mean_input_tokens() + 0.3 * 200),
                                               rel=1e-6)
    assert d.egress_gb > 0 and d.stored_gb_per_month > 0
    overloaded = forecast_tiers([with_replicas(load_tier("tier2"), 1)], WORKLOAD, 2000 * 20, QUICK)[0]
    assert overloaded.unstable
    far = demand(load_tier("tier2"), overloaded, WORKLOAD)
    assert far.messages_per_month == 20 * d.messages_per_month


def test_cpu_request_follows_simulated_usage(tier2_forecast):
    req = build_deployment(load_tier("tier2"), tier2_forecast, WORKLOAD, load_price_book("aws")).pod("librechat")
    usage = tier2_forecast.utilization["api.cpu"].mean
    assert req.cpu_request_m >= usage / 0.7 * 1000 - 1e-9
    assert req.cpu_request_m < usage / 0.7 * 1000 + 100


def test_seed_bands():
    assert seed_band(3000, "aws") == ("Large", 2500, 4000)
    assert seed_band(800, "gcp") == ("Medium", 750, 1400)
    assert seed_band(20000, "azure") == ("Enterprise", 5500, None)
    assert seed_band(50, "aws") is None


def test_apply_sizing_round_trips():
    tier = load_tier("microservices")
    sizing = initial_sizing(tier, require_ha=True)
    sized = apply_sizing(tier, sizing)
    assert [s.replicas for s in sized.services] == [2] * len(tier.services)


def test_managed_and_self_hosted_mongodb_are_both_priced(tier2_forecast):
    book = load_price_book("aws")
    tier = load_tier("tier2")
    managed = build_deployment(tier, tier2_forecast, WORKLOAD, book, DeployOptions(mongodb="managed"))
    own = build_deployment(tier, tier2_forecast, WORKLOAD, book, DeployOptions(mongodb="self_hosted"))
    atlas = [c for c in managed.charges if c.component == "mongodb"]
    assert managed.mongo_mode == "managed" and [c.row_id[:6] for c in atlas] == ["atlas."]
    assert atlas[0].quantity == tier.mongo.shards and atlas[0].managed   # one Atlas cluster per shard, not rendered
    members = tier.mongo.shards * (1 + tier.mongo.secondaries)
    assert own.mongo_mode == "self_hosted" and own.group("data").nodes_min == members   # one member per data node
    assert [p.name for p in own.pods if p.name.startswith("mongodb-shard")] == [f"mongodb-shard{i}" for i in
                                                                                  range(tier.mongo.shards)]
    assert own.pod("mongodb-configsvr") is not None and own.pod("mongos") is not None   # sharded: routers and config
    lines = {l.component: l for l in bill_deployment(own, book, LLM).lines}
    assert lines["mongodb"].resource.endswith("#nodegroup/data")


def test_survive_replicas_leave_what_the_peak_needs_after_the_loss():
    from capplan.planner import survive_replicas

    # a zone of three takes ceil(R / 3): 5 leaves 3, 8 leaves 5
    assert survive_replicas(3, "zone", 3) == 5 and survive_replicas(5, "zone", 3) == 8
    assert survive_replicas(1, "zone", 3) == 2
    # a node takes its share of the pods: with one pod per node, one spare pod is enough
    assert survive_replicas(4, "node", 3, nodes_for=lambda r: r) == 5
    # and with the pods on three nodes it is a zone again
    assert survive_replicas(5, "node", 3, nodes_for=lambda r: 3) == 8
    with pytest.raises(CapplanError, match="node or zone"):
        survive_replicas(3, "rack", 3)


def test_recommend_survive_zone_grows_the_api_and_prices_it():
    from capplan.planner import recommend, survive_replicas

    t = load_tier("tier2")
    plain = recommend([t], WORKLOAD, 30000, ["aws"], SLO(p95_s=2.0), settings=RunSettings(replications=3, seed=2))
    zone = recommend([t], WORKLOAD, 30000, ["aws"], SLO(p95_s=2.0), settings=RunSettings(replications=3, seed=2),
                     survive="zone")
    need = plain.winner.plan.sized.service_for("stream").replicas
    got = zone.winner.plan.sized.service_for("stream").replicas
    assert got == survive_replicas(need, "zone", 3) and got > need
    sv = zone.winner.choices["survive"]
    assert (sv["loss"], sv["api_replicas"], sv["peak_needs"]) == ("zone", got, need)
    assert Decimal(sv["extra_monthly_usd"]) == zone.winner.bill.infrastructure_usd - plain.winner.bill.infrastructure_usd
    # what is left after the loss is the sizing the peak was simulated at: the same forecast
    assert zone.winner.plan.forecast is not None and zone.winner.plan.forecast.api_latency.p95.high <= 2.0
    api = next(p for p in zone.winner.deployment.pods if p.name == "librechat")
    assert api.replicas_min == got


def test_a_single_host_cannot_survive_a_node():
    from capplan.planner import recommend

    rec = recommend([load_tier("tier1")], WORKLOAD, 500, ["aws"], SLO(p95_s=2.0),
                    settings=RunSettings(replications=3, seed=2), survive="node")
    assert rec.winner is None
    assert any("cannot survive a node" in h for p in rec.plans for h in p.history)
