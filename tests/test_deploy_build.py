"""The deployment model: what a sized tier deploys, and the bill of exactly that."""

import dataclasses
import datetime as dt
import re
from decimal import Decimal

import pytest

from capplan.cost.bill import bill_deployment
from capplan.cost.prices import load_llm_prices, load_price_book
from capplan.deploy import MANAGED, DeployOptions, build_deployment
from capplan.deploy import platform as plat
from capplan.deploy.build import API_MEMORY_FLOOR_MIB, REDIS_BURSTABLE_MAX
from capplan.deploy.packing import PodShape, nodes_needed
from capplan.errors import CapplanError
from capplan.forecast import RunSettings
from capplan.model.loader import load_tier, load_workload
from capplan.planner import SLO, size_tiers
from edits import with_replicas

WORKLOAD = load_workload()
QUICK = RunSettings(duration=150.0, warmup=40.0, replications=2, seed=5, workers=2)
TODAY = dt.date(2026, 11, 28)
LLM = load_llm_prices()


@pytest.fixture(scope="module")
def sized() -> dict:
    """tier -> the planner's sizing and forecast at 3,000 users."""
    tiers = [load_tier(n) for n in ("current", "tier1", "tier2", "tier3", "microservices")]
    plans = size_tiers(tiers, WORKLOAD, 3000, SLO(), settings=QUICK)
    return {p.tier.name: p for p in plans if p.feasible}


def _deploy(sized: dict, tier: str, provider: str, **options):
    plan = sized[tier]
    return build_deployment(plan.sized, plan.forecast, WORKLOAD, load_price_book(provider), DeployOptions(**options))


def _bill(deployment):
    return bill_deployment(deployment, load_price_book(deployment.provider), LLM, today=TODAY)


# --- compose tiers are billed as the compose file runs them ------------------------------------------------
def test_tier1_on_aws_bills_the_compose_host_and_nothing_it_does_not_run(sized):
    d = _deploy(sized, "tier1", "aws")
    bill = _bill(d)
    components = {line.component for line in bill.lines if line.scope == "infrastructure"}
    assert {"host", "host_disks", "public_ip", "egress", "backups"} <= components
    assert not components & {"load_balancer", "nat", "mongodb", "redis", "kubernetes", "app_nodes"}
    (host,) = d.node_groups
    assert host.role == "host" and host.nodes_min == host.nodes_max == 1
    row = load_price_book("aws").get(host.instance_row)
    # the host holds what every container reserves: API replicas, nginx, 3 MongoDB members, Redis, search
    names = {p.name for p in d.pods}
    assert {"librechat", "nginx", "mongodb-0", "mongodb-1", "mongodb-2", "redis", "librechat-meilisearch"} <= names
    assert float(row.vcpu) * 1000 >= sum(p.cpu_request_m * p.replicas_min for p in d.pods)
    assert float(row.memory_gib) * 1024 >= sum(p.memory_limit_mib * p.replicas_min for p in d.pods)
    # no smaller (cheaper) instance type would hold them
    book = load_price_book("aws")
    cheaper = [r for r in book.instances("instance") if r.price < row.price and not r.burstable]
    need_mem = sum(p.memory_limit_mib * p.replicas_min for p in d.pods) + 1024
    need_cpu = sum(p.cpu_request_m * p.replicas_min for p in d.pods)
    assert all(float(r.vcpu) * 1000 < need_cpu or float(r.memory_gib) * 1024 < need_mem for r in cheaper)
    # one data volume per compose volume, each billed against it
    volumes = {line.resource for line in bill.lines if "#volumes/" in line.resource}
    assert volumes == {f"compose/docker-compose.yml#volumes/{v}" for v in
                       ("mongo_data_0", "mongo_data_1", "mongo_data_2", "redis_data", "meili_data")}


def test_managed_data_services_leave_the_compose_host(sized):
    own = _deploy(sized, "tier1", "aws")
    managed = _deploy(sized, "tier1", "aws", mongodb="managed", redis="managed")
    names = {p.name for p in managed.pods}
    assert not any(n.startswith("mongodb-") for n in names) and "redis" not in names
    lines = {l.component: l for l in _bill(managed).lines}
    assert lines["mongodb"].resource.startswith(MANAGED) and lines["redis"].resource.startswith(MANAGED)
    # the host shrinks (or stays) when the databases move out
    price = load_price_book("aws").get
    assert price(managed.node_groups[0].instance_row).price <= price(own.node_groups[0].instance_row).price


