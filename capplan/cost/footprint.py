"""From a sized, simulated tier to the Footprint the bill prices: nodes, databases, bytes and tokens.

Every quantity is derived here from the sizing (replicas, memory, database cores and shards,
Redis nodes) or from the simulated traffic (messages per second, open streams, API reads) and
the workload's traffic assumptions; choices that are policy rather than arithmetic say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from capplan.cost.bill import Footprint, choose_instance, lb_capacity_units
from capplan.cost.prices import PriceBook, PriceRow
from capplan.errors import CapplanError
from capplan.forecast import TierForecast
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.sim.build import mean_deltas

CPU_TARGET = 0.70                 # [seed] HPA CPU target: request = usage / 70%
NODE_CPU_ALLOCATABLE = 0.90       # [assumption] kubelet/system reserve ~10% of vCPU
NODE_MEMORY_ALLOCATABLE = 0.85    # [assumption] kubelet/system/eviction reserve ~15% of memory
NODE_ROOT_DISK_GB = 50            # [assumption] root volume per app node
DB_BASE_DISK_GB = 50              # [assumption] free space on every MongoDB volume
RETENTION_MONTHS = 12             # [assumption] disk sized for a year of message growth
ATLAS_BY_CORES = ((2, "atlas.m30"), (4, "atlas.m40"), (8, "atlas.m50"))  # Atlas tier vCPUs
MONGO_GIB_PER_CORE = 8            # [assumption] memory-optimised database nodes (r-family)
BROKERS = {"aws": 3, "gcp": 1, "azure": 2}   # MSK brokers / one 3-vCPU Managed Kafka cluster / Event Hubs TUs


@dataclass(frozen=True)
class Demand:
    """Monthly volumes from the offered demand (the workload's demand shape), and the simulated peak streams."""

    messages_per_month: int
    active_users: int
    egress_gb: Decimal
    cdn_gb: Decimal
    nat_gb: Decimal
    lb_gb: Decimal
    stored_gb_per_month: Decimal
    llm_input_tokens: int
    llm_output_tokens: int
    peak_streams: int


@dataclass(frozen=True)
class AppRequest:
    """What one replica of a service asks of a node."""

    service: str
    replicas: int
    cpu_request_m: int
    cpu_limit_m: int
    memory_limit_mib: int


def demand(tier: Tier, forecast: TierForecast, workload: Workload) -> Demand:
    """Monthly volumes from the offered demand (the workload's demand shape at the forecast's users),
    never from what a saturated simulation managed to serve: a bill only grows with users."""
    t = workload.traffic
    llm = workload.llm
    users = forecast.users
    messages = int(round(workload.messages_per_month(users)))
    tokens_out = llm.output_tokens.mean
    deltas = mean_deltas(llm.output_tokens, llm.token_rate.scaled(1.0 / llm.slowdown), llm.coalesce_window,
                         llm.tokens_per_chunk)
    stream_bytes = deltas * t.bytes_per_delta
    read_bytes = workload.api_reads_per_message * t.api_read_bytes
    page_bytes = t.page_loads_per_message * t.page_load_bytes
    origin_bytes = messages * (stream_bytes + read_bytes)
    page_total = messages * page_bytes
    cdn = tier.cdn is not None and tier.cdn.kind in ("cloudfront", "cloud_cdn", "azure_cdn")
    # Cloudflare bills a flat plan, not per GB: its bytes leave the origin once and are cached.
    egress = origin_bytes + (0.0 if tier.cdn is not None else page_total)
    input_tokens = workload.mean_input_tokens()
    titles = workload.new_conversation_share
    # Provider traffic leaves through NAT: the prompt out (~4 B per token of JSON) and the answer's
    # SSE chunks back (each a JSON envelope around a token or a few).
    provider_bytes = 4.0 * input_tokens + tokens_out / llm.tokens_per_chunk * t.provider_bytes_per_chunk
    title_bytes = 4.0 * (llm.title_input_tokens + llm.title_output_tokens)
    return Demand(
        messages_per_month=messages,
        active_users=workload.daily_active_users(users),
        egress_gb=Decimal(str(round(egress / 1e9, 3))),
        cdn_gb=Decimal(str(round(page_total / 1e9, 3))) if cdn else Decimal(0),
        nat_gb=Decimal(str(round(messages * (provider_bytes + titles * title_bytes) / 1e9, 3))),
        # a CDN in front serves the page bundle: the load balancer sees only what the origin sends
        lb_gb=Decimal(str(round((origin_bytes + (0.0 if tier.cdn is not None else page_total)) / 1e9, 3))),
        stored_gb_per_month=Decimal(str(round(messages * t.stored_bytes_per_message / 1e9, 3))),
        llm_input_tokens=int(round(messages * (input_tokens + titles * llm.title_input_tokens))),
        llm_output_tokens=int(round(messages * (tokens_out + titles * llm.title_output_tokens))),
        peak_streams=int(round(sum(forecast.peak_streams_per_replica.values()))),
    )


def app_requests(tier: Tier, forecast: TierForecast) -> list[AppRequest]:
    """Per-replica CPU request (simulated busiest-process usage / 70%) and memory limit per service."""
    out = []
    for svc in tier.services:
        util = forecast.utilization.get(f"{svc.name}.cpu")
        usage = (util.mean if util is not None else 0.0) * svc.processes     # cores
        request = max(100, int(math.ceil(usage / CPU_TARGET * 10.0)) * 100)
        limit = max(request, 1000 * svc.processes)   # a Node process uses at most one core
        out.append(AppRequest(svc.name, svc.replicas, request, limit, int(svc.memory)))
    return out


def choose_nodes(book: PriceBook, requests: list[AppRequest], min_nodes: int,
                 only: str | None = None) -> tuple[PriceRow, int]:
    """Cheapest (instance type x count) whose allocatable CPU and memory hold every replica
    (``only``: that instance type, which must exist in the book)."""
    cpu = sum(r.cpu_request_m * r.replicas for r in requests) / 1000.0
    mem = sum(r.memory_limit_mib * r.replicas for r in requests) / 1024.0
    biggest_cpu = max(r.cpu_request_m for r in requests) / 1000.0
    biggest_mem = max(r.memory_limit_mib for r in requests) / 1024.0
    best = None
    candidates = [book.get(only)] if only else [r for r in book.instances("instance") if not r.burstable]
    if only and candidates[0].category != "instance":
        raise CapplanError(f"{only} is a {candidates[0].category} row, not an instance type", field="instance")
    for row in candidates:
        alloc_cpu = float(row.vcpu) * NODE_CPU_ALLOCATABLE
        alloc_mem = float(row.memory_gib) * NODE_MEMORY_ALLOCATABLE
        if alloc_cpu < biggest_cpu or alloc_mem < biggest_mem:
            continue
        nodes = max(min_nodes, math.ceil(cpu / alloc_cpu), math.ceil(mem / alloc_mem))
        cost = row.price * nodes
        key = (cost, nodes, row.id)
        if best is None or key < best[0]:
            best = (key, row, nodes)
    if best is None:
        raise CapplanError(f"no instance type in the {book.provider} price book fits a replica of "
                           f"{biggest_cpu:g} vCPU / {biggest_mem:g} GiB", field="provider")
    return best[1], best[2]


def build_footprint(tier: Tier, forecast: TierForecast, workload: Workload, book: PriceBook,
                    require_ha: bool = False, app_instance: str | None = None,
                    mongodb: str = "auto") -> tuple[Footprint, dict]:
    """The Footprint of ``tier`` (already sized) on ``book``'s provider, and the choices behind it."""
    d = demand(tier, forecast, workload)
    requests = app_requests(tier, forecast)
    zones = 3 if tier.kubernetes else (2 if require_ha else 1)   # [seed] Tier 2: 3 Kubernetes nodes
    min_nodes = zones if (tier.kubernetes or require_ha) else 1
    app_row, app_nodes = choose_nodes(book, requests, min_nodes, only=app_instance)
    regions = tier.regions.count
    m = tier.mongo
    data_gb = float(d.stored_gb_per_month) * RETENTION_MONTHS
    if mongodb not in ("auto", "managed", "self_hosted"):
        raise CapplanError(f"must be auto, managed or self_hosted, got {mongodb!r}", field="mongodb")
    shards = 1 if tier.single_instance else m.shards
    members = 1 if tier.single_instance else 1 + m.secondaries
    atlas = next((rid for cores, rid in ATLAS_BY_CORES if cores >= m.cores and _has(book, rid)), None)
    # Policy for auto: the single-process tier runs MongoDB on one VM, sharded tiers on VMs (as in
    # costs.md's "Large" bill of materials), a plain replica set on Atlas (costs.md "Medium").
    managed = mongodb == "managed" or (mongodb == "auto" and not tier.single_instance and shards == 1)
    if managed and atlas is None:
        if mongodb == "managed":
            raise CapplanError(f"no managed MongoDB row in pricing/{book.provider}.yaml with {m.cores} vCPU",
                               field="mongodb")
        managed = False
    if managed:
        mongo = dict(mongodb_mode="managed", mongodb_row=atlas, mongodb_count=shards)  # one Atlas cluster per shard
    else:
        row = choose_instance(book, m.cores, m.cores * MONGO_GIB_PER_CORE)
        mongo = dict(mongodb_mode="self_hosted", mongodb_row=row.id, mongodb_count=shards * members,
                     mongodb_disk_gb=Decimal(str(math.ceil(DB_BASE_DISK_GB + data_gb / shards))))
    redis = {}
    if tier.redis.enabled:
        row = book.role("redis_managed")
        replicated_row = "standard" in row.id           # GCP/Azure Standard tiers include a replica
        per_primary = 1 if replicated_row or not (require_ha or tier.kubernetes) else 2
        redis = dict(redis_row=row.id, redis_nodes=tier.redis.nodes * per_primary,
                     redis_capacity_gb=Decimal(1) if row.unit == "GB-hour" else None)
    queue = {}
    if tier.event_bus is not None:
        queue = dict(queue_row=book.role("queue").id, queue_count=BROKERS.get(book.provider, 3))
    lb = {}
    if tier.proxy.kind != "direct":
        streams_avg = Decimal(d.peak_streams) / Decimal(2)
        new_conn = Decimal(d.messages_per_month) * Decimal(1 + workload.api_reads_per_message) / Decimal(730 * 3600)
        lcu = lb_capacity_units(book.provider, active_connections=streams_avg, new_connections_per_s=new_conn,
                                processed_gb_per_hour=d.lb_gb / Decimal(730)) * regions
        lb = dict(load_balancers=1, lb_processed_gb=d.lb_gb, lb_capacity_units=lcu)
    nat = {}
    if tier.kubernetes or tier.proxy.kind != "direct":
        nat = dict(nat_gateways=zones if tier.kubernetes else 1, nat_processed_gb=d.nat_gb)
    fp = Footprint(
        tier=tier.name, provider=book.provider, regions=regions,
        kubernetes_clusters=1 if tier.kubernetes else 0,
        app_instance=app_row.id, app_nodes=app_nodes, **lb, **nat, **mongo, **redis, **queue,
        object_storage_gb=Decimal(str(math.ceil(data_gb))),     # backups of a year of messages
        disk_gb=Decimal(NODE_ROOT_DISK_GB * app_nodes * regions),
        egress_gb=d.egress_gb, cdn_gb=d.cdn_gb,
        llm_model=workload.traffic.llm_model, llm_input_tokens=d.llm_input_tokens,
        llm_output_tokens=d.llm_output_tokens,
    )
    choices = {"app_requests": [r.__dict__ for r in requests], "zones": zones, "demand": d}
    return fp, choices


def _has(book: PriceBook, row_id: str) -> bool:
    return any(r.id == row_id for r in book.rows)
