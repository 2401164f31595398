"""Bills: exact totals, monotone in what is bought, purchase options, the seed's AWS tiers."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from capplan.cost.bill import (
    Extra,
    Footprint,
    build_bill,
    cents,
    choose_instance,
    lb_capacity_units,
)
from capplan.cost.purchase import compare_purchase_options, unit_costs
from capplan.cost.prices import PriceRow, load_llm_prices, load_price_book
from capplan.errors import CapplanError

TODAY = dt.date(2026, 11, 27)
BOOKS = {name: load_price_book(name) for name in ("aws", "gcp", "azure")}
LLM = load_llm_prices()

# The same logical "medium" tier on each cloud (costs.md AWS medium; nearest equivalents elsewhere).
MEDIUM = {
    "aws": dict(
        app_instance="ec2.m6i.large", mongodb_row="atlas.m30", redis_row="elasticache.cache.t3.medium",
        lb_capacity_units=Decimal(2),
    ),
    "gcp": dict(
        app_instance="gce.e2-standard-2", mongodb_row="atlas.m30", redis_row="memorystore.standard.m1",
        redis_capacity_gb=Decimal(3), lb_processed_gb=Decimal(2600),
    ),
    "azure": dict(
        app_instance="vm.D2s_v5", mongodb_row="atlas.m30", redis_row="redis.standard.c1", lb_capacity_units=Decimal(2),
    ),
}


def medium(provider: str = "aws", **overrides) -> Footprint:
    """costs.md Medium: Kubernetes, 3 app nodes, Atlas M30, 2 cache nodes, 1 LB, 2 NAT, 500 GB egress, 2 TB CDN."""
    fields = dict(
        tier="medium", provider=provider, kubernetes_clusters=1, app_nodes=3, load_balancers=1, nat_gateways=2,
        nat_processed_gb=Decimal(100), mongodb_mode="managed", redis_nodes=2, disk_gb=Decimal(60),
        object_storage_gb=Decimal(50), egress_gb=Decimal(500), cdn_gb=Decimal(2048),
    )
    return Footprint(**(fields | MEDIUM[provider] | overrides))


def total(footprint: Footprint, purchase: str = "on_demand") -> Decimal:
    return build_bill(footprint, BOOKS[footprint.provider], LLM, purchase, today=TODAY).total_usd


# --- totals are exact sums ----------------------------------------------------------------------------


@pytest.mark.parametrize("provider", BOOKS)
def test_total_is_exactly_the_sum_of_the_lines(provider):
    footprint = medium(provider, llm_model="illustrative", llm_input_tokens=123_456_789, llm_output_tokens=98_765)
    bill = build_bill(footprint, BOOKS[provider], LLM, today=TODAY)
    summed = Decimal(0)
    for line in bill.lines:
        assert isinstance(line.monthly_usd, Decimal)
        assert line.monthly_usd == line.quantity * line.unit_price_usd
        summed += line.monthly_usd
    assert bill.total_usd == summed
    assert bill.fixed_usd + bill.variable_usd == bill.total_usd
    assert bill.infrastructure_usd + bill.llm_usd == bill.total_usd
    assert sum(bill.component_usd().values()) == bill.total_usd
    assert bill.llm_usd > 0 and bill.infrastructure_usd > 0


def test_hourly_lines_use_730_hours_and_usage_lines_use_the_amount():
    bill = build_bill(medium(), BOOKS["aws"], LLM, today=TODAY)
    lines = {line.price_row_id: line for line in bill.lines}
    assert lines["ec2.m6i.large"].quantity == 3 * 730
    assert lines["nat.hour"].quantity == 2 * 730
    assert lines["egress.internet"].quantity == 500
    assert lines["cdn.gb"].quantity == 2048
    assert lines["alb.lcu"].quantity == 2 * 730
    assert not lines["ec2.m6i.large"].variable and lines["egress.internet"].variable


def test_regions_multiply_resources_not_volumes():
    one = build_bill(medium(), BOOKS["aws"], today=TODAY)
    two = build_bill(medium(regions=2), BOOKS["aws"], today=TODAY)
    q1 = {line.price_row_id: line.quantity for line in one.lines}
    q2 = {line.price_row_id: line.quantity for line in two.lines}
    assert q2["ec2.m6i.large"] == 2 * q1["ec2.m6i.large"]
    assert q2["eks.control_plane"] == 2 * q1["eks.control_plane"]
    assert q2["egress.internet"] == q1["egress.internet"]


def test_bill_is_byte_identical_for_the_same_inputs():
    a = build_bill(medium(), BOOKS["aws"], LLM, today=TODAY).model_dump_json()
    b = build_bill(medium(), BOOKS["aws"], LLM, today=TODAY).model_dump_json()
    assert a == b


# --- monotone --------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(
    provider=st.sampled_from(sorted(BOOKS)),
    nodes=st.integers(min_value=1, max_value=200),
    egress=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
)
def test_cost_is_monotone_in_node_count(provider, nodes, egress):
    assert total(medium(provider, app_nodes=nodes, egress_gb=egress)) <= total(
        medium(provider, app_nodes=nodes + 1, egress_gb=egress)
    )


@settings(max_examples=40, deadline=None)
@given(
    provider=st.sampled_from(sorted(BOOKS)),
    egress=st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    more=st.decimals(min_value=0, max_value=10**5, places=3, allow_nan=False, allow_infinity=False),
    purchase=st.sampled_from(["on_demand", "commit_1y", "commit_3y", "spot"]),
)
def test_cost_is_monotone_in_egress(provider, egress, more, purchase):
    assert total(medium(provider, egress_gb=egress), purchase) <= total(medium(provider, egress_gb=egress + more), purchase)


# --- the seed's AWS tiers (costs.md bills of materials), priced from the rows ---------------------------


def test_aws_medium_lands_in_the_seed_band():
    """costs.md Medium: EKS, 3x m6i.large, Atlas M30, 2x cache.t3.medium, ALB, 2 NAT, 500 GB egress, 2 TB CloudFront."""
    footprint = Footprint(
        tier="medium", provider="aws", kubernetes_clusters=1, app_instance="ec2.m6i.large", app_nodes=3,
        load_balancers=1, lb_capacity_units=Decimal(2), nat_gateways=2, nat_processed_gb=Decimal(100),
        mongodb_mode="managed", mongodb_row="atlas.m30", redis_row="elasticache.cache.t3.medium", redis_nodes=2,
        disk_gb=Decimal(60), egress_gb=Decimal(500), cdn_gb=Decimal(2000),
    )
    bill = build_bill(footprint, BOOKS["aws"], today=TODAY)
    assert Decimal(800) <= bill.total_usd <= Decimal(1500)
    assert abs(bill.total_usd - Decimal(1115)) < Decimal(100)  # costs.md's own figure: ~$1,115


def test_aws_small_and_large_land_in_the_seed_bands():
    small = Footprint(
        tier="small", provider="aws", app_instance="ec2.t3.medium", app_nodes=2, load_balancers=1,
        lb_capacity_units=Decimal(1), nat_gateways=1, mongodb_mode="self_hosted", mongodb_row="ec2.t3.medium",
        mongodb_disk_gb=Decimal(50), redis_row="elasticache.cache.t3.small", redis_nodes=1,
        object_storage_gb=Decimal(50), egress_gb=Decimal(100),
        extras=(Extra(component="search", row_id="ec2.t3.medium", quantity=Decimal(1)),),
    )
    large = Footprint(
        tier="large", provider="aws", kubernetes_clusters=1, app_instance="ec2.m6i.xlarge", app_nodes=6,
        load_balancers=1, lb_capacity_units=Decimal(4), nat_gateways=3, mongodb_mode="self_hosted",
        mongodb_row="ec2.r6i.xlarge", mongodb_count=3, mongodb_disk_gb=Decimal(300),
        redis_row="elasticache.cache.r6g.large", redis_nodes=2, egress_gb=Decimal(2048), cdn_gb=Decimal(5120),
    )
    assert Decimal(200) <= total(small) <= Decimal(400)
    assert Decimal(2500) <= total(large) <= Decimal(4000)


def test_llm_spend_of_the_costs_md_example():
    """1,000 daily users x 20 messages x 30 days x (1,500 in + 500 out) at $2.50 / $10 per million."""
    messages = 1000 * 20 * 30
    footprint = medium(llm_model="illustrative", llm_input_tokens=messages * 1500, llm_output_tokens=messages * 500)
    bill = build_bill(footprint, BOOKS["aws"], LLM, today=TODAY)
    assert bill.llm_usd == Decimal(5250)
    assert bill.llm_usd > bill.infrastructure_usd
    per = unit_costs(bill, active_users=1000, messages_per_month=messages)
    assert per.per_active_user_usd == bill.total_usd / 1000
    assert per.per_1000_messages_usd == bill.total_usd / 600
    assert per.llm_per_1000_messages_usd == Decimal("8.75")


# --- purchase options ----------------------------------------------------------------------------------


@pytest.mark.parametrize("provider", BOOKS)
def test_commitments_cost_less_than_on_demand(provider):
    footprint = medium(provider)
    on_demand, one, three = (total(footprint, p) for p in ("on_demand", "commit_1y", "commit_3y"))
    assert three < one < on_demand


def test_spot_discounts_only_app_nodes():
    footprint = medium(mongodb_mode="self_hosted", mongodb_row="ec2.r6i.xlarge", mongodb_count=3, mongodb_disk_gb=100)
    on_demand = build_bill(footprint, BOOKS["aws"], today=TODAY)
    spot = build_bill(footprint, BOOKS["aws"], purchase="spot", today=TODAY)
    assert [line.price_row_id for line in on_demand.lines] == [line.price_row_id for line in spot.lines]
    for before, after in zip(on_demand.lines, spot.lines, strict=True):
        if before.component == "app_nodes":
            assert after.monthly_usd == before.monthly_usd * (1 - Decimal("0.60"))
            assert after.confidence == "estimate"  # the spot discount is an estimate
        else:
            assert after.monthly_usd == before.monthly_usd, before.price_row_id
    assert any("spot" in warning for warning in spot.warnings)


def test_commitments_cover_compute_instances_but_not_managed_services():
    footprint = medium(mongodb_mode="self_hosted", mongodb_row="ec2.r6i.xlarge", mongodb_count=3)
    on_demand = {line.price_row_id: line for line in build_bill(footprint, BOOKS["aws"], today=TODAY).lines}
    committed = {
        line.price_row_id: line for line in build_bill(footprint, BOOKS["aws"], purchase="commit_3y", today=TODAY).lines
    }
    assert committed["ec2.m6i.large"].monthly_usd < on_demand["ec2.m6i.large"].monthly_usd
    assert committed["ec2.r6i.xlarge"].monthly_usd < on_demand["ec2.r6i.xlarge"].monthly_usd
    for row_id in ("eks.control_plane", "elasticache.cache.t3.medium", "alb.hour", "egress.internet"):
        assert committed[row_id].monthly_usd == on_demand[row_id].monthly_usd


def test_compare_purchase_options_and_break_even():
    options = {o.purchase: o for o in compare_purchase_options(medium(), BOOKS["aws"], LLM, today=TODAY)}
    assert list(options) == ["on_demand", "commit_1y", "commit_3y", "spot"]
    assert options["on_demand"].break_even_months is None and options["spot"].break_even_months is None
    assert options["on_demand"].savings_per_month_usd == 0
    for purchase, term, fraction in (("commit_1y", 12, "0.35"), ("commit_3y", 36, "0.55")):
        option = options[purchase]
        assert option.term_months == term
        assert option.break_even_months == term * (1 - Decimal(fraction))
        assert option.commitment_usd == option.committed_monthly_usd * term
        assert option.monthly_usd + option.savings_per_month_usd == options["on_demand"].monthly_usd
        # stopping exactly at break-even costs the same either way
        on_demand_compute = option.committed_monthly_usd + option.savings_per_month_usd
        assert option.break_even_months * on_demand_compute == option.commitment_usd


def test_unknown_purchase_option_is_named():
    with pytest.raises(CapplanError, match="lease_5y"):
        build_bill(medium(), BOOKS["aws"], purchase="lease_5y")


def test_negotiated_discount_comes_off_infrastructure_only():
    edp = PriceRow(
        id="discount.negotiated", description="EDP", unit="fraction", fraction="0.10", region="us-east-1",
        source="contract", observed="2026-10", confidence="confirmed",
    )
    footprint = medium(llm_model="illustrative", llm_input_tokens=10**9, llm_output_tokens=10**8)
    plain = build_bill(footprint, BOOKS["aws"], LLM, today=TODAY)
    discounted = build_bill(footprint, BOOKS["aws"].with_rows([edp]), LLM, today=TODAY)
    assert discounted.infrastructure_usd == plain.infrastructure_usd * Decimal("0.9")
    assert discounted.llm_usd == plain.llm_usd


# --- errors are named ----------------------------------------------------------------------------------


def test_unknown_sku_in_footprint_is_named():
    with pytest.raises(CapplanError, match="ec2.m99.huge"):
        build_bill(medium(app_instance="ec2.m99.huge"), BOOKS["aws"])
    with pytest.raises(CapplanError, match="atlas.m9000"):
        build_bill(medium(mongodb_row="atlas.m9000"), BOOKS["aws"])


def test_provider_mismatch_and_wrong_categories_fail():
    with pytest.raises(CapplanError, match="provider"):
        build_bill(medium("gcp"), BOOKS["aws"])
    with pytest.raises(CapplanError, match="atlas.m30"):
        build_bill(medium(app_instance="atlas.m30"), BOOKS["aws"])  # not a compute instance


def test_missing_role_is_named():
    stripped = BOOKS["aws"].model_copy(update={"roles": {}})
    with pytest.raises(CapplanError, match="kubernetes_control_plane"):
        build_bill(medium(), stripped)


def test_llm_model_needs_the_llm_book_and_a_known_model():
    with pytest.raises(CapplanError, match="llm_model"):
        build_bill(medium(llm_model="illustrative", llm_input_tokens=1), BOOKS["aws"], None)
    with pytest.raises(CapplanError, match="gpt-7"):
        build_bill(medium(llm_model="gpt-7", llm_input_tokens=1), BOOKS["aws"], LLM)


def test_gb_hour_redis_needs_capacity():
    with pytest.raises(CapplanError, match="redis_capacity_gb"):
        build_bill(medium("gcp", redis_capacity_gb=None), BOOKS["gcp"])


@pytest.mark.parametrize(
    "overrides",
    [
        dict(redis_row=None),  # redis_nodes=2 left without a row
        dict(llm_input_tokens=5),  # tokens without a model
        dict(mongodb_disk_gb=Decimal(10)),  # disk on a managed service
        dict(load_balancers=0),  # LCUs without a load balancer
        dict(app_nodes=0),
        dict(egress_gb=Decimal(-1)),
        dict(surprise=1),
    ],
)
def test_inconsistent_footprints_are_rejected(overrides):
    with pytest.raises(ValidationError):
        medium(**overrides)


# --- provider details ----------------------------------------------------------------------------------


def test_gcp_lb_data_is_billed_in_gib_and_memorystore_per_gb_hour():
    lines = {line.price_row_id: line for line in build_bill(medium("gcp"), BOOKS["gcp"], today=TODAY).lines}
    assert lines["lb.data_processed"].quantity == Decimal(2600) * Decimal(10**9) / Decimal(2**30)
    assert lines["memorystore.standard.m1"].quantity == 2 * 3 * 730


def test_azure_fixed_size_disks_round_up():
    footprint = medium("azure", mongodb_mode="self_hosted", mongodb_row="vm.E4s_v5", mongodb_count=3,
                       mongodb_disk_gb=Decimal(200), disk_gb=Decimal(129))
    lines = [line for line in build_bill(footprint, BOOKS["azure"], today=TODAY).lines
             if line.price_row_id == "disk.premium_ssd.p10"]
    assert [line.quantity for line in lines] == [6, 2]  # 3 VMs x ceil(200/128); ceil(129/128)


def test_extras_are_priced_from_the_book():
    footprint = medium(
        mongodb_row="docdb.db.r5.large", mongodb_count=3,
        extras=(Extra(component="mongodb", row_id="docdb.storage", quantity=Decimal(200), variable=True),),
    )
    lines = {line.price_row_id: line for line in build_bill(footprint, BOOKS["aws"], today=TODAY).lines}
    assert lines["docdb.storage"].monthly_usd == Decimal(20)
    assert lines["docdb.db.r5.large"].quantity == 3 * 730


# --- warnings --------------------------------------------------------------------------------------------


def test_bill_warns_about_estimates_old_prices_and_first_tier_overrun():
    footprint = medium(app_instance="ec2.c6i.xlarge", egress_gb=Decimal(20000))
    bill = build_bill(footprint, BOOKS["aws"], today=TODAY)
    warnings, details = bill.warnings, {w.id: w for w in bill.price_warnings}
    # every doubtful price shares one summary line; the rows are in price_warnings
    (summary,) = [w for w in warnings if w.startswith("prices: ")]
    assert not any(w.startswith("price '") for w in warnings)
    assert "older than 180 days" in summary and "unconfirmed estimate" in summary
    assert "capplan prices refresh --provider aws" in summary and "price_warnings" in summary
    assert details["ec2.c6i.xlarge"].issues[0] == "estimate" and "estimate" in details["ec2.c6i.xlarge"].message
    assert "stale" in details["egress.internet"].issues and "days before" in details["egress.internet"].message
    assert len(bill.price_warnings) == len(details)  # one entry per row, even when a row is used twice
    # non-price warnings stay as they were
    assert any("egress.internet" in w and "first price tier" in w for w in warnings)


def test_bill_with_fresh_confirmed_prices_has_no_price_line():
    row = BOOKS["aws"].get("ec2.m6i.large")
    fresh = BOOKS["aws"].with_rows(
        r.model_copy(update={"observed": "2026-11-01", "confidence": "confirmed"}) for r in BOOKS["aws"].rows)
    assert row.observed != "2026-11-01"
    bill = build_bill(medium(), fresh, today=TODAY)
    assert bill.price_warnings == () and not any(w.startswith("prices:") for w in bill.warnings)


def test_no_reference_date_says_freshness_was_not_checked():
    bill = build_bill(medium(), BOOKS["aws"])
    assert any("not checked" in w for w in bill.warnings) and bill.price_warnings == ()


def test_estimate_confidence_flows_into_lines():
    bill = build_bill(medium(app_instance="ec2.c6i.xlarge"), BOOKS["aws"], today=TODAY)
    line = next(line for line in bill.lines if line.component == "app_nodes")
    assert line.confidence == "estimate" and line.observed == "unknown"


# --- helpers ----------------------------------------------------------------------------------------------


def test_choose_instance_picks_the_cheapest_fit():
    aws = BOOKS["aws"]
    assert choose_instance(aws, 2, 8).id == "ec2.m6i.large"
    assert choose_instance(aws, 2, 8, allow_burstable=True).id == "ec2.t3.large"
    assert choose_instance(aws, 3, 8).id == "ec2.c6i.xlarge"
    assert choose_instance(aws, 8, 20).id == "ec2.m6i.2xlarge"
    assert choose_instance(aws, 2, 10, category="cache").id == "elasticache.cache.r6g.large"
    for provider in BOOKS:
        assert choose_instance(BOOKS[provider], Decimal("1.5"), 3.5).vcpu >= 2


def test_choose_instance_ties_break_by_id():
    twin = BOOKS["aws"].get("ec2.m6i.large").model_copy(update={"id": "ec2.a-twin.large"})
    assert choose_instance(BOOKS["aws"].with_rows([twin]), 2, 8).id == "ec2.a-twin.large"


def test_choose_instance_fails_when_nothing_fits():
    with pytest.raises(CapplanError, match="512"):
        choose_instance(BOOKS["gcp"], 512, 4096)
    with pytest.raises(CapplanError):
        choose_instance(BOOKS["gcp"], -1, 4)


def test_unit_costs_reject_zero():
    bill = build_bill(medium(), BOOKS["aws"], today=TODAY)
    with pytest.raises(CapplanError, match="active_users"):
        unit_costs(bill, 0, 100)
    with pytest.raises(CapplanError, match="messages_per_month"):
        unit_costs(bill, 10, 0)


def test_cents_rounds_for_display_only():
    assert cents(Decimal("16.425")) == Decimal("16.43")
    bill = build_bill(medium(), BOOKS["aws"], today=TODAY)
    alb = next(line for line in bill.lines if line.price_row_id == "alb.hour")
    assert alb.monthly_usd == Decimal("16.425")  # lines keep full precision; only display rounds


def test_lb_capacity_units():
    assert lb_capacity_units("aws", active_connections=6000, new_connections_per_s=25, processed_gb_per_hour=1) == 2
    assert lb_capacity_units("azure", active_connections=5000, new_connections_per_s=0, processed_gb_per_hour=0) == 2
    assert lb_capacity_units("gcp", active_connections=5000, new_connections_per_s=9, processed_gb_per_hour=3) == 0
    with pytest.raises(CapplanError, match="provider"):
        lb_capacity_units("ibm", active_connections=1, new_connections_per_s=1, processed_gb_per_hour=1)


# --- money shown one way ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value,shown", [
    (Decimal("1057.515"), "$1,057.52"), (1057.52, "$1,057.52"), ("1057.52", "$1,057.52"), (Decimal(-3), "-$3.00"),
    (-3.0, "-$3.00"), ("-3", "-$3.00"), (0, "$0.00"), (Decimal("-0.001"), "$0.00"), (None, "-"),
    (float("nan"), "-"), (Decimal("1234567.891"), "$1,234,567.89"), (0.1 + 0.2, "$0.30"),
])
def test_usd_formats_every_amount_alike(value, shown):
    from capplan.report.money import usd

    assert usd(value) == shown


def test_usd_signed_and_exact():
    from capplan.report.money import usd

    assert usd(Decimal("12"), signed=True) == "+$12.00" and usd("-1234.5", signed=True) == "-$1,234.50"
    assert usd(0, signed=True) == "$0.00" and usd(None, signed=True) == "-"
    assert usd(Decimal("0.0960"), exact=True) == "$0.0960" and usd(Decimal("2.5"), exact=True) == "$2.50"
    assert usd(Decimal("1250.125"), exact=True) == "$1,250.125"
    with pytest.raises(ValueError):
        usd("lots")
    with pytest.raises(TypeError):
        usd(True)


def test_bill_and_purchase_tables_use_the_one_format():
    import re

    from rich.console import Console

    from capplan.report.table import bill_table, purchase_table

    bill = build_bill(medium(), BOOKS["aws"], LLM, today=TODAY)
    console = Console(width=300, record=True)
    console.print(bill_table(bill, "t"))
    console.print(purchase_table(compare_purchase_options(medium(), BOOKS["aws"], LLM, today=TODAY)))
    text = console.export_text()
    total = cents(bill.total_usd)
    assert f"${total:,}" in text and total >= 1000  # thousands separated
    assert "$0.096" in text  # unit prices keep their digits past the cent
    amounts = re.findall(r"-?\$[\d,]+\.\d+", text)
    assert amounts and all("," in a or float(a.lstrip("-$")) < 1000 for a in amounts)
