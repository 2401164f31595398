"""From a sized, simulated tier to the :class:`~capplan.deploy.model.Deployment` that is billed and rendered.

Every number the bill and the manifests share is decided here, once: container requests and limits,
replicas and their autoscaler bounds, the node groups and how many nodes the pods need at the minimum
and the maximum (bin-packing against each provider's allocatable, see ``packing``), the data tier
(managed or self-hosted, with a sharded cluster's config servers and routers), the ingress path, NAT,
disks, backups, observability and transfer. Policy that is a choice, not arithmetic, says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal

from capplan.deploy.demand import CPU_TARGET, Demand, demand
from capplan.cost.prices import PriceBook, PriceRow
from capplan.deploy import platform as plat
from capplan.deploy.model import Charge, Deployment, NodeGroup, Pod
from capplan.deploy.packing import PodShape, nodes_needed
from capplan.errors import CapplanError
from capplan.forecast import TierForecast
from capplan.model.tier import Tier
from capplan.model.workload import Workload

# --- the API container -------------------------------------------------------------------------------
API_MEMORY_FLOOR_MIB = 2048   # [librechat] maintainers: 1 GB minimum, 2 GB preferred; a 1 GB heap crashed at ~100 users
HEAP_SHARE = 0.75             # [librechat] --max-old-space-size at ~75% of the limit (render.context.OLD_SPACE_FRACTION)
HPA_MAX_FACTOR = 2            # [assumption] the HPA may double the forecast-peak replicas for spikes
# --- placement ---------------------------------------------------------------------------------------
KUBERNETES_ZONES = 3          # [seed] Tier 2: 3 Kubernetes nodes, one per zone; EKS needs >= 2 zones
NODE_ROOT_DISK_GIB = 50       # [assumption] root volume per Kubernetes node (images, logs, emptyDir)
HOST_ROOT_DISK_GIB = 30       # [assumption] root volume of a compose host (OS + images)
HOST_OS_MEMORY_MIB = 1024     # [assumption] a compose host's OS, Docker and page cache floor
# --- data tier ---------------------------------------------------------------------------------------
RETENTION_MONTHS = 12         # [assumption] disks and backups sized for a year of message growth
DB_BASE_DISK_GIB = 50         # [assumption] free space on every MongoDB volume
MONGO_GIB_PER_CORE = 8        # [assumption] memory-optimised database nodes (r-family), VMs and data node groups
COMPOSE_MONGO_GIB_PER_CORE = 2  # [assumption] members sharing one compose host get a WiredTiger cache cap to match
ATLAS_BY_CORES = ((2, "atlas.m30"), (4, "atlas.m40"), (8, "atlas.m50"))   # Atlas tier vCPUs
REDIS_BURSTABLE_MAX = 0.20    # no CPU-credit Redis above 20% sustained CPU (credits run out, then it crawls)
REDIS_MIN_GB = 1              # [assumption] streams' resumable buffers and rate-limit keys fit in 1 GB
BROKERS = {"aws": 3, "gcp": 1, "azure": 2}   # MSK brokers / one 3-vCPU Managed Kafka cluster / Event Hubs TUs
# --- observability -----------------------------------------------------------------------------------
SCRAPE_INTERVAL_S = 30        # [assumption] Prometheus scrape interval
SERIES_PER_POD = 150          # [assumption] cAdvisor + kube-state-metrics series per pod
SERIES_PER_SIDECAR = 400      # [assumption] Istio standard metrics per injected pod (histogram buckets x labels)
SERIES_PER_EXPORTER = 300     # [assumption] redis_exporter / mongodb_exporter series per target
LOG_BYTES_PER_REQUEST = 600   # [assumption] one access-log line per request (gateway / nginx), JSON
# --- transfer ----------------------------------------------------------------------------------------
CROSS_ZONE_SHARE = 2 / 3      # with 3 zones, 2 of 3 calls between spread pods and a zonal store cross a zone
REDIS_BYTES_PER_DELTA = 400   # [assumption] the resumable-stream XADD and its pub/sub fan-out per SSE delta
WAF_RULES = 5                 # [assumption] managed rule groups in a default web ACL / policy

_HOURS = Decimal(730)


@dataclass(frozen=True)
class DeployOptions:
    """What the operator chooses beside the sizing (CLI: --require-ha, --mongodb, --redis, --search ...)."""

    require_ha: bool = False
    app_instance: str | None = None
    mongodb: str = "auto"          # auto | managed | self_hosted
    redis: str = "auto"            # auto | managed | self_hosted
    search: bool = True            # LibreChat's Meilisearch (SEARCH=true)
    aks_tier: str | None = None    # Free | Standard (default: Standard with --require-ha)
    memory_hpa: bool = False       # scale on memory too (a Node heap does not shrink: scales out, rarely back)
    # The API's HPA minimum when the load follows a daily curve (None: the peak sizing, so the
    # HPA only ever adds pods): the peak's replicas become the usual hours' headroom, not the floor.
    min_replicas: int | None = None

    def __post_init__(self) -> None:
        for field, value, allowed in (("mongodb", self.mongodb, ("auto", "managed", "self_hosted")),
                                      ("redis", self.redis, ("auto", "managed", "self_hosted"))):
            if value not in allowed:
                raise CapplanError(f"must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}", field=field)
        if self.min_replicas is not None and self.min_replicas < 1:
            raise CapplanError(f"must be at least 1, got {self.min_replicas}", field="min-replicas")
        if self.aks_tier not in (None, "Free", "Standard"):
            raise CapplanError(f"must be Free or Standard, got {self.aks_tier!r}", field="aks-tier")


def _d(value: float | int) -> Decimal:
    return Decimal(str(round(value, 3))) if isinstance(value, float) else Decimal(value)


#: the rendered cluster definition per provider (its node groups, NAT and control plane)
CLUSTER_FILE = {"aws": "cluster/eksctl.yaml", "gcp": "cluster/gke-flags.yaml", "azure": "cluster/aks-managedcluster.yaml"}


def series_per_replica(pod: Pod) -> int:
    """Prometheus series one replica of ``pod`` adds: its own, and its mesh proxy's."""
    proxied = pod.sidecar or pod.name == "librechat-gateway-istio"
    return SERIES_PER_POD + (SERIES_PER_SIDECAR if proxied else 0)