def test_compose_cannot_be_highly_available(sized):
    with pytest.raises(CapplanError, match="require-ha"):
        _deploy(sized, "tier1", "aws", require_ha=True)


def test_search_off_removes_meilisearch_everywhere(sized):
    for tier in ("tier1", "tier2"):
        on, off = _deploy(sized, tier, "gcp"), _deploy(sized, tier, "gcp", search=False)
        assert on.pod("librechat-meilisearch") is not None and off.pod("librechat-meilisearch") is None
        assert not any("meili" in line.resource for line in _bill(off).lines)
        assert _bill(off).infrastructure_usd < _bill(on).infrastructure_usd


# --- Kubernetes: packing, autoscaler bounds, memory --------------------------------------------------------
@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
@pytest.mark.parametrize("tier", ["tier2", "tier3", "microservices"])
def test_node_group_holds_every_pod_at_min_and_max(sized, tier, provider):
    d = _deploy(sized, tier, provider)
    book = load_price_book(provider)
    sidecar = plat.component("istio", "sidecar")["requests"]
    for group in d.node_groups:
        free = plat.schedulable(provider, book.get(group.instance_row))
        pods = [p for p in d.pods if p.node_group == group.name]
        for at_max, nodes in ((False, group.nodes_min), (True, group.nodes_max)):
            shapes = [PodShape(p.name, p.replicas_max if at_max else p.replicas_min,
                               p.cpu_request_m + (sidecar["cpu_millicores"] if p.sidecar else 0),
                               p.memory_request_mib + (sidecar["memory_mib"] if p.sidecar else 0),
                               p.zone_spread, p.one_per_node) for p in pods]
            assert nodes_needed(shapes, free, d.zones) <= nodes
            # and a bound independent of the packing order: total requests fit the group's allocatable
            assert sum(s.count * s.cpu_m for s in shapes) <= nodes * free.cpu_m
            assert sum(s.count * s.memory_mib for s in shapes) <= nodes * free.memory_mib
    api = d.pod("librechat")
    assert api.replicas_max >= 2 * api.replicas_min      # the HPA's maximum is reachable: the group's max holds it


def test_a_forced_instance_too_small_for_a_pod_is_refused_naming_both(sized):
    """The pod named is one that does not fit (Meilisearch's index memory, not the API pod that
    asks for more CPU but fits), with what the node leaves beside the DaemonSets."""
    with pytest.raises(CapplanError, match="ec2.t3.medium cannot hold a librechat-meilisearch pod") as refused:
        _deploy(sized, "tier2", "aws", app_instance="ec2.t3.medium")
    cpu, memory, cpu_left, memory_left = map(int, re.search(
        r"\((\d+)m CPU, (\d+) MiB\) .* \(it leaves (\d+)m CPU, (\d+) MiB\)", str(refused.value)).groups())
    free = plat.schedulable("aws", load_price_book("aws").get("ec2.t3.medium"))
    assert (cpu_left, memory_left) == (free.cpu_m, free.memory_mib)
    assert cpu > cpu_left or memory > memory_left


def test_a_pod_no_instance_type_holds_is_named(sized, monkeypatch):
    """A Meilisearch index wanting more memory than any instance type has is the pod named, with what
    the largest node leaves (not the API pod, which asks for more CPU and fits)."""
    component = plat.component

    def huge_index(name, *rest):
        found = component(name, *rest)
        return {**found, "memory_floor_gib": 4096, "memory_cap_gib": 4096} if name == "meilisearch" else found

    monkeypatch.setattr(plat, "component", huge_index)
    with pytest.raises(CapplanError, match=r"no instance type in the aws price book fits a librechat-meilisearch "
                                           r"pod \(\d+m CPU, \d+ MiB\) .* \(the largest, ec2\.\S+, leaves") as refused:
        _deploy(sized, "tier2", "aws")
    memory = int(re.search(r"CPU, (\d+) MiB\)", str(refused.value)).group(1))
    assert memory >= 4096 * 1024      # the index's 4 TiB, with the mesh proxy's request on top


