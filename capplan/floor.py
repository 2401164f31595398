"""The latency floor: what a tier's requests take when nothing waits for anything.

No sizing can bring p95 API latency (or p95 time to first token) below the p95 of the requests'
own service, network and provider times. The floor is simulated on the tier's network made
contention-free: every station gets infinite servers (each request is served at once, at its own
speed, CPU limits included), pools, connection caps, rate limits and provider quotas become
unlimited. The same engine and the same routes run, so the floor is exactly the zero-load limit of
what the planner's simulations measure; a short run with a few thousand requests per replication
pins it within a few percent.

The planner compares an SLO with the floor before sizing anything: an SLO below the floor's 95%
interval is answered at once (the floor is in the message) instead of growing replicas without end.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.screen import screen
from capplan.sim.build import build_network
from capplan.sim.runner import run_many
from capplan.sim.spec import IS, NetworkSpec
from capplan.sim.stats import Estimate

UNLIMITED = 10**9            # tokens of a pool / requests of a rate-limit window: never reached
SAMPLES = 1_000              # API requests per replication: enough to refuse a hopeless SLO (interval +-20%)
REPLICATIONS = 3
MAX_RUN_S = 7_200.0          # simulated seconds per replication at most (very light workloads)


@dataclass(frozen=True)
class Floor:
    tier: str
    api_p95: Estimate        # p95 API latency at zero load (s)
    ttft_p95: Estimate       # p95 time to first token at zero load (s)


def zero_load(net: NetworkSpec) -> NetworkSpec:
    """``net`` without contention: infinite servers everywhere, unlimited pools, limits and quotas."""
    return replace(
        net,
        stations=[replace(s, discipline=IS, capacity=None) for s in net.stations],
        pools=[replace(p, size=UNLIMITED, loss=False, queue_limit=None) for p in net.pools],
        limits=[replace(lim, limit=UNLIMITED) for lim in net.limits],
        providers=[replace(p, rpm=None, tpm=None) for p in net.providers],
        groups=[replace(g, memory_limit_mib=None) for g in net.groups],
    )


def latency_floors(tiers: list[Tier], workload: Workload, users: int, seed: int = 1,
                   workers: int | None = None) -> list[Floor]:
    """The zero-load p95 API latency and time to first token of each tier (95% intervals), all
    tiers' replications in one parallel batch."""
    jobs = []
    for tier in tiers:
        loaded = build_network(tier, workload, users)
        # offered rates do not depend on contention; the screen of the unlimited network would be
        # O(pool size), so it reads the loaded one
        rate = sum(screen(loaded).offered_throughput.values())
        duration = min(MAX_RUN_S, SAMPLES / rate) if rate > 0 else MAX_RUN_S
        jobs.append((zero_load(loaded), duration, 0.0, REPLICATIONS, seed, False))
    results = run_many(jobs, workers=workers)
    return [Floor(tier=t.name, api_p95=r.quantile_estimate("api_latency", 0.95),
                  ttft_p95=r.quantile_estimate("ttft", 0.95)) for t, r in zip(tiers, results)]


def latency_floor(tier: Tier, workload: Workload, users: int, seed: int = 1) -> Floor:
    return latency_floors([tier], workload, users, seed, workers=1)[0]
