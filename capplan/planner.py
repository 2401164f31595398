"""Size every tier to the smallest that meets the SLO under the utilization ceiling, then price and rank.

1. Start each tier at its smallest sizing (one replica per service, or two with --require-ha).
2. Screen analytically (capplan.screen): while any resource's offered utilization is above its
   ceiling, grow the knob behind it (replicas, queue workers, database cores or shards, Redis
   nodes, pool size). Each rejected candidate is a simulation saved.
3. Confirm by simulation: the upper end of the simulated p95 API latency's 95% interval must be
   within the SLO (and p95 time to first token when asked), the system not saturated and the
   rejection share within the SLO's error budget. Otherwise grow the simulated bottleneck and try
   again (a few rounds, all tiers in one parallel batch per round).
4. Price each confirmed sizing on each provider (capplan.cost) and rank by monthly cost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from capplan.errors import CapplanError
from capplan.floor import Floor, floor_bounds, latency_floors
from capplan.limits import MAX_REPLICAS, MAX_SERVERS, check_users
from capplan.forecast import RunSettings, TierForecast, forecast_points
from capplan.model.tier import Tier
from capplan.sim.build import build_network
from capplan.model.workload import Workload
from capplan.screen import screen

CPU_CEILING = 0.70       # [seed] HPA averageUtilization 70 (CPU)
MEMORY_CEILING = 0.80    # [seed] HPA averageUtilization 80 (memory)
OTHER_CEILING = 0.70     # [assumption] same headroom for databases, Redis, pools and queue workers
MAX_SCREEN_STEPS = 200
MAX_SIM_ROUNDS = 5
MAX_GROWTH = 4.0         # a knob grows at most 4x per simulation round (the next round measures again)
MEMORY_STEP_MIB = 512
MIN_MEMORY_MIB = 1024    # [librechat] maintainers: 1 GB minimum per instance


@dataclass(frozen=True)
class SLO:
    p95_s: float = 2.0                   # [seed] alert "p95(response_time) > 2s"
    ttft_p95_s: float | None = None
    max_error_rate: float = 0.01         # [seed] alert "error_rate > 1%"

    def __post_init__(self):
        if not self.p95_s > 0:
            raise CapplanError(f"must be positive, got {self.p95_s:g} s", field="--slo-p95")
        if self.ttft_p95_s is not None and not self.ttft_p95_s > 0:
            raise CapplanError(f"must be positive, got {self.ttft_p95_s:g} s", field="--slo-ttft-p95")
        if not 0 <= self.max_error_rate < 1:  # NaN fails this too
            raise CapplanError(f"must be a share in [0, 1), got {self.max_error_rate:g}", field="--max-error-rate")


@dataclass(frozen=True)
class Sizing:
    replicas: tuple[tuple[str, int], ...]
    memory_mib: tuple[tuple[str, float], ...]
    queue_workers: int | None
    mongo_cores: int
    mongo_shards: int
    pool_per_process: int
    redis_nodes: int
    proxy_connections: int
    event_consumers: int | None = None


    def replicas_of(self, service: str) -> int:
        return dict(self.replicas)[service]

    def memory_of(self, service: str) -> float:
        return dict(self.memory_mib)[service]

    def as_dict(self) -> dict:
        return {"replicas": dict(self.replicas), "memory_limit_mib": dict(self.memory_mib),
                "queue_workers": self.queue_workers, "mongo_cores_per_node": self.mongo_cores,
                "mongo_shards": self.mongo_shards, "mongo_pool_per_process": self.pool_per_process,
                "redis_nodes": self.redis_nodes, "proxy_max_connections": self.proxy_connections,
                "event_consumers": self.event_consumers}


def initial_sizing(tier: Tier, require_ha: bool) -> Sizing:
    floor = 2 if require_ha else 1
    replicas = tuple((s.name, s.replicas if tier.single_instance else floor) for s in tier.services)
    return Sizing(
        replicas=replicas,
        memory_mib=tuple((s.name, max(float(MIN_MEMORY_MIB), 0.0) if not tier.single_instance else s.memory)
                         for s in tier.services),
        queue_workers=10 if tier.queue_enabled else None,
        mongo_cores=2,
        mongo_shards=1 if not tier.single_instance else tier.mongo.shards,
        pool_per_process=10,
        redis_nodes=1,
        proxy_connections=tier.proxy.max_connections,
        event_consumers=tier.event_bus.consumers if tier.event_bus is not None else None,
    )


def apply_sizing(tier: Tier, sizing: Sizing) -> Tier:
    data = tier.model_dump()
    for svc in data["services"]:
        svc["replicas"] = sizing.replicas_of(svc["name"])
        svc["memory"] = sizing.memory_of(svc["name"])
    if data["queue"] is not None and sizing.queue_workers is not None:
        data["queue"]["workers"] = sizing.queue_workers
    if data["event_bus"] is not None and sizing.event_consumers is not None:
        # one consumer per partition at most does work: grow both together
        data["event_bus"]["consumers"] = sizing.event_consumers
        data["event_bus"]["partitions"] = max(data["event_bus"]["partitions"], sizing.event_consumers)
    data["mongo"]["cores"] = sizing.mongo_cores
    data["mongo"]["shards"] = sizing.mongo_shards
    data["mongo"]["pool_per_process"] = sizing.pool_per_process
    if data["redis"]["enabled"]:
        data["redis"]["nodes"] = sizing.redis_nodes
    data["proxy"]["max_connections"] = sizing.proxy_connections
    return Tier.model_validate(data)


def ceiling(resource: str) -> float:
    if resource.endswith(".cpu"):
        return CPU_CEILING
    if resource.startswith("memory:"):
        return MEMORY_CEILING
    return OTHER_CEILING


class _CannotGrow(Exception):
    pass


def grow(tier: Tier, sizing: Sizing, resource: str, utilization: float) -> Sizing:
    """The next larger sizing for the knob behind ``resource``; _CannotGrow when there is none."""
    factor = max(utilization / ceiling(resource), 1.0)
    if resource.endswith(".cpu") and resource[:-4] in dict(sizing.replicas):
        svc = resource[:-4]
        if tier.single_instance:
            raise _CannotGrow(f"{resource}: one Node process is the whole architecture")
        current = sizing.replicas_of(svc)
        new = max(current + 1, math.ceil(current * min(factor, MAX_GROWTH)))
        if new > MAX_REPLICAS:
            if current >= MAX_REPLICAS:
                raise _CannotGrow(f"{resource}: more than {MAX_REPLICAS:,} replicas (capplan's limit)")
            new = MAX_REPLICAS
        return replace(sizing, replicas=tuple((n, new if n == svc else r) for n, r in sizing.replicas))
    if resource.startswith("memory:"):
        svc = resource.split(":", 1)[1]
        new = sizing.memory_of(svc) + MEMORY_STEP_MIB
        if new > 16384:
            raise _CannotGrow(f"{resource}: more than 16 GiB per process")
        return replace(sizing, memory_mib=tuple((n, new if n == svc else m) for n, m in sizing.memory_mib))
    if resource == "queue.workers" and sizing.queue_workers is not None:
        return replace(sizing, queue_workers=_capped(resource, sizing.queue_workers, factor, 1, MAX_SERVERS))
    if resource in ("mongo.primary", "mongo.secondary"):
        if sizing.mongo_cores < 16:
            return replace(sizing, mongo_cores=sizing.mongo_cores * 2)
        if tier.single_instance or tier.mongo.shards == 1:
            raise _CannotGrow(f"{resource}: 16 cores per node and the tier is not sharded")
        return replace(sizing, mongo_shards=sizing.mongo_shards + 1)
    if resource == "redis":
        if sizing.redis_nodes >= 16:
            raise _CannotGrow("redis: 16 primaries")
        return replace(sizing, redis_nodes=max(sizing.redis_nodes + 1, math.ceil(sizing.redis_nodes * factor)))
    if resource.endswith(".db_pool"):
        return replace(sizing, pool_per_process=_capped(resource, sizing.pool_per_process, factor, 5, MAX_SERVERS))
    if resource == "proxy.connections":
        return replace(sizing, proxy_connections=_capped(resource, sizing.proxy_connections, max(factor, 2.0), 1,
                                                         MAX_SERVERS))
    if resource == "kafka.consumers" and sizing.event_consumers is not None:
        return replace(sizing, event_consumers=_capped(resource, sizing.event_consumers, factor, 1, MAX_REPLICAS))
    if resource.startswith("llm."):
        raise _CannotGrow(f"{resource}: the LLM provider account's limit, not the architecture's "
                          "(set llm.limits in the workload to your account's)")
    if resource.startswith("rate limit"):
        raise _CannotGrow(f"{resource}: a rate limit the workload sets (rate_limits), not a knob capplan sizes")
    raise _CannotGrow(f"{resource}: not a knob capplan sizes")


def _capped(resource: str, current: int, factor: float, step: int, limit: int) -> int:
    """current grown by ``factor`` (at least ``step``, at most MAX_GROWTH x), never past ``limit``."""
    if current >= limit:
        raise _CannotGrow(f"{resource}: already at {limit:,}, capplan's limit")
    return min(limit, max(current + step, math.ceil(current * min(factor, MAX_GROWTH))))


@dataclass
class PlannedTier:
    tier: Tier                       # the bundled architecture
    sized: Tier                      # the same architecture with the chosen counts
    sizing: Sizing
    forecast: TierForecast | None
    feasible: bool
    reason: str                      # why it meets the SLO, or why it cannot
    screen_rejections: int = 0       # candidate sizings the analytic screen turned down (sims saved)
    simulations: int = 0
    history: list[str] = field(default_factory=list)
    floor: Floor | None = None       # zero-load latency floor (simulated when the SLO may be below it)


def _screen_size(tier: Tier, workload: Workload, users: int, sizing: Sizing) -> tuple[Sizing, int, str | None]:
    rejected = 0
    for _ in range(MAX_SCREEN_STEPS):
        scr = screen(build_network(apply_sizing(tier, sizing), workload, users))
        over = sorted(((u / ceiling(r), r, u) for r, u in scr.offered.items() if u > ceiling(r)), reverse=True)
        if not over:
            return sizing, rejected, None
        rejected += 1
        _, resource, util = over[0]
        try:
            sizing = grow(tier, sizing, resource, util)
        except _CannotGrow as exc:
            return sizing, rejected, f"analytic screen: {exc} ({util:.0%} offered)"
    return sizing, rejected, "analytic screen: no sizing found within the step limit"


def meets_slo(f: TierForecast, slo: SLO) -> tuple[bool, str]:
    """The SLO check on a simulated forecast (upper ends of 95% intervals; failures count)."""
    if f.unstable:
        return False, f"unstable at {f.bottleneck}: the load exceeds what it can carry"
    if f.api_latency.p95.high > slo.p95_s:
        return False, f"p95 API latency up to {f.api_latency.p95.high:.3g} s > SLO {slo.p95_s:g} s"
    if slo.ttft_p95_s is not None and f.ttft.p95.high > slo.ttft_p95_s:
        return False, f"p95 time to first token up to {f.ttft.p95.high:.3g} s > SLO {slo.ttft_p95_s:g} s"
    if f.error_share > slo.max_error_rate:
        return False, f"{f.error_share:.1%} of requests failed (refused or cut) > {slo.max_error_rate:.1%}"
    if f.saturated:
        return False, f"saturated at {f.bottleneck}"
    return True, (f"p95 API latency {f.api_latency.p95.mean:.3g} s (95% CI up to {f.api_latency.p95.high:.3g} s) "
                  f"within {slo.p95_s:g} s")


def size_tiers(tiers: list[Tier], workload: Workload, users: int, slo: SLO, require_ha: bool = False,
               settings: RunSettings = RunSettings(replications=4), on_progress=None) -> list[PlannedTier]:
    """Smallest SLO-meeting sizing per tier: analytic screen first, then confirmation by simulation."""
    check_users(users)
    return size_points([(t, workload, users) for t in tiers], slo, require_ha, settings, on_progress)


def size_points(points: list[tuple[Tier, Workload, int]], slo: SLO, require_ha: bool = False,
                settings: RunSettings = RunSettings(replications=4), on_progress=None,
                executor=None) -> list[PlannedTier]:
    """:func:`size_tiers` for several (tier, workload, users) points at once: each round's
    simulations of every point still growing run as one batch (on ``executor`` when given)."""
    plans: list[PlannedTier] = []
    where: dict[int, tuple[Workload, int]] = {}
    for tier, workload, users in points:
        check_users(users)
        if require_ha and tier.single_instance:
            plan = PlannedTier(tier, tier, initial_sizing(tier, False), None, False,
                               "not highly available: one process and one database by design")
        else:
            sizing, rejected, problem = _screen_size(tier, workload, users, initial_sizing(tier, require_ha))
            plan = PlannedTier(tier, apply_sizing(tier, sizing), sizing, None, problem is None, problem or "",
                               screen_rejections=rejected)
        plans.append(plan)
        where[id(plan)] = (workload, users)
    pending = [p for p in plans if p.feasible]
    # an SLO below a tier's zero-load floor has its answer before any sizing is simulated (the floor
    # is simulated only where a cheap bound cannot rule it out)
    binding = [p for p in pending if _floor_may_bind(p, *where[id(p)], slo)]
    groups: dict[tuple[int, int], list[PlannedTier]] = {}
    for p in binding:      # one batch per (workload, users): latency_floors takes one of each
        w, u = where[id(p)]
        groups.setdefault((id(w), u), []).append(p)
    for group in groups.values():
        _check_floors(group, *where[id(group[0])], settings)
    for plan in pending:
        if plan.floor is not None and (below := _below_floor(plan.floor, slo)):
            plan.feasible, plan.reason = False, below
    pending = [p for p in pending if p.feasible]
    # the deployment the planner sizes is the one `capplan render` writes: its proxy and load
    # balancer timeouts sit above the longest stream, so only fixed timers can cut a stream
    settings = replace(settings, configured_timers=True)
    for _ in range(MAX_SIM_ROUNDS):
        if not pending:
            break
        forecasts = forecast_points([(p.sized, *where[id(p)]) for p in pending], settings, on_done=on_progress,
                                    executor=executor)
        still = []
        for plan, f in zip(pending, forecasts):
            plan.simulations += 1
            plan.forecast = f
            ok, why = meets_slo(f, slo)
            plan.history.append(why)
            if ok:
                plan.sizing = _memory_from_peak(plan.sizing, f)
                plan.sized = apply_sizing(plan.tier, plan.sizing)
                plan.reason = why
                continue
            resource = f.bottleneck
            util = f.utilization[resource].mean if resource in f.utilization else 1.0
            # Grow at least 25%, more the further the p95 is from the SLO (queueing delay falls
            # roughly with the square of the added headroom near saturation).
            miss = min(MAX_GROWTH, max(1.25, (f.api_latency.p95.high / slo.p95_s) ** 2))
            try:
                plan.sizing = grow(plan.tier, plan.sizing, resource, max(util, ceiling(resource) * miss))
            except _CannotGrow as exc:
                plan.feasible, plan.reason = False, f"simulation: {why}; {exc}"
                continue
            plan.sized = apply_sizing(plan.tier, plan.sizing)
            still.append(plan)
        pending = still
    for plan in pending:
        plan.feasible = False
        plan.reason = f"simulation: SLO still missed after {MAX_SIM_ROUNDS} rounds ({plan.history[-1]})"
    return plans


def _check_floors(plans: list[PlannedTier], workload: Workload, users: int, settings: RunSettings) -> None:
    """The zero-load latency floor of each plan (one parallel batch): an SLO below it has its answer
    now, however many replicas one would add."""
    if not plans:
        return
    floors = latency_floors([p.sized for p in plans], workload, users, seed=settings.seed, workers=settings.workers)
    for plan, floor in zip(plans, floors):
        plan.floor = floor


def _floor_may_bind(plan: PlannedTier, workload: Workload, users: int, slo: SLO) -> bool:
    """False when the SLO is at or above a rigorous upper bound on the tier's floor (floor_bounds)."""
    api, ttft = floor_bounds(build_network(plan.sized, workload, users))
    if api is None or slo.p95_s < api:
        return True
    return slo.ttft_p95_s is not None and (ttft is None or slo.ttft_p95_s < ttft)


