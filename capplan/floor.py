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

import math
from dataclasses import dataclass, replace

from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.screen import _reach, screen
from capplan.sim.build import build_network
from capplan.sim.runner import run_many
from capplan.sim.spec import IS, NetworkSpec, Op
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


def _moments(dist) -> tuple[float, float] | None:
    """(mean, variance) of a step's time: a Dist, or a DistSum of independent parts."""
    parts = getattr(dist, "parts", None)
    if parts is not None:
        each = [_moments(p) for p in parts]
        return None if None in each else (sum(m for m, _ in each), sum(v for _, v in each))
    cv = getattr(dist, "effective_cv", None)
    return None if cv is None else (dist.mean, (cv * dist.mean) ** 2)


def _path_moments(net: NetworkSpec, route, stop: int) -> tuple[float, float] | None:
    """(mean, an upper bound on the variance) of the time spent on the path before ``route[stop]``
    when nothing waits. Step i runs with probability r_i p_i (r_i: the branches reaching it, p_i:
    its own); two steps both run with probability at most min(r_i, r_j) p_i p_j, which bounds the
    second moment from above. None when a branch or jump leads past ``stop`` or a step's time is
    not a plain draw."""
    if route[stop].prob < 1.0:
        return None
    prefix = route[:stop]
    for step in prefix:
        if (step.op == Op.BRANCH and any(t > stop for _, t in step.branches)) or (
                step.op == Op.JUMP and step.jump > stop) or step.op == Op.STREAM:
            return None
    reach = _reach(prefix)
    terms = []   # (reach r_i, own probability p_i, mean, second moment)
    for i, step in enumerate(prefix):
        if step.op not in (Op.SERVE, Op.DELAY) or reach[i] == 0.0:
            continue   # marks, binds, pool tokens, limits, provider quotas, forks: no time at zero load
        moments = _moments(step.dist)
        if moments is None:
            return None
        m, v = moments
        if step.op == Op.SERVE:
            slow = net.stations[step.target].slowdown
            m, v = m * slow, v * slow * slow
        terms.append((reach[i], step.prob, m, v + m * m))
    mean = sum(r * p * m for r, p, m, _ in terms)
    second = sum(r * p * s2 for r, p, _, s2 in terms)
    for i, (ri, pi, mi, _) in enumerate(terms):
        for j, (rj, pj, mj, _) in enumerate(terms):
            if i != j:
                second += min(ri, rj) * pi * pj * mi * mj
    return mean, max(second - mean * mean, 0.0)


CANTELLI_K = math.sqrt(19.0)   # P(X >= mean + k sd) <= 1 / (1 + k^2) = 5% for any distribution


def floor_bounds(net: NetworkSpec) -> tuple[float | None, float | None]:
    """Upper bounds on the zero-load p95 API latency and p95 time to first token, without simulating.

    Along each class's path to its API mark (or to its first token) the time with nothing waiting
    is a sum of independent draws with a known mean and variance, and by Cantelli's inequality any
    such time's p95 is at most mean + sqrt(19) sd; a mixture's p95 is at most its largest class's
    bound. An SLO at or above the bound cannot be below the floor, so that floor need not be
    simulated. None: some path could not be summed (then the floor is simulated)."""
    api = net.metrics.index("api_latency") if "api_latency" in net.metrics else -1
    bounds: dict[str, float | None] = {"api": 0.0, "ttft": 0.0}
    for cls in net.classes:
        for i, step in enumerate(cls.route):
            key, extra = None, (0.0, 0.0)
            if step.op == Op.MARK and step.target == api:
                key = "api"
            elif step.op == Op.STREAM:
                key, st = "ttft", step.stream
                first = _moments(st.ttft)
                think = _moments(st.thinking) if st.thinking is not None and st.thinking_share > 0 else (0.0, 0.0)
                if first is None or think is None:
                    bounds["ttft"] = None
                    continue
                q = st.thinking_share
                extra = (first[0] + q * think[0], first[1] + q * (think[1] + think[0] ** 2) - (q * think[0]) ** 2)
            if key is None or bounds[key] is None:
                continue
            path = _path_moments(net, cls.route, i)
            if path is None:
                bounds[key] = None
                continue
            mean, var = path[0] + extra[0], path[1] + extra[1]
            bounds[key] = max(bounds[key], mean + CANTELLI_K * math.sqrt(max(var, 0.0)))
    return bounds["api"], bounds["ttft"]


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
