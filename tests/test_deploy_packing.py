"""Pods onto nodes: the platform's allocatable against observed nodes, and hand-worked packings."""


import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capplan.cost.prices import PriceRow, load_price_book
from capplan.deploy import platform as plat
from capplan.deploy.packing import PodShape, nodes_needed
from capplan.deploy.platform import Resources
from capplan.errors import CapplanError


def _row(provider: str, name: str, vcpu: int, gib: float) -> PriceRow:
    prefix = {"aws": "ec2.", "gcp": "gce.", "azure": "vm."}[provider]
    return PriceRow(id=prefix + name, description=name, unit="hour", usd="0.1", region="r", source="test",
                    observed="2026-11", confidence="estimate", category="instance", vcpu=vcpu,
                    memory_gib=str(gib))


# --- allocatable: the platform file's formulas against nodes its sources observed ---------------------------
def test_eks_m5_large_matches_the_observed_node():
    """m5.large: 1.93 CPU allocatable; memory = capacity - (11 x 29 pods + 255) - 100 eviction = capacity - 674."""
    a = plat.allocatable("aws", _row("aws", "m5.large", 2, 8))
    assert a.cpu_m == 1930
    capacity = 8 * 1024 * 0.974 - 280
    assert a.memory_mib == int(capacity - 674)
    assert a.pods == 29


def test_eks_reserve_uses_the_uncapped_eni_table_but_the_capped_pod_limit():
    row = _row("aws", "m6i.4xlarge", 16, 64)
    a = plat.allocatable("aws", row)
    assert a.pods == 110                                       # managed node groups cap maxPods below 30 vCPU
    capacity = 64 * 1024 * 0.974 - 280
    assert a.memory_mib == int(capacity - (11 * 234 + 255) - 100)   # reserve for the ENI table's 234 pods


def test_gke_memory_tiers_reproduce_observed_allocatable():
    """n2-highmem-2 reports 15.631 GiB and allocates 12.972 GiB (25% of 4, 20% of 4, 10% of 7.63, 100 MiB)."""
    cap_gib = 15.631
    reserve = 0.25 * 4 + 0.20 * 4 + 0.10 * (cap_gib - 8)
    expected = cap_gib * 1024 - reserve * 1024 - 100
    assert expected / 1024 == pytest.approx(12.972, abs=0.01)
    row = _row("gcp", "n2-highmem-2", 2, 16)
    a = plat.allocatable("gcp", row)
    assert a.cpu_m == 1930
    assert a.memory_mib / 1024 == pytest.approx(12.97, abs=0.15)   # the capacity fit is within 0.09 GiB


@pytest.mark.parametrize("cores,reserved", [(1, 60), (2, 100), (4, 140), (8, 180), (16, 260), (32, 420)])
def test_aks_cpu_reserve_is_the_published_table(cores, reserved):
    a = plat.allocatable("azure", _row("azure", f"D{cores}s_v5", cores, cores * 4))
    assert a.cpu_m == cores * 1000 - reserved


def test_aks_memory_reserve_is_capped_at_a_quarter():
    # 250 pods x 20 MiB + 50 MiB = 5050 MiB > 25% of 8 GiB (2048): the cap applies
    a = plat.allocatable("azure", _row("azure", "D2s_v5", 2, 8))
    capacity = 8 * 1024 * 0.983 - 106
    assert a.memory_mib == int(capacity - 2048 - 100)


def test_daemonsets_come_off_every_node():
    row = load_price_book("aws").get("ec2.m6i.large")
    free, alloc, ds = plat.schedulable("aws", row), plat.allocatable("aws", row), plat.daemonsets("aws")
    assert ds.cpu_m > 0 and ds.pods >= 3
    assert (free.cpu_m, free.memory_mib, free.pods) == (alloc.cpu_m - ds.cpu_m, alloc.memory_mib - ds.memory_mib,
                                                          alloc.pods - ds.pods)


# --- packing -------------------------------------------------------------------------------------------
NODE = Resources(cpu_m=1800, memory_mib=6000, pods=20)


def test_review_case_four_one_cpu_pods_need_four_two_vcpu_nodes():
    """The review's case: 4 pods requesting 1 CPU on m6i.large (2 vCPU): one fits per node after the reserve."""
    row = load_price_book("aws").get("ec2.m6i.large")
    free = plat.schedulable("aws", row)
    assert 1000 < free.cpu_m < 2000
    assert nodes_needed([PodShape("api", 4, 1000, 1024)], free, zones=1) == 4


def test_zone_spread_packs_each_zone_with_its_share():
    # 4 spread pods over 3 zones: ceil(4/3) = 2 per zone must fit in every zone; 2 fit per node
    pods = [PodShape("api", 4, 800, 1000, zone_spread=True)]
    assert nodes_needed(pods, NODE, zones=3) == 3
    pods = [PodShape("api", 7, 800, 1000, zone_spread=True)]   # 3 per zone -> 2 nodes per zone
    assert nodes_needed(pods, NODE, zones=3) == 6


def test_one_per_node_members_never_share():
    pods = [PodShape("mongo", 3, 100, 100, zone_spread=True, one_per_node=True)]
    assert nodes_needed(pods, NODE, zones=1) == 3


def test_pod_slots_limit_the_node():
    pods = [PodShape("tiny", 45, 10, 10)]
    assert nodes_needed(pods, NODE, zones=1) == 3   # 20 pods per node


def test_a_pod_larger_than_a_node_is_an_error_naming_it():
    with pytest.raises(CapplanError, match="search"):
        nodes_needed([PodShape("search", 1, 100, 9000)], NODE, zones=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 8), st.integers(50, 1800), st.integers(50, 6000), st.booleans()),
                min_size=1, max_size=6), st.integers(1, 3))
def test_packing_never_overcommits_and_never_beats_the_volume_bound(shapes, zones):
    pods = [PodShape(f"p{i}", n, cpu, mem, spread) for i, (n, cpu, mem, spread) in enumerate(shapes)]
    nodes = nodes_needed(pods, NODE, zones)
    total_cpu = sum(p.count * p.cpu_m for p in pods)
    total_mem = sum(p.count * p.memory_mib for p in pods)
    # a lower bound no placement can beat: the total requests over one node's capacity
    assert nodes >= max(1, -(-total_cpu // NODE.cpu_m), -(-total_mem // NODE.memory_mib))
    assert nodes % zones == 0
    # more pods never need fewer nodes
    more = pods + [PodShape("zz-extra", 1, 50, 50)]   # smallest and last in the order: placed last
    assert nodes_needed(more, NODE, zones) >= nodes