def _below_floor(floor: Floor, slo: SLO) -> str:
    """Why the SLO is out of reach at any size ("" when it is not below the floor's 95% interval)."""
    for metric, target, est in (("p95 API latency", slo.p95_s, floor.api_p95),
                                ("p95 time to first token", slo.ttft_p95_s, floor.ttft_p95)):
        if target is not None and target < est.low:
            return (f"unreachable: {metric} {target:g} s is below this tier's zero-load floor of {est.mean:.3g} s "
                    f"(95% CI {est.low:.3g}-{est.high:.3g} s, nothing waiting); no sizing goes below it")
    return ""


def _memory_from_peak(sizing: Sizing, f: TierForecast) -> Sizing:
    """Memory limit per replica: simulated peak per process / 80%, in 512 MiB steps, at least 1 GiB."""
    memory = []
    for name, current in sizing.memory_mib:
        peak = f.peak_memory_mib_per_replica.get(name)
        if peak is None:
            memory.append((name, current))
            continue
        need = math.ceil(peak / MEMORY_CEILING / MEMORY_STEP_MIB) * MEMORY_STEP_MIB
        memory.append((name, float(max(MIN_MEMORY_MIB, need))))
    return replace(sizing, memory_mib=tuple(memory))


# -- pricing and ranking ---------------------------------------------------------------------------