def test_the_reviews_pending_pod_cannot_happen(sized):
    """4 API pods requesting 1 CPU each never land on 3 two-vCPU nodes: the packing counts allocatable."""
    tier = with_replicas(sized["tier2"].sized, 4)
    book = load_price_book("aws")
    d = build_deployment(tier, sized["tier2"].forecast, WORKLOAD, book, DeployOptions(app_instance="ec2.m6i.large",
                                                                                              search=False))
    api = d.pod("librechat")
    app = d.group("app")
    per_node = plat.schedulable("aws", book.get("ec2.m6i.large"))
    assert app.nodes_min * per_node.cpu_m >= 4 * api.cpu_request_m
    assert app.nodes_min >= 4 * api.cpu_request_m // per_node.cpu_m


def test_api_memory_floor_heap_share_and_request_equals_limit(sized):
    for tier in ("tier2", "microservices"):
        d = _deploy(sized, tier, "aws")
        for pod in d.pods:
            if pod.name.startswith("librechat") and pod.name != "librechat-meilisearch" and "gateway" not in pod.name:
                assert pod.memory_limit_mib >= API_MEMORY_FLOOR_MIB
                assert pod.memory_request_mib == pod.memory_limit_mib


def test_istio_sidecars_istiod_and_gateway_are_packed_and_only_the_mesh_tier_has_sidecars(sized):
    mesh, plain = _deploy(sized, "tier2", "aws"), _deploy(sized, "tier3", "aws")
    assert mesh.mesh and not plain.mesh
    assert mesh.pod("librechat").sidecar and not plain.pod("librechat").sidecar
    for d in (mesh, plain):
        assert d.pod("istiod") is not None and d.pod("librechat-gateway-istio").replicas_min >= 2
    # sidecars cost capacity: the same pods without them never need more nodes
    assert mesh.group("app").nodes_max >= 3


# --- data tier ------------------------------------------------------------------------------------------
def test_redis_is_never_burstable_above_twenty_percent(sized):
    plan = sized["tier2"]
    busy = dataclasses.replace(plan.forecast, utilization={**plan.forecast.utilization,
                                                            "redis": dataclasses.replace(
                                                                plan.forecast.utilization["redis"], mean=0.66)})
    for provider in ("aws", "azure"):
        book = load_price_book(provider)
        d = build_deployment(plan.sized, busy, WORKLOAD, book)
        assert not book.get(d.redis_row).burstable
    idle = dataclasses.replace(plan.forecast, utilization={**plan.forecast.utilization, "redis": dataclasses.replace(
        plan.forecast.utilization["redis"], mean=REDIS_BURSTABLE_MAX / 2)})
    d = build_deployment(plan.sized, idle, WORKLOAD, load_price_book("aws"))
    assert load_price_book("aws").get(d.redis_row).price <= min(
        r.price for r in load_price_book("aws").instances("cache") if not r.burstable)


def test_self_hosted_sharded_mongo_has_config_servers_and_routers(sized):
    tier = sized["tier3"].sized.model_copy(update={"mongo": sized["tier3"].sized.mongo.model_copy(
        update={"shards": 2})})
    d = build_deployment(tier, sized["tier3"].forecast, WORKLOAD, load_price_book("gcp"),
                         DeployOptions(mongodb="self_hosted"))
    assert d.mongo_mode == "self_hosted" and d.mongo_shards == 2
    assert d.pod("mongodb-configsvr").replicas_min == 3 and d.pod("mongos").replicas_min >= 2
    data = d.group("data")
    members = 2 * (1 + tier.mongo.secondaries)
    assert data.nodes_min == data.nodes_max >= members
    lines = _bill(d).lines
    assert any(l.resource == "k8s/mongodb.yaml#StatefulSet/mongodb-configsvr" for l in lines)   # its disks
    assert any(l.resource.endswith("#nodegroup/data") and l.component == "mongodb" for l in lines)


# --- network and control-plane lines ---------------------------------------------------------------------
def test_gcp_cloud_nat_is_billed_per_vm_hour_below_32_vms(sized):
    d = _deploy(sized, "tier2", "gcp")
    lines = [l for l in _bill(d).lines if l.component == "nat"]
    vms = sum(g.nodes_min for g in d.node_groups)
    per_vm = next(l for l in lines if l.price_row_id == "nat.vm_hour")
    assert per_vm.quantity == vms * 730 and vms <= 32
    assert not any(l.price_row_id == "nat.hour" for l in lines)
    # the old bill priced 3 zonal gateways at $0.044/h: ~30x this
    assert per_vm.monthly_usd < Decimal("0.044") * 3 * 730 / 10


