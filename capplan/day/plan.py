"""``capplan day``: size the tier for its peak, render its autoscaling, run the profile through it.

1. The planner sizes the tier for the workload's peak hour at ``users`` (as ``capplan cost``): the
   fixed-peak deployment and its bill.
2. The same sizing with the API's HPA minimum lowered to ``min_replicas`` (the same node type):
   the deployment ``capplan render --min-replicas`` writes. Its HorizontalPodAutoscaler (minimum,
   maximum, CPU target, scale-up and scale-down behaviour) is read back from the render context,
   so the simulated controller is the rendered one; the app node group's packing gives the nodes
   each pod count needs.
3. The profile runs through it (:func:`capplan.day.run.simulate_day`), and the node-hours become the
   autoscaled month next to the fixed one (:mod:`capplan.day.bill`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from capplan.day.bill import DayCost, compare
from capplan.day.cluster import Timings
from capplan.day.hpa import HPASpec
from capplan.day.run import DayResult, simulate_day
from capplan.errors import CapplanError
from capplan.forecast import RunSettings
from capplan.model.profile import Profile
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.planner import SLO


@dataclass(frozen=True)
class DayPlan:
    result: DayResult
    cost: DayCost
    hpa: HPASpec
    timings: Timings
    fixed: object                  # capplan.planner.Option: the peak sizing, billed
    deploy: dict                   # the autoscaled plan's deploy block (what `render` writes)
    peak_replicas: int


def timings_for(provider: str) -> Timings:
    from capplan.deploy import platform as plat

    t = plat.component("autoscaler", "timings")
    return Timings(pod_startup_s=float(t["pod_startup_s"]), node_provision_s=float(t["node_provision_s"][provider]),
                   scan_s=float(t["scan_s"]), scale_down_unneeded_s=float(t["scale_down_unneeded_s"]),
                   scale_down_delay_after_add_s=float(t["scale_down_delay_after_add_s"]),
                   metrics_resolution_s=float(t["metrics_resolution_s"]), hpa_sync_s=float(t["hpa_sync_s"]))


def nodes_function(deployment) -> tuple[Callable[[int], int], int]:
    """(pods -> app nodes, the group's maximum): the bill's packing with the API pod count replaced."""
    from capplan.deploy import platform as plat
    from capplan.deploy.packing import PodShape, nodes_needed
    from capplan.deploy.platform import Resources
    from capplan.render.plan import STREAM_POD

    app = next(g for g in deployment.node_groups if g.role == "app")
    sidecar = plat.component("istio", "sidecar")["requests"]
    free = Resources(cpu_m=app.schedulable_cpu_m, memory_mib=app.schedulable_memory_mib, pods=app.pods_per_node)

    def shape(p, count):
        extra_cpu = int(sidecar["cpu_millicores"]) if p.sidecar else 0
        extra_mem = int(sidecar["memory_mib"]) if p.sidecar else 0
        return PodShape(p.name, count, p.cpu_request_m + extra_cpu, p.memory_request_mib + extra_mem,
                        p.zone_spread, p.one_per_node)

    others = [shape(p, p.replicas_min) for p in deployment.pods if p.node_group == "app" and p.name != STREAM_POD]
    api = next(p for p in deployment.pods if p.name == STREAM_POD)
    cache: dict[int, int] = {}

    def nodes_for(pods: int) -> int:
        if pods not in cache:
            cache[pods] = nodes_needed(others + [shape(api, pods)], free, deployment.zones)
        return cache[pods]

    return nodes_for, app.nodes_max


def plan_day(tier: Tier, workload: Workload, users: int, provider: str, profile: Profile, slo: SLO,
             min_replicas: int | None, require_ha: bool, settings: RunSettings, deploy_options=None, today=None,
             on_progress: Callable[[], None] | None = None,
             on_minute: Callable[[int, int], None] | None = None, injections=(), fixed=None) -> DayPlan:
    """``fixed``: the tier's peak sizing on ``provider`` when the caller has it already (a
    recommend's option); otherwise the planner sizes it here."""
    from dataclasses import replace

    from capplan.cost.bill import bill_deployment
    from capplan.cost.prices import load_llm_prices, load_price_book
    from capplan.deploy import build_deployment
    from capplan.planner import deploy_block_for, recommend
    from capplan.render.plan import STREAM_POD, context_from_deploy

    if fixed is None:
        rec = recommend([tier], workload, users, [provider], slo, require_ha, settings, today=today,
                        on_progress=on_progress, options=deploy_options)
        fixed = rec.winner
        if fixed is None:
            raise CapplanError(f"{tier.name} cannot meet the SLO at {users:,} users: {rec.plans[0].reason}",
                               field="--tier")
    if fixed.deployment.platform != "kubernetes":
        raise CapplanError(f"{tier.name} runs on Docker Compose: there is no autoscaler to simulate (use a "
                           "Kubernetes tier)", field="--tier")
    plan = fixed.plan
    peak = next(p for p in fixed.deployment.pods if p.name == STREAM_POD).replicas_min
    base = deploy_options or _default_options(require_ha)
    # the same sizing with the HPA's floor at min_replicas (default: the lowest the plan allows, which
    # the deployment raises to 2 with --require-ha): what `capplan render --min-replicas` writes
    book = load_price_book(provider)
    deployment = build_deployment(plan.sized, plan.forecast, workload, book,
                                  replace(base, min_replicas=min_replicas if min_replicas is not None else 1))
    auto_bill = bill_deployment(deployment, book, load_llm_prices(), today=today)
    deploy = deploy_block_for(deployment, plan.forecast, plan.sizing.pool_per_process, plan.sizing.queue_workers or 0,
                              slo.p95_s)
    ctx = context_from_deploy(deploy)
    hpa = HPASpec.from_context(ctx)
    timings = timings_for(provider)
    nodes_for, max_nodes = nodes_function(deployment)
    request = ctx.cpu_request_millicores / 1000.0
    result = simulate_day(plan.sized, workload, users, profile, hpa, timings, nodes_for, max_nodes, request,
                          settings.seed, on_minute=on_minute, injections=injections,
                          pdb_min_available=ctx.pdb_min_available)
    cost = compare(fixed.bill, fixed.deployment, auto_bill, deployment, result, book.role("metrics").id, STREAM_POD)
    return DayPlan(result=result, cost=cost, hpa=hpa, timings=timings, fixed=fixed, deploy=deploy, peak_replicas=peak)


def _default_options(require_ha: bool):
    from capplan.deploy import DeployOptions

    return DeployOptions(require_ha=require_ha)