# [seed] "Cost Analysis" table: (scale, users low, users high, {provider: (low, high or None)})
SEED_COST_BANDS = (
    ("Small", 100, 500, {"aws": (200, 400), "gcp": (180, 350), "azure": (220, 420)}),
    ("Medium", 500, 2000, {"aws": (800, 1500), "gcp": (750, 1400), "azure": (850, 1600)}),
    ("Large", 2000, 5000, {"aws": (2500, 4000), "gcp": (2300, 3800), "azure": (2700, 4200)}),
    ("Enterprise", 5000, None, {"aws": (5000, None), "gcp": (4500, None), "azure": (5500, None)}),
)


def seed_band(users: int, provider: str) -> tuple[str, int, int | None] | None:
    """The seed's claimed monthly range for ``users`` on ``provider`` (None below 100 users)."""
    for scale, lo, hi, prices in SEED_COST_BANDS:
        if users >= lo and (hi is None or users <= hi):
            low, high = prices[provider]
            return scale, low, high
    return None


@dataclass
class Option:
    plan: PlannedTier
    provider: str
    deployment: object                   # capplan.deploy.Deployment: what is billed and rendered
    bill: object
    choices: dict
    purchase_options: list = field(default_factory=list)   # the same deployment under every purchase option

    @property
    def monthly_usd(self):
        return self.bill.infrastructure_usd

    @property
    def app_nodes(self) -> str:
        """``3 x m6i.large`` (Kubernetes app node group at the minimum) or ``1 x m6i.2xlarge host`` (compose)."""
        return ", ".join(f"{g.nodes_min} x {g.instance_type}" + (" host" if g.role == "host" else
                                                                  f" ({g.name})" if g.role == "data" else "")
                         for g in self.deployment.node_groups)

    @property
    def deploy(self) -> dict:
        """Every number `capplan render` needs: the deployment, and the stream timings from the forecast."""
        return deploy_block(self)