def metrics_series(pods: list[Pod]) -> int:
    """The series the metrics line pays for: every pod at its minimum replicas, and the exporters'
    targets (an autoscaled plan's month scales its API pods' share by their mean count)."""
    exporters = sum(1 for p in pods if p.rendered.startswith("k8s/exporters.yaml") and "kube-state" not in p.name)
    return sum(p.replicas_min * series_per_replica(p) for p in pods) + exporters * SERIES_PER_EXPORTER


class _Builder:
    def __init__(self, tier: Tier, forecast: TierForecast, workload: Workload, book: PriceBook, opts: DeployOptions):
        self.tier, self.f, self.wl, self.book, self.opts = tier, forecast, workload, book, opts
        self.provider = book.provider
        self.kubernetes = tier.kubernetes
        self.regions = tier.regions.count
        self.demand: Demand = demand(tier, forecast, workload)
        self.pods: list[Pod] = []
        self.groups: list[NodeGroup] = []
        self.charges: list[Charge] = []
        self.notes: list[str] = []
        self.data_gib = float(self.demand.stored_gb_per_month) * RETENTION_MONTHS

    # --- charges --------------------------------------------------------------------------------------
    def charge(self, component: str, row_id: str, quantity: Decimal | float | int, what: str, *,
               rendered: str | None = None, managed: str | None = None, variable: bool = False,
               per_region: bool = True, spot: bool = False) -> None:
        q = _d(quantity) if not isinstance(quantity, Decimal) else quantity
        if per_region and self.regions > 1:
            q, what = q * self.regions, f"{what} x {self.regions} regions"
        self.book.get(row_id)   # a missing price is an error, here rather than at billing
        self.charges.append(Charge(component=component, row_id=row_id, quantity=q, what=what, rendered=rendered,
                                   managed=managed, variable=variable, spot_eligible=spot))

    def disk(self, component: str, gib: int, volumes: int, rendered: str, role: str = "block_storage") -> None:
        """``volumes`` disks of ``gib`` each (GB-month rows: GB; fixed-size disk rows: disks, rounded up)."""
        row = self.book.role(role)
        if row.unit == "GB-month":
            self.charge(component, row.id, gib * volumes, f"{volumes} x {gib} GB", rendered=rendered)
        elif row.unit == "month" and row.size_gb is not None:
            per = math.ceil(gib / float(row.size_gb))
            self.charge(component, row.id, per * volumes, f"{volumes} disk(s) of {gib} GB, {per} x {row.size_gb} GB each",
                        rendered=rendered)
        else:
            raise CapplanError(f"row {row.id!r} is priced per {row.unit}; disks need GB-month or per-disk rows",
                               field=role)

    # --- the API services -----------------------------------------------------------------------------
    def api_pods(self) -> None:
        for svc in self.tier.services:
            util = self.f.utilization.get(f"{svc.name}.cpu")
            usage = (util.mean if util is not None else 0.0) * svc.processes   # cores
            request = max(100, int(math.ceil(usage / CPU_TARGET * 10.0)) * 100)
            limit = max(request, 1000 * svc.processes)   # a Node process uses at most one core
            memory = max(API_MEMORY_FLOOR_MIB, int(math.ceil(svc.memory / 256.0)) * 256)
            replicas = svc.replicas
            high = replicas if not self.kubernetes else max(replicas + 1, replicas * HPA_MAX_FACTOR)
            streams = "stream" in svc.handles
            if streams and self.kubernetes and self.opts.min_replicas is not None:
                # the autoscaled API: the HPA's floor is the one asked for (2 at least with
                # --require-ha), below the peak's sizing or above it; its maximum stays the usual
                # one above the peak, and never below the floor
                replicas = max(self.opts.min_replicas, 2 if self.opts.require_ha else 1)
                high = max(high, replicas)
            # the service holding the streams is the rendered API Deployment; the others (the microservices
            # tier's auth, agent, files ...) are their own Deployments in k8s/services.yaml
            name = "librechat" if streams else f"librechat-{svc.name}"
            if not self.kubernetes:
                where = f"compose/docker-compose.yml#services/{'api' if streams else svc.name}"
            else:
                where = f"k8s/{'deployment' if streams else 'services'}.yaml#Deployment/{name}"
            self.pods.append(Pod(name=name, kind="Deployment" if self.kubernetes else "service", rendered=where,
                                 replicas_min=replicas, replicas_max=high, cpu_request_m=request, cpu_limit_m=limit,
                                 memory_request_mib=memory, memory_limit_mib=memory, zone_spread=True,
                                 sidecar=self.mesh))

    @property
    def mesh(self) -> bool:
        return self.kubernetes and self.tier.mesh is not None

    # --- search ---------------------------------------------------------------------------------------
    def search_pod(self) -> None:
        if not self.opts.search:
            return
        m = plat.component("meilisearch")
        raw_gb = self.data_gib * float(m.get("indexed_share", 1.0))
        index_gib = raw_gb * float(m["disk_per_raw_gb"])
        memory = max(float(m["memory_floor_gib"]), index_gib * float(m["memory_per_index_gib"]))
        if memory > float(m["memory_cap_gib"]):
            self.notes.append(f"search: a {index_gib:,.0f} GB index would want {memory:,.0f} GiB of RAM; one "
                              f"Meilisearch node gets {m['memory_cap_gib']} GiB and pages the rest from disk (slower "
                              "searches); consider search: false or a shorter retention")
            memory = float(m["memory_cap_gib"])
        disk = max(float(m["disk_floor_gib"]), index_gib * float(m["disk_headroom"]))
        memory_mib = int(math.ceil(memory * 1024 / 256.0)) * 256
        rendered = "k8s/meilisearch.yaml#StatefulSet/librechat-meilisearch" if self.kubernetes \
            else "compose/docker-compose.yml#services/meilisearch"
        self.pods.append(Pod(name="librechat-meilisearch", kind="StatefulSet" if self.kubernetes else "service",
                             rendered=rendered, replicas_min=1, replicas_max=1, cpu_request_m=int(m["cpu_millicores"]),
                             cpu_limit_m=max(1000, int(m["cpu_millicores"])), memory_request_mib=memory_mib,
                             memory_limit_mib=memory_mib, disk_gib=int(math.ceil(disk)), sidecar=self.mesh,
                             image=str(m["image"])))

    # --- MongoDB --------------------------------------------------------------------------------------
    def mongo_mode(self) -> str:
        m, choice = self.tier.mongo, self.opts.mongodb
        shards = 1 if self.tier.single_instance else m.shards
        atlas = self.atlas_row()
        if choice == "managed":
            if atlas is None:
                raise CapplanError(f"no managed MongoDB row in pricing/{self.provider}.yaml with {m.cores} vCPU",
                                   field="--mongodb")
            return "managed"
        if choice == "self_hosted":
            return "self_hosted"
        # auto: compose tiers run MongoDB in the compose file (as rendered); Kubernetes tiers use a managed
        # replica set (costs.md "Medium") and run a sharded cluster themselves (costs.md "Large").
        if self.kubernetes and shards == 1 and atlas is not None:
            return "managed"
        return "self_hosted"

    def atlas_row(self) -> str | None:
        ids = {r.id for r in self.book.rows}
        return next((rid for cores, rid in ATLAS_BY_CORES if cores >= self.tier.mongo.cores and rid in ids), None)

    # --- Redis ----------------------------------------------------------------------------------------
    def redis_row(self) -> PriceRow:
        """The cheapest managed cache row with room for the data; no burstable type above 20% CPU."""
        util = self.f.utilization.get("redis")
        load = util.mean if util is not None else 0.0
        rows = [r for r in self.book.instances("cache") if (r.memory_gib or 0) >= REDIS_MIN_GB]
        if self.kubernetes or self.opts.require_ha:   # a Basic cache has no replica: not for a replicated tier
            rows = [r for r in rows if ".basic." not in r.id]
        if load > REDIS_BURSTABLE_MAX:
            rows = [r for r in rows if not r.burstable]
        if rows:
            return rows[0]
        return self.book.role("redis_managed")   # GB-hour rows (Memorystore) carry no vCPU: sized by capacity

    # --- the whole deployment -------------------------------------------------------------------------
    def build(self) -> Deployment:
        t, opts = self.tier, self.opts
        if opts.require_ha and not self.kubernetes:
            raise CapplanError(f"tier {t.name} runs on one Docker host: it cannot be highly available "
                               "(choose a Kubernetes tier with --require-ha)", field="require-ha")
        self.api_pods()
        self.search_pod()
        mongo_mode = self.mongo_mode()
        redis_mode = "none"
        if t.redis.enabled:
            redis_mode = opts.redis if opts.redis != "auto" else ("managed" if self.kubernetes else "self_hosted")
            if redis_mode == "self_hosted" and self.kubernetes:
                raise CapplanError("Kubernetes tiers use a managed Redis (ElastiCache, Memorystore, Azure Cache); "
                                   "self-hosted Redis is rendered for compose tiers only", field="--redis")
        shards = 1 if t.single_instance else t.mongo.shards
        members = 1 if t.single_instance else 1 + t.mongo.secondaries
        redis_row, redis_nodes = None, 0
        if self.kubernetes:
            self.kubernetes_deployment(mongo_mode, shards, members)
        else:
            self.compose_deployment(mongo_mode, redis_mode, shards, members)
        if mongo_mode == "managed":
            row = self.atlas_row()
            assert row is not None
            self.charge("mongodb", row, shards, f"{shards} cluster(s) (one per shard)",
                        managed="MongoDB Atlas (URI in the Secret)")
        if redis_mode == "managed":
            row = self.redis_row()
            replicated = any(k in row.id for k in ("standard", "premium"))   # GCP/Azure tiers include a replica
            per_primary = 1 if replicated or not (opts.require_ha or self.kubernetes) else 2
            redis_row, redis_nodes = row.id, t.redis.nodes * per_primary
            if row.unit == "GB-hour":
                self.charge("redis", row.id, REDIS_MIN_GB * redis_nodes, f"{redis_nodes} x {REDIS_MIN_GB} GB",
                            managed="managed Redis (URI in the Secret)")
            else:
                self.charge("redis", row.id, redis_nodes, f"{redis_nodes} node(s)",
                            managed="managed Redis (URI in the Secret)")
        if t.event_bus is not None:
            row = self.book.role("queue")
            self.charge("queue", row.id, BROKERS.get(self.provider, 3), "brokers / units",
                        managed="managed Kafka (bootstrap servers in the Secret)")
        self.shared_charges()
        d = self.demand
        return Deployment(
            tier=t.name, provider=self.provider, region=self.book.region, regions=self.regions,
            platform="kubernetes" if self.kubernetes else "compose",
            zones=KUBERNETES_ZONES if self.kubernetes else 1, users=self.f.users,
            pods=tuple(self.pods), node_groups=tuple(self.groups), charges=tuple(self.charges),
            llm_model=self.wl.traffic.llm_model, llm_input_tokens=d.llm_input_tokens,
            llm_output_tokens=d.llm_output_tokens, mongo_mode=mongo_mode, mongo_shards=shards,  # type: ignore[arg-type]
            mongo_members=members, redis_mode=redis_mode, redis_row=redis_row, redis_nodes=redis_nodes,  # type: ignore[arg-type]
            search=opts.search, mesh=self.mesh, aks_tier=self.aks_tier(), hpa_memory=opts.memory_hpa,
            peak_streams=d.peak_streams,
            notes=tuple(self.notes))

    def aks_tier(self) -> str | None:
        if self.provider != "azure" or not self.kubernetes:
            return None
        return self.opts.aks_tier or ("Standard" if self.opts.require_ha else "Free")

    # --- Kubernetes -----------------------------------------------------------------------------------
    def kubernetes_deployment(self, mongo_mode: str, shards: int, members: int) -> None:
        zones = KUBERNETES_ZONES
        sidecar = plat.component("istio", "sidecar")
        self.platform_pods(shards, mongo_mode)
        cluster_file = CLUSTER_FILE[self.provider]
        # the app node group: every pod but the MongoDB members
        group = self.choose_group("app", [p for p in self.pods if p.node_group == "app"], zones, sidecar)
        self.groups.append(group)
        nodes_min, nodes_max = group.nodes_min, group.nodes_max
        row = self.book.get(group.instance_row)
        self.charge("app_nodes", row.id, nodes_min, f"{nodes_min} nodes (autoscaler max {nodes_max})",
                    rendered=f"{cluster_file}#nodegroup/app", spot=True)
        self.disk("node_disks", NODE_ROOT_DISK_GIB, nodes_min, f"{cluster_file}#nodegroup/app", role="node_disk")
        if mongo_mode == "self_hosted":
            data = self.data_group(shards, members, zones)
            self.disk("node_disks", NODE_ROOT_DISK_GIB, data.nodes_min, data.rendered, role="node_disk")
        for pod in self.pods:
            if pod.disk_gib:
                self.disk(pod.name.removeprefix("librechat-"), pod.disk_gib, pod.replicas_min, pod.rendered)
        # control plane
        if self.provider == "azure":
            row = self.book.role("kubernetes_control_plane" if self.aks_tier() == "Standard"
                                 else "kubernetes_control_plane_free")
        else:
            row = self.book.role("kubernetes_control_plane")
        self.charge("kubernetes", row.id, 1, "1 cluster", rendered=f"{cluster_file}#cluster")
        # ingress: the Istio gateway's LoadBalancer Service (an L4 load balancer per provider)
        gateway = "k8s/gateway.yaml#Gateway/librechat-gateway"
        lb_hour, lb_usage = self.book.role("lb4_hour"), self.book.role("lb4_usage")
        self.charge("load_balancer", lb_hour.id, 1, "1 load balancer", rendered=gateway)
        d = self.demand
        if lb_usage.unit in ("LCU-hour",):
            streams = Decimal(d.peak_streams) / 2
            new_flows = Decimal(d.messages_per_month) * Decimal(1 + self.wl.api_reads_per_message) / (_HOURS * 3600)
            nlcu = max(new_flows / 800, streams / 100_000, d.lb_gb / _HOURS)   # AWS NLB: NLCU dimensions (TCP)
            self.charge("load_balancer", lb_usage.id, nlcu.quantize(Decimal("0.0001")),
                        "average NLCUs (new flows/800 per s, active flows/100,000, GB/h)",
                        rendered=gateway, variable=True, per_region=False)
        else:
            self.charge("load_balancer", lb_usage.id, d.lb_gb, f"{d.lb_gb} GB through the load balancer "
                        "(origin bytes only: the CDN serves the page bundle)", rendered=gateway, variable=True,
                        per_region=False)
        # NAT: nodes are private; provider calls and image pulls leave through NAT
        nodes = nodes_min + sum(g.nodes_min for g in self.groups if g.role == "data")
        if self.provider == "aws":
            self.charge("nat", self.book.role("nat_hour").id, zones, f"{zones} gateways (one per zone)",
                        rendered=f"{cluster_file}#nat")
        elif self.provider == "gcp":
            if nodes <= 32:
                self.charge("nat", self.book.role("nat_vm_hour").id, nodes,
                            f"{nodes} VMs using the gateway (per-VM rate up to 32 VMs)",
                            rendered="cluster/gke-nat-flags.yaml#nat")
            else:
                self.charge("nat", self.book.role("nat_hour").id, 1, "1 gateway (flat rate above 32 VMs)",
                            rendered="cluster/gke-nat-flags.yaml#nat")
            self.charge("nat", self.book.role("nat_ip_hour").id, 1, "1 NAT IP",
                        rendered="cluster/gke-nat-flags.yaml#nat")
        else:
            self.charge("nat", self.book.role("nat_hour").id, 1, "1 managed NAT gateway",
                        rendered=f"{cluster_file}#nat")
        nat_where = "cluster/gke-nat-flags.yaml#nat" if self.provider == "gcp" else f"{cluster_file}#nat"
        self.charge("nat", self.book.role("nat_gb").id, d.nat_gb, f"{d.nat_gb} GB to the LLM provider "
                    "(prompts out, SSE chunks back)", rendered=nat_where, variable=True, per_region=False)
        self.observability()
        # cross-zone: API pods in three zones talk to zonal Redis/Mongo primaries
        deltas = float(d.messages_per_month) * self._deltas_per_message()
        cross_gb = deltas * REDIS_BYTES_PER_DELTA * CROSS_ZONE_SHARE / 1e9
        if self.tier.redis.enabled:
            self.charge("transfer", self.book.role("inter_zone").id, _d(cross_gb),
                        f"{cross_gb:.3f} GB API <-> Redis across zones ({CROSS_ZONE_SHARE:.0%} of stream writes)",
                        managed="traffic between zones", variable=True, per_region=False)
        if mongo_mode == "self_hosted" and members > 1:
            repl_gb = float(d.stored_gb_per_month) * (members - 1) * 2   # oplog + documents to each secondary
            self.charge("transfer", self.book.role("inter_zone").id, _d(repl_gb),
                        f"{repl_gb:.3f} GB replicated to {members - 1} secondaries in other zones (x2 for the oplog)",
                        rendered="k8s/mongodb.yaml#StatefulSet/mongodb-shard0", variable=True, per_region=False)

    def _deltas_per_message(self) -> float:
        from capplan.sim.build import mean_deltas

        llm = self.wl.llm
        return mean_deltas(llm.output_tokens, llm.token_rate.scaled(1.0 / llm.slowdown), llm.coalesce_window,
                           llm.tokens_per_chunk)

    def platform_pods(self, shards: int, mongo_mode: str) -> None:
        """Istio, the autoscaler, exporters, the provider's own Deployments and a sharded cluster's routers."""
        istio = plat.component("istio")
        ha = 2   # [assumption] two of each control-plane pod: a node drain never takes the ingress down
        istiod, gw = istio["istiod"], istio["ingress_gateway"]
        self.pods.append(self._platform_pod("istiod", "istio/istiod-values.yaml#pilot", istiod, ha,
                                            max(ha, int(istiod["replicas_max"])), namespace="istio-system"))
        gateways = max(ha, self.tier.mesh.gateways if self.tier.mesh is not None else ha)
        self.pods.append(self._platform_pod("librechat-gateway-istio", "k8s/gateway.yaml#Gateway/librechat-gateway", gw,
                                            gateways, max(gateways, int(gw["replicas_max"])), namespace="librechat",
                                            zone_spread=True).model_copy(update={"sidecar": False}))
        if plat.autoscaler_kind(self.provider) == "cluster_autoscaler":
            ca = plat.component("autoscaler", "cluster_autoscaler")
            self.pods.append(self._platform_pod("cluster-autoscaler", "k8s/cluster-autoscaler.yaml#Deployment/cluster-autoscaler",
                                                ca, 1, 1, namespace="kube-system"))
        exporters = plat.component("exporters")
        wanted = ["kube_state_metrics", "mongodb_exporter"] + (["redis_exporter"] if self.tier.redis.enabled else [])
        for key in wanted:
            spec = exporters[key]
            name = key.replace("_", "-")
            self.pods.append(self._platform_pod(name, f"k8s/exporters.yaml#Deployment/{name}", spec, 1, 1,
                                                namespace="monitoring" if key == "kube_state_metrics" else "librechat",
                                                image=str(spec.get("image", ""))))
        for pod in plat.system_pods(self.provider):
            self.pods.append(Pod(name=pod.name, kind="Deployment", rendered=f"{self.provider} managed: {pod.name}",
                                 replicas_min=pod.replicas, replicas_max=pod.replicas, cpu_request_m=pod.cpu_m,
                                 cpu_limit_m=pod.cpu_m, memory_request_mib=max(1, pod.memory_mib),
                                 memory_limit_mib=max(1, pod.memory_mib), namespace="kube-system"))
        if mongo_mode == "self_hosted" and shards > 1:
            sharding = plat.component("mongodb_sharding")
            cfg, mongos = sharding["config_servers"], sharding["mongos"]
            self.pods.append(Pod(name="mongodb-configsvr", kind="StatefulSet",
                                 rendered="k8s/mongodb.yaml#StatefulSet/mongodb-configsvr",
                                 replicas_min=int(cfg["count"]), replicas_max=int(cfg["count"]),
                                 cpu_request_m=int(cfg["cpu_millicores"]), cpu_limit_m=int(cfg["cpu_millicores"]),
                                 memory_request_mib=int(cfg["memory_mib"]), memory_limit_mib=int(cfg["memory_mib"]),
                                 disk_gib=int(cfg["disk_gib"]), zone_spread=True, one_per_node=True))
            self.pods.append(Pod(name="mongos", kind="Deployment", rendered="k8s/mongodb.yaml#Deployment/mongos",
                                 replicas_min=int(mongos["count"]), replicas_max=int(mongos["count"]),
                                 cpu_request_m=int(mongos["cpu_millicores"]), cpu_limit_m=int(mongos["cpu_millicores"]),
                                 memory_request_mib=int(mongos["memory_mib"]), memory_limit_mib=int(mongos["memory_mib"]),
                                 zone_spread=True, sidecar=self.mesh))

    def _platform_pod(self, name: str, rendered: str, spec: dict, low: int, high: int, *, namespace: str,
                      zone_spread: bool = False, image: str = "") -> Pod:
        req, lim = spec["requests"], spec.get("limits") or spec["requests"]
        sidecar = self.mesh and namespace == "librechat"
        return Pod(name=name, kind="Deployment", rendered=rendered, replicas_min=low, replicas_max=high,
                   cpu_request_m=int(req["cpu_millicores"]), cpu_limit_m=int(lim["cpu_millicores"]),
                   memory_request_mib=int(req["memory_mib"]), memory_limit_mib=int(lim["memory_mib"]),
                   zone_spread=zone_spread, sidecar=sidecar, namespace=namespace, image=image)

    def shapes(self, pods: list[Pod], sidecar: dict, at_max: bool) -> list[PodShape]:
        extra_cpu, extra_mem = int(sidecar["requests"]["cpu_millicores"]), int(sidecar["requests"]["memory_mib"])
        return [PodShape(p.name, p.replicas_max if at_max else p.replicas_min,
                         p.cpu_request_m + (extra_cpu if p.sidecar else 0),
                         p.memory_request_mib + (extra_mem if p.sidecar else 0), p.zone_spread, p.one_per_node)
                for p in pods]

    def choose_group(self, name: str, pods: list[Pod], zones: int, sidecar: dict) -> NodeGroup:
        """The instance type with the cheapest node count at the minimum replicas (ties: fewer nodes at the maximum)."""
        candidates = ([self.book.get(self.opts.app_instance)] if self.opts.app_instance
                      else [r for r in self.book.instances("instance") if not r.burstable])
        if self.opts.app_instance and candidates[0].category != "instance":
            what = f"a {candidates[0].category} row" if candidates[0].category else f"priced per {candidates[0].unit}"
            raise CapplanError(f"{self.opts.app_instance} is {what}, not an instance type (see the "
                               f"category: instance rows of pricing/{self.book.provider}.yaml)", field="--instance")
        best = None
        low, high = self.shapes(pods, sidecar, False), self.shapes(pods, sidecar, True)
        disk = self.book.role("node_disk")   # every node also pays for its root disk
        per_gb = disk.unit == "GB-month"
        disk_hourly = (disk.price * NODE_ROOT_DISK_GIB if per_gb else
                       disk.price * math.ceil(NODE_ROOT_DISK_GIB / float(disk.size_gb or NODE_ROOT_DISK_GIB))) / _HOURS
        for row in candidates:
            free = plat.schedulable(self.provider, row)
            if free.cpu_m <= 0 or free.memory_mib <= 0:
                continue
            try:
                n_min = nodes_needed(low, free, zones)
                n_max = nodes_needed(high, free, zones)
            except CapplanError:
                continue
            node = row.price + disk_hourly
            key = (node * n_min, node * n_max, row.id)
            if best is None or key < best[0]:
                best = (key, row, n_min, n_max, free)
        if best is None:
            # name a pod that does not fit (the largest such) and what the (largest) node leaves for it
            free, row = max(((plat.schedulable(self.provider, r), r) for r in candidates),
                            key=lambda fr: (fr[0].memory_mib, fr[0].cpu_m, fr[1].id))
            misfits = [s for s in high if s.count and (s.cpu_m > free.cpu_m or s.memory_mib > free.memory_mib)]
            shown = max(misfits or high, key=lambda s: (s.memory_mib, s.cpu_m, s.name))
            pod = f"a {shown.name} pod ({shown.cpu_m}m CPU, {shown.memory_mib} MiB)"
            leaves = f"{max(free.cpu_m, 0)}m CPU, {max(free.memory_mib, 0)} MiB"
            if self.opts.app_instance:
                raise CapplanError(f"{self.opts.app_instance} cannot hold {pod} beside the platform's DaemonSets "
                                   f"(it leaves {leaves})", field="--instance")
            raise CapplanError(f"no instance type in the {self.provider} price book fits {pod} with the platform's "
                               f"DaemonSets (the largest, {row.id}, leaves {leaves})", field="--instance")
        _, row, n_min, n_max, free = best
        return NodeGroup(name=name, instance_row=row.id, instance_type=plat.instance_type_name(self.provider, row.id),
                          nodes_min=n_min, nodes_max=n_max, disk_gib=NODE_ROOT_DISK_GIB, role="app",
                          rendered=f"{CLUSTER_FILE[self.provider]}#nodegroup/{name}", schedulable_cpu_m=free.cpu_m,
                          schedulable_memory_mib=free.memory_mib, pods_per_node=free.pods)

    def data_group(self, shards: int, members: int, zones: int) -> NodeGroup:
        """One node per MongoDB shard member (memory-optimised, the member takes the node)."""
        cores = self.tier.mongo.cores
        need_mem = cores * MONGO_GIB_PER_CORE * 1024
        rows = [r for r in self.book.instances("instance") if not r.burstable]
        chosen = None
        for row in rows:
            free = plat.schedulable(self.provider, row)
            # the member asks for what is left of the node after DaemonSets: at least the cores and memory sized
            if free.cpu_m >= cores * 1000 * 0.9 and free.memory_mib >= need_mem * 0.85:
                chosen = (row, free)
                break
        if chosen is None:
            raise CapplanError(f"no instance type in the {self.provider} price book holds a {cores}-core MongoDB "
                               "member", field="--mongodb")
        row, free = chosen
        count = shards * members
        cpu = int(free.cpu_m // 100 * 100)
        mem = int(free.memory_mib // 256 * 256)
        disk = int(math.ceil(DB_BASE_DISK_GIB + self.data_gib / shards))
        for shard in range(shards):
            name = f"mongodb-shard{shard}"
            self.pods.append(Pod(name=name, kind="StatefulSet", rendered=f"k8s/mongodb.yaml#StatefulSet/{name}",
                                 replicas_min=members, replicas_max=members, cpu_request_m=cpu, cpu_limit_m=cpu,
                                 memory_request_mib=mem, memory_limit_mib=mem, disk_gib=disk, node_group="data",
                                 zone_spread=True, one_per_node=True))
        nodes = max(count, zones) if count % zones == 0 else math.ceil(count / zones) * zones
        # GKE: the data pool is its own `gcloud container node-pools create`
        cluster_file = "cluster/gke-nodepool-data-flags.yaml" if self.provider == "gcp" else CLUSTER_FILE[self.provider]
        group = NodeGroup(name="data", instance_row=row.id, instance_type=plat.instance_type_name(self.provider, row.id),
                          nodes_min=nodes, nodes_max=nodes, disk_gib=NODE_ROOT_DISK_GIB, role="data",
                          rendered=f"{cluster_file}#nodegroup/data", schedulable_cpu_m=free.cpu_m,
                          schedulable_memory_mib=free.memory_mib, pods_per_node=free.pods)
        self.groups.append(group)
        self.charge("mongodb", row.id, nodes, f"{nodes} data nodes ({shards} shard(s) x {members} members, "
                    "one per node)", rendered=f"{cluster_file}#nodegroup/data")
        return group

    def observability(self) -> None:
        series = metrics_series(self.pods)
        samples_m = series * (730 * 3600 / SCRAPE_INTERVAL_S) / 1e6
        self.charge("observability", self.book.role("metrics").id, _d(samples_m),
                    f"{series:,} series x a sample every {SCRAPE_INTERVAL_S} s = {samples_m:,.1f} M samples",
                    managed="managed Prometheus (metrics storage; rules from prometheus/alerts.yml)", variable=True)
        requests = self.demand.messages_per_month * (1 + self.wl.api_reads_per_message)
        log_gb = requests * LOG_BYTES_PER_REQUEST / 1e9
        self.charge("observability", self.book.role("logs").id, _d(log_gb),
                    f"{requests:,} access-log lines x {LOG_BYTES_PER_REQUEST} B", managed="managed log ingest",
                    variable=True, per_region=False)

    # --- compose --------------------------------------------------------------------------------------
    def compose_deployment(self, mongo_mode: str, redis_mode: str, shards: int, members: int) -> None:
        t = self.tier
        if shards > 1 and mongo_mode == "self_hosted":
            raise CapplanError(f"tier {t.name}: compose runs one MongoDB replica set, the tier has {shards} shards; "
                               "use --mongodb managed", field="--mongodb")
        host = "compose/docker-compose.yml"
        self.pods.append(Pod(name="nginx", kind="service", rendered=f"{host}#services/nginx", replicas_min=1,
                             replicas_max=1, cpu_request_m=250, cpu_limit_m=1000, memory_request_mib=256,
                             memory_limit_mib=256))   # [assumption] nginx proxying SSE: small and I/O bound
        disks: list[tuple[str, int]] = []
        if mongo_mode == "self_hosted":
            cores = t.mongo.cores
            mem = cores * COMPOSE_MONGO_GIB_PER_CORE * 1024
            disk = int(math.ceil(DB_BASE_DISK_GIB + self.data_gib))
            for i in range(members):
                # the host reserves what each member uses at the forecast (usage / 70%), at most its cores
                util = self.f.utilization.get("mongo.primary" if i == 0 else "mongo.secondary")
                used = (util.mean if util is not None else 1.0) * cores
                request = min(cores * 1000, max(250, int(math.ceil(used / CPU_TARGET * 10.0)) * 100))
                self.pods.append(Pod(name=f"mongodb-{i}", kind="service", rendered=f"{host}#services/mongodb-{i}",
                                     replicas_min=1, replicas_max=1, cpu_request_m=request,
                                     cpu_limit_m=cores * 1000, memory_request_mib=mem, memory_limit_mib=mem,
                                     disk_gib=disk))
                disks.append((f"mongo_data_{i}", disk))
        if redis_mode == "self_hosted":
            self.pods.append(Pod(name="redis", kind="service", rendered=f"{host}#services/redis", replicas_min=1,
                                 replicas_max=1, cpu_request_m=1000, cpu_limit_m=1000, memory_request_mib=1280,
                                 memory_limit_mib=1280, disk_gib=10))   # 1 GiB maxmemory + 25% for AOF rewrites
            disks.append(("redis_data", 10))
        if redis_mode != "none" and t.queue_enabled:
            self.pods.append(Pod(name="bull-board", kind="service", rendered=f"{host}#services/bull-board",
                                 replicas_min=1, replicas_max=1, cpu_request_m=100, cpu_limit_m=250,
                                 memory_request_mib=128, memory_limit_mib=128))
        search = next((p for p in self.pods if p.name == "librechat-meilisearch"), None)
        if search is not None:
            disks.append(("meili_data", search.disk_gib))
        cpu_m = sum(p.cpu_request_m * p.replicas_min for p in self.pods)
        mem = sum(p.memory_limit_mib * p.replicas_min for p in self.pods) + HOST_OS_MEMORY_MIB
        if self.opts.app_instance:
            row = self.book.get(self.opts.app_instance)
            if (row.vcpu or 0) * 1000 < cpu_m or float(row.memory_gib or 0) * 1024 < mem:
                raise CapplanError(f"{row.id} has {row.vcpu} vCPU / {row.memory_gib} GiB; the compose host needs "
                                   f"{cpu_m / 1000:g} vCPU / {mem / 1024:.1f} GiB", field="--instance")
        else:
            rows = [r for r in self.book.instances("instance") if not r.burstable
                    and float(r.vcpu or 0) * 1000 >= cpu_m and float(r.memory_gib or 0) * 1024 >= mem]
            if not rows:
                raise CapplanError(f"no instance type in the {self.provider} price book holds the compose host "
                                   f"({cpu_m / 1000:g} vCPU, {mem / 1024:.1f} GiB)", field="--instance")
            row = rows[0]
        self.groups.append(NodeGroup(name="host", instance_row=row.id, instance_type=plat.instance_type_name(self.provider, row.id),
                                     nodes_min=1, nodes_max=1, disk_gib=HOST_ROOT_DISK_GIB, role="host",
                                     rendered=f"{host}#host", schedulable_cpu_m=int(float(row.vcpu or 0) * 1000),
                                     schedulable_memory_mib=int(float(row.memory_gib or 0) * 1024 - HOST_OS_MEMORY_MIB),
                                     pods_per_node=len(self.pods)))
        self.charge("host", row.id, 1, f"1 Docker host ({cpu_m / 1000:g} vCPU reserved, "
                    f"{mem / 1024:.1f} GiB in limits incl. the OS)", rendered=f"{host}#host")
        self.disk("host_disks", HOST_ROOT_DISK_GIB, 1, f"{host}#host", role="node_disk")
        for volume, gib in disks:
            self.disk("host_disks", gib, 1, f"{host}#volumes/{volume}")
        self.charge("public_ip", self.book.role("public_ip").id, 1, "1 public IPv4 (nginx on 443)",
                    rendered=f"{host}#services/nginx")

    def _allowance(self, role: str, gb: Decimal) -> Decimal:
        """GB of ``gb`` a free-allowance row covers (its max_quantity, converted from GiB if it is priced so)."""
        row_id = self.book.roles.get(role)
        if row_id is None:
            return Decimal(0)
        row = self.book.get(row_id)
        if row.max_quantity is None:
            return gb
        limit = row.max_quantity * (Decimal(2**30) / Decimal(10**9) if row.unit == "GiB" else 1)
        return min(gb, limit.quantize(Decimal("0.001"), rounding="ROUND_FLOOR"))   # never past the allowance

    def _free_then_paid(self, component: str, free_role: str, paid_role: str, gb: Decimal, free_what: str,
                        paid_what: str, *, rendered: str | None = None, managed: str | None = None) -> None:
        """A free allowance as its own $0 line (when the book has one), then the paid rest."""
        allowance = self._allowance(free_role, gb)
        if allowance:
            self.charge(component, self.book.roles[free_role], allowance, f"first {allowance} GB free",
                        managed=free_what, variable=True, per_region=False)
        rest = gb - allowance
        self.charge(component, self.book.role(paid_role).id, rest, f"{rest} GB {paid_what}", rendered=rendered,
                    managed=managed, variable=True, per_region=False)

    # --- lines every deployment has -------------------------------------------------------------------
    def shared_charges(self) -> None:
        d, t = self.demand, self.tier
        where = "k8s/gateway.yaml#Gateway/librechat-gateway" if self.kubernetes else "compose/docker-compose.yml#services/nginx"
        self._free_then_paid("egress", "egress_free", "egress", d.egress_gb, "internet egress allowance",
                             "to users (SSE streams, API replies" + (")" if t.cdn is not None else ", page loads)"),
                             rendered=where)
        if d.cdn_gb:
            self._free_then_paid("cdn", "cdn_free", "cdn", d.cdn_gb, "CDN free allowance",
                                 "of page bundles from the CDN", managed="CDN (in front of the load balancer)")
        backup = Decimal(math.ceil(self.data_gib))
        if backup:
            self.charge("backups", self.book.role("object_storage").id, backup,
                        f"{backup} GB: a year of messages (daily mongodump, kept as the latest full copy)",
                        managed="object storage bucket for backups", variable=True, per_region=False)
        if t.waf:
            requests_m = Decimal(d.messages_per_month * (1 + self.wl.api_reads_per_message)) / Decimal(1_000_000)
            self.charge("waf", self.book.role("waf").id, 1, "1 policy x 1 month", managed="WAF at the edge")
            self.charge("waf", self.book.role("waf_rule").id, WAF_RULES, f"{WAF_RULES} rules x 1 month",
                        managed="WAF at the edge")
            self.charge("waf", self.book.role("waf_requests").id, requests_m.quantize(Decimal("0.001")),
                        f"{requests_m:.3f} M requests inspected", managed="WAF at the edge", variable=True,
                        per_region=False)
        if self.regions > 1:
            gb = d.stored_gb_per_month * (self.regions - 1)
            self.charge("transfer", self.book.role("inter_region").id, gb,
                        f"{gb} GB of new messages replicated to {self.regions - 1} other regions",
                        managed="traffic between regions (global database replication)", variable=True,
                        per_region=False)


def build_deployment(tier: Tier, forecast: TierForecast, workload: Workload, book: PriceBook,
                     options: DeployOptions = DeployOptions()) -> Deployment:
    """The deployment of ``tier`` (already sized) on ``book``'s provider."""
    return _Builder(tier, forecast, workload, book, options).build()