def test_gcp_cloud_nat_flat_rate_above_32_vms(sized):
    plan = sized["tier2"]
    big = with_replicas(plan.sized, 200)
    d = build_deployment(big, plan.forecast, WORKLOAD, load_price_book("gcp"),
                         DeployOptions(app_instance="gce.e2-standard-4", search=False))
    assert sum(g.nodes_min for g in d.node_groups) > 32
    ids = [l.price_row_id for l in _bill(d).lines if l.component == "nat"]
    assert "nat.hour" in ids and "nat.vm_hour" not in ids


def test_aks_free_tier_by_default_standard_with_require_ha(sized):
    free, ha = _deploy(sized, "tier2", "azure"), _deploy(sized, "tier2", "azure", require_ha=True)
    assert (free.aks_tier, ha.aks_tier) == ("Free", "Standard")
    rows = {d.aks_tier: next(l for l in _bill(d).lines if l.component == "kubernetes") for d in (free, ha)}
    assert rows["Free"].monthly_usd == 0 and rows["Standard"].monthly_usd > 0
    assert _deploy(sized, "tier2", "azure", aks_tier="Standard").aks_tier == "Standard"


def test_azure_bills_one_os_disk_per_node(sized):
    for options in ({}, {"mongodb": "self_hosted"}):
        d = _deploy(sized, "tier2", "azure", **options)
        disks = [l for l in _bill(d).lines if l.component == "node_disks"]
        assert all(l.unit == "month" for l in disks)
        assert sum(l.quantity for l in disks) == sum(g.nodes_min for g in d.node_groups)
        assert {l.resource.rsplit("/", 1)[1] for l in disks} == {g.name for g in d.node_groups}


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_free_allowances_are_their_own_zero_lines_within_their_limit(sized, provider):
    d = _deploy(sized, "tier2", provider)
    bill = _bill(d)
    free = [l for l in bill.lines if l.price_row_id == "egress.free_tier"]
    row = load_price_book(provider).get("egress.free_tier")
    assert len(free) == 1 and free[0].monthly_usd == 0 and 0 < free[0].quantity <= row.max_quantity
    assert not any("first price tier of 'egress.free_tier'" in w for w in bill.warnings)


def test_waf_and_inter_region_lines_for_tier3(sized):
    bill = _bill(_deploy(sized, "tier3", "aws"))
    components = {l.component for l in bill.lines}
    assert "waf" in components
    assert any(l.price_row_id == "transfer.inter_region" for l in bill.lines)
    assert "waf" not in {l.component for l in _bill(_deploy(sized, "tier2", "aws")).lines}


def test_every_line_names_what_it_pays_for(sized):
    for tier in sized:
        for provider in ("aws", "gcp", "azure"):
            try:
                d = _deploy(sized, tier, provider)
            except CapplanError:
                continue
            for line in _bill(d).lines:
                assert line.resource, (tier, provider, line.component)
                assert line.resource.startswith(MANAGED) or "#" in line.resource


def test_bill_is_byte_identical_for_the_same_inputs(sized):
    a, b = _deploy(sized, "tier2", "gcp"), _deploy(sized, "tier2", "gcp")
    assert a.model_dump_json() == b.model_dump_json()
    assert _bill(a).model_dump_json() == _bill(b).model_dump_json()


def test_min_replicas_sets_the_api_hpa_floor_below_or_above_the_peak_sizing(sized):
    peak = next(p for p in _deploy(sized, "tier2", "aws").pods if p.name == "librechat")
    for floor in (1, peak.replicas_min + 3):
        api = next(p for p in _deploy(sized, "tier2", "aws", min_replicas=floor).pods if p.name == "librechat")
        assert api.replicas_min == floor and api.replicas_max >= max(floor, peak.replicas_max)
    # --require-ha keeps two at least
    api = next(p for p in _deploy(sized, "tier2", "aws", min_replicas=1, require_ha=True).pods if p.name == "librechat")
    assert api.replicas_min == 2