@dataclass
class Recommendation:
    users: int
    slo: SLO
    require_ha: bool
    providers: list[str]
    plans: list[PlannedTier]
    options: list[Option]               # every priced (tier, provider), cheapest first
    screen_rejections: int
    simulations: int

    @property
    def winner(self) -> Option | None:
        return self.options[0] if self.options else None

    def runner_up(self, provider: str) -> Option | None:
        """The second-cheapest option on ``provider`` (the best one that is not the provider's first)."""
        mine = [o for o in self.options if o.provider == provider]
        return mine[1] if len(mine) > 1 else None

    def best_on(self, provider: str) -> Option | None:
        return next((o for o in self.options if o.provider == provider), None)


SURVIVE = ("node", "zone")


def survive_replicas(needed: int, loss: str, zones: int, nodes_for=None) -> int:
    """The fewest API pods that leave ``needed`` serving after losing a zone (the zone spread puts
    ceil(R / zones) in the busiest one) or a node (ceil(R / nodes) on the busiest node of the
    nodes R pods take, ``nodes_for(R)``: the hostname spread is soft, so this is the scheduler's
    usual placement, not its worst)."""
    if loss not in SURVIVE:
        raise CapplanError(f"must be node or zone, got {loss!r}", field="--survive")
    r = needed
    while True:
        per = math.ceil(r / zones) if loss == "zone" else math.ceil(r / max(1, nodes_for(r)))
        if r - per >= needed:
            return r
        r += 1
        if r > MAX_REPLICAS:
            raise CapplanError(f"no replica count up to {MAX_REPLICAS} leaves {needed} after losing a {loss}",
                               field="--survive")


def _surviving(plan: PlannedTier, loss: str, deployment, build) -> tuple[PlannedTier, object]:
    """The plan grown so that its API pods left after the loss still carry the peak its forecast
    was made for (the forecast at the plain sizing is the state after the loss), and its deployment."""
    from capplan.deploy.build import KUBERNETES_ZONES

    svc = plan.sized.service_for("stream")
    needed = svc.replicas

    def nodes_for(r: int) -> int:
        return next(g for g in build(_with_replicas(plan, svc.name, r)[0]).node_groups if g.role == "app").nodes_min

    r = survive_replicas(needed, loss, deployment.zones or KUBERNETES_ZONES, nodes_for)
    if r == needed:
        return plan, deployment
    sized, sizing = _with_replicas(plan, svc.name, r)
    grown = replace(plan, sized=sized, sizing=sizing,
                    reason=f"{plan.reason}; survives a {loss}: {r} API pods, {r - needed} more than the peak needs "
                           f"(a {loss} takes up to {r - needed} of them)")
    return grown, build(sized)


def _with_replicas(plan: PlannedTier, service: str, r: int) -> tuple[Tier, Sizing]:
    sizing = replace(plan.sizing, replicas=tuple((n, r if n == service else k) for n, k in plan.sizing.replicas))
    return apply_sizing(plan.tier, sizing), sizing


def recommend(tiers: list[Tier], workload: Workload, users: int, providers: list[str], slo: SLO,
              require_ha: bool = False, settings: RunSettings = RunSettings(replications=4),
              today=None, on_progress=None, books: dict | None = None, options=None,
              survive: str | None = None) -> Recommendation:
    """``books``: provider -> PriceBook (default: the bundled books); ``options``: DeployOptions;
    ``survive``: node or zone: every option keeps its SLO with that lost (N+1), and says what it costs."""
    from capplan.cost.bill import bill_deployment
    from capplan.cost.purchase import compare_purchase_options
    from capplan.cost.prices import load_llm_prices, load_price_book
    from capplan.deploy import DeployOptions, build_deployment

    books = {p: (books or {}).get(p) or load_price_book(p) for p in providers}   # fails before any simulation
    base = options or DeployOptions()
    llm = load_llm_prices()
    llm.get(workload.traffic.llm_model)
    plans = size_tiers(tiers, workload, users, slo, require_ha, settings, on_progress)
    options = []
    for plan in plans:
        if not plan.feasible:
            continue
        for provider, book in books.items():
            opts = replace(base, require_ha=require_ha)
            try:
                deployment = build_deployment(plan.sized, plan.forecast, workload, book, opts)
            except CapplanError as exc:
                # e.g. a compose tier asked to be highly available, or no instance type holds a pod
                plan.history.append(f"{provider}: {exc}")
                continue
            choices = {"region": book.region, "slo_p95_s": slo.p95_s}
            bill = bill_deployment(deployment, book, llm, today=today)
            option_plan = plan
            if survive is not None:
                if deployment.platform != "kubernetes":
                    plan.history.append(f"{provider}: cannot survive a {survive}: one host runs everything")
                    continue
                plain = bill.infrastructure_usd
                option_plan, deployment = _surviving(
                    plan, survive, deployment,
                    lambda sized, book=book, opts=opts: build_deployment(sized, plan.forecast, workload, book, opts))
                bill = bill_deployment(deployment, book, llm, today=today)
                choices["survive"] = {"loss": survive, "api_replicas": option_plan.sized.service_for("stream").replicas,
                                      "peak_needs": plan.sized.service_for("stream").replicas,
                                      "extra_monthly_usd": str(bill.infrastructure_usd - plain)}
            purchases = compare_purchase_options(deployment, book, llm, today=today)
            options.append(Option(option_plan, provider, deployment, bill, choices, purchases))
    order = {t.name: i for i, t in enumerate(tiers)}
    options.sort(key=lambda o: (o.bill.infrastructure_usd, order[o.plan.tier.name], o.provider))
    return Recommendation(users=users, slo=slo, require_ha=require_ha, providers=providers, plans=plans,
                          options=options, screen_rejections=sum(p.screen_rejections for p in plans),
                          simulations=sum(p.simulations for p in plans))


PROXY_TIMEOUT_MARGIN = 1.5  # proxy read timeout = longest simulated stream x 1.5, rounded up to a minute


def deploy_block(option: Option) -> dict:
    """The saved plan's ``deploy`` block: the deployment itself plus the stream timings `render` needs."""
    return deploy_block_for(option.deployment, option.plan.forecast, option.plan.sizing.pool_per_process,
                            option.plan.sizing.queue_workers or 0, option.choices.get("slo_p95_s"))


def deploy_block_for(deployment, forecast: TierForecast, pool_per_process: int, queue_workers: int,
                     slo_p95_s: float | None) -> dict:
    longest = max(forecast.longest_stream_s, forecast.longest_stream_p99_s)
    proxy_timeout = int(math.ceil(longest * PROXY_TIMEOUT_MARGIN / 60.0) * 60)
    return {
        "deployment": deployment.model_dump(mode="json"),
        "mongo_max_pool_size": pool_per_process, "queue_workers": queue_workers,
        "longest_stream_s": round(longest, 1), "proxy_read_timeout_s": proxy_timeout,
        # the LB must not cut a stream either: its idle timeout goes above the longest stream too
        "lb_idle_timeout_s": proxy_timeout,
        "p95_latency_slo_s": slo_p95_s,
    }
