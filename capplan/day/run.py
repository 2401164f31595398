"""A day (or week) of traffic through one sizing, with the HPA and the cluster autoscaler at work.

The load follows the profile: each minute the closed population of chat users is set to the one
whose turns send that minute's message rate (Little's law, as the steady forecast sizes its peak)
and the API reads and refreshes are thinned to the same share of their peak rates. The API
Deployment's pods come and go as :mod:`capplan.day.hpa` and :mod:`capplan.day.cluster` decide,
from the CPU the simulation measures; the engine balances new requests over the Ready pods.
Every simulated minute leaves one :class:`Minute` on the timeline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable, Sequence

import numpy as np

from capplan.day.cluster import PENDING, READY, STARTING, Cluster, Timings
from capplan.day.failures import LOSSES, Injection, reconnect_s
from capplan.day.hpa import HorizontalPodAutoscaler, HPASpec
from capplan.errors import CapplanError
from capplan.model.profile import SECONDS_PER_DAY, Profile
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.sim.build import build_network
from capplan.sim.dynamic import DynamicReplication

MINUTE = 60.0


@dataclass(frozen=True)
class Minute:
    t: float                       # start of the minute (s from the profile's start)
    users: int                     # chat users in a session (the closed population)
    offered_messages_per_s: float
    messages: int                  # message turns completed in the minute
    pods_ready: int
    pods_starting: int
    pods_pending: int
    nodes: int                     # ready app nodes (provisioning ones not counted)
    cpu_utilization: float         # the Ready pods' mean CPU over their request (the HPA's metric)
    api_p95_s: float | None        # None: no API request finished in the minute
    ttft_p95_s: float | None
    stream_gap_p99_s: float | None # the longest silence of the streams that ended in the minute (p99)
    failed: int                    # requests refused (limits, full pools, provider) in the minute
    requests: int                  # requests finished or refused in the minute


@dataclass(frozen=True)
class DayResult:
    profile: str
    tier: str
    users: int
    seconds: float
    minutes: list[Minute]
    node_seconds: float            # app nodes x time (the autoscaled node bill's quantity)
    hpa_min: int
    hpa_max: int
    events: list[str] = field(default_factory=list)   # scale decisions, in order ("t: what")

    def slo_violation_minutes(self, p95_s: float, error_share: float) -> int:
        return sum(1 for m in self.minutes if violates(m, p95_s, error_share))

    def node_hours(self) -> Decimal:
        return Decimal(repr(self.node_seconds)) / Decimal(3600)


def violates(m: Minute, p95_s: float, error_share: float) -> bool:
    """A minute breaks the SLO when its API p95 is over the target or too many requests failed."""
    slow = m.api_p95_s is not None and m.api_p95_s > p95_s
    failing = m.requests > 0 and m.failed / m.requests > error_share
    return slow or failing


def messages_per_second(workload: Workload, users: int, profile: Profile, t: float, region_share: float) -> float:
    """The offered message rate at ``t``: the region's daily messages spread by the profile."""
    region_users = max(1, round(users * region_share))
    return workload.messages_per_day(region_users) / SECONDS_PER_DAY * profile.relative_rate(t)


def simulate_day(tier: Tier, workload: Workload, users: int, profile: Profile, hpa: HPASpec, timings: Timings,
                 nodes_for: Callable[[int], int], max_nodes: int, cpu_request_cores: float, seed: int,
                 on_minute: Callable[[int, int], None] | None = None, until: float | None = None,
                 injections: Sequence[Injection] = (), pdb_min_available: int | None = None) -> DayResult:
    """Run the profile through ``tier`` (its stream service autoscaled by ``hpa``), from its start
    to its end (or to ``until`` seconds)."""
    svc = tier.service_for("stream")
    if svc is None:
        raise CapplanError(f"{tier.name} has no service handling streams", field="--tier")
    if any(s.name != svc.name and "message" in s.handles for s in tier.services):
        raise CapplanError(f"{tier.name}: the message POST and the stream are served by different services; "
                           "`day` autoscales one API Deployment", field="--tier")
    share = tier.regions.busiest_share
    seconds = profile.seconds if until is None else min(profile.seconds, until)
    grid = np.arange(0.0, seconds, MINUTE)
    rates = np.array([messages_per_second(workload, users, profile, t + MINUTE / 2, share) for t in grid])
    peak_rate = workload.peak_messages_per_second(max(1, round(users * share)))
    if peak_rate <= 0 or rates.max() <= 0:
        raise CapplanError("the profile sends no messages", field="--profile")
    # Built at the day's busiest minute (every user id and rate limit key exists), with the HPA's
    # maximum of pods (each pod's station and pool is there; the autoscaler picks which serve).
    build_users = max(users, math.ceil(users * rates.max() / peak_rate))
    sized = tier.model_copy(update={"services": [s.model_copy(update={"replicas": hpa.max_replicas}) if s.name == svc.name
                                                 else s for s in tier.services]})
    net = build_network(sized, workload, build_users)
    built_rate = float(net.notes["offered_messages_per_s"])
    turn = workload.think_time.mean + workload.nominal_turn_seconds()
    rep = DynamicReplication(net, np.random.SeedSequence(seed))
    open_classes = [c.name for c in net.classes if c.population == 0]

    def population(rate: float) -> int:
        return max(1, math.ceil(rate * turn - 1e-9)) if rate > 0 else 0

    procs = svc.processes
    if pdb_min_available is None:   # the rendered default: one below the HPA's minimum
        pdb_min_available = max(hpa.min_replicas - 1, 0)
    cluster = Cluster(slots=hpa.max_replicas, nodes_for=nodes_for, max_nodes=max_nodes, timings=timings)
    cluster.start(hpa.min_replicas)
    controller = HorizontalPodAutoscaler(hpa)

    def serve() -> None:
        ready = cluster.ready()
        # with no pod ready, requests still reach the Service and fail there (its lost pods)
        serving = [k * procs + p for k in ready for p in range(procs)] or rep.lost_members(svc.name)
        if serving:
            rep.set_serving(svc.name, serving)

    rep.start({"message": population(rates[0])})
    rep.set_open_share({name: rates[0] / built_rate for name in open_classes})
    serve()

    cpu = f"{svc.name}.cpu"
    core_per_process = min(1.0, svc.cpu / procs)
    background = workload.cpu.background
    scrapes: list[tuple[float, list[float]]] = [(0.0, rep.busy_seconds(cpu))]
    events: list[str] = []

    def pod_cores(k: int, a: list[float], b: list[float], span: float) -> float:
        busy = sum(b[k * procs + p] - a[k * procs + p] for p in range(procs)) / span
        # the station's busy share is of the capacity the background leaves (see sim.build)
        return (busy * (1.0 - background) + background * procs) * core_per_process

    def scrape(now: float) -> None:
        scrapes.append((now, rep.busy_seconds(cpu)))
        del scrapes[:-3]

    def metric() -> tuple[int, int, float]:
        """(ready pods with a full sample, pods without, their mean utilization of the request)."""
        (t0, a), (t1, b) = scrapes[-2], scrapes[-1]
        span = t1 - t0
        with_sample = [k for k in cluster.ready() if cluster.since[k] <= t0]
        others = cluster.count(STARTING, READY) - len(with_sample)
        if not with_sample or span <= 0:
            return 0, others, 0.0
        used = sum(pod_cores(k, a, b, span) for k in with_sample)
        return len(with_sample), others, used / (len(with_sample) * cpu_request_cores)

    def sync(now: float) -> None:
        current = cluster.wanted
        ready, unready, util = metric()
        desired = controller.sync(now, current, ready, unready, util)
        if desired != current:
            events.append(f"{clock(now)}: HPA {current} -> {desired} pods (CPU {util:.0%} of request, target "
                          f"{hpa.target_utilization:.0%})")
            cluster.scale_to(desired, now)
            serve()

    def scan(now: float) -> None:
        before = cluster.nodes + len(cluster.provisioning)
        ready_nodes = cluster.nodes
        cluster.autoscale_nodes(now)
        after = cluster.nodes + len(cluster.provisioning)
        if after != before:
            events.append(f"{clock(now)}: cluster autoscaler {before} -> {after} nodes")
        if cluster.nodes < ready_nodes:
            evicted = cluster.drain(ready_nodes, pdb_min_available, now)
            if evicted:
                events.append(f"{clock(now)}: node drain evicts {len(evicted)} pod(s) (PodDisruptionBudget "
                              f"minAvailable {pdb_min_available}); they start again elsewhere")
                serve()
        became = cluster.tick(now)
        if became:
            rep.revive_members(svc.name, [k * procs + p for k in became for p in range(procs)])
            serve()

    node_area = [0.0, 0.0]          # node-seconds, last time

    def count_nodes(now: float) -> None:
        node_area[0] += cluster.nodes * (now - node_area[1])
        node_area[1] = now

    def members(pods: list[int]) -> list[int]:
        return [k * procs + p for k in pods for p in range(procs)]

    def lose(inj: Injection, now: float) -> None:
        ready = cluster.ready()
        if inj.kind == "pod":
            pods, nodes = ready[:1], 0
        elif inj.kind == "node":
            pods, nodes = ready[:math.ceil(len(ready) / max(cluster.nodes, 1))], 1
        else:   # one zone of three
            pods, nodes = ready[:round(len(ready) / 3)], round(cluster.nodes / 3)
        before = (len(ready), cluster.nodes)
        cluster.lose(pods, nodes, now)
        rep.kill_members(svc.name, members(pods), f"{inj.kind} lost")
        serve()
        events.append(f"{clock(now)}: {inj.kind} lost: {len(pods)} of {before[0]} ready pods and {nodes} of "
                      f"{before[1]} nodes gone; {len(pods)} replacement pod(s) asked for")

    for inj in injections:
        if not 0 <= inj.at < seconds:
            raise CapplanError(f"{inj.kind} at {clock(inj.at)} is outside the simulated {seconds / 3600:g} h",
                               field="--inject")
        if inj.kind == "redis" and not any(st.name == "redis" for st in net.stations):
            raise CapplanError(f"{tier.name} has no Redis to fail over", field="--inject")
        if inj.kind in LOSSES:
            rep.at(inj.at, inj, lambda event: lose(event._value, rep.now))
        else:
            _schedule(rep, inj, events)

    t = timings
    rep.every(t.metrics_resolution_s, scrape)
    rep.every(t.hpa_sync_s, sync, first=t.hpa_sync_s + 0.5)    # just after a scrape
    rep.every(t.scan_s, lambda now: (count_nodes(now), scan(now)))

    api = net.metric_index("api_latency")
    ttft = net.metric_index("ttft")
    gap = net.metric_index("stream_max_gap")
    minutes: list[Minute] = []
    snaps = [rep.metrics[api].snapshot(), rep.metrics[ttft].snapshot(), rep.metrics[gap].snapshot()]
    counts = [rep.completed, sum(rep.rejected.values())]
    message_metric = net.metric_index("response:message")
    done_msgs = [rep.metrics[message_metric].snapshot()[2]]
    total = len(grid)
    for k, start in enumerate(grid.tolist()):
        rate = float(rates[k])
        rep.set_population("message", population(rate))
        rep.set_open_share({name: rate / built_rate for name in open_classes})
        rep.run_until(start + MINUTE)
        now = start + MINUTE
        count_nodes(now)
        h_api = rep.metrics[api].since(snaps[0])
        h_ttft = rep.metrics[ttft].since(snaps[1])
        h_gap = rep.metrics[gap].since(snaps[2])
        snaps = [rep.metrics[api].snapshot(), rep.metrics[ttft].snapshot(), rep.metrics[gap].snapshot()]
        completed, failed = rep.completed, sum(rep.rejected.values())
        msgs = rep.metrics[message_metric].snapshot()[2]
        _, _, util = metric()
        minutes.append(Minute(
            t=float(start), users=rep.population("message"), offered_messages_per_s=float(rate),
            messages=int(msgs - done_msgs[0]), pods_ready=cluster.count(READY), pods_starting=cluster.count(STARTING),
            pods_pending=cluster.count(PENDING), nodes=cluster.nodes, cpu_utilization=util,
            api_p95_s=h_api.quantile(0.95) if h_api.n else None, ttft_p95_s=h_ttft.quantile(0.95) if h_ttft.n else None,
            stream_gap_p99_s=h_gap.quantile(0.99) if h_gap.n else None,
            failed=int(failed - counts[1]), requests=int((completed - counts[0]) + (failed - counts[1]))))
        counts = [completed, failed]
        done_msgs = [msgs]
        if on_minute is not None:
            on_minute(k + 1, total)
    return DayResult(profile=profile.name, tier=tier.name, users=users, seconds=float(seconds), minutes=minutes,
                     node_seconds=float(node_area[0]), hpa_min=hpa.min_replicas, hpa_max=hpa.max_replicas, events=events)


def _schedule(rep: DynamicReplication, inj: Injection, events: list[str]) -> None:
    """A timed incident: what starts it, what ends it, and what the timeline says when it is over."""
    on, off, over = {
        "mongo": (lambda: rep.fail_station("mongo.primary", "mongo primary election"),
                  lambda: rep.fail_station("mongo.primary", None), "a new MongoDB primary is elected"),
        "redis": (lambda: (rep.fail_station("redis", "redis failover"),
                           rep.hold_streams(rep.now + inj.duration, reconnect_s())),
                  lambda: rep.fail_station("redis", None), "a Redis replica is promoted; streams reconnect and resume"),
        "llm-slow": (lambda: rep.slow_llm(inj.factor), lambda: rep.slow_llm(1.0), "the LLM provider is back to its pace"),
        "llm-429": (lambda: rep.throttle_provider(True), lambda: rep.throttle_provider(False),
                    "the LLM provider answers again"),
    }[inj.kind]

    def start(event):
        on()
        events.append(f"{clock(rep.now)}: {inj.describe()} begins")

    def end(event):
        off()
        events.append(f"{clock(rep.now)}: {over}")

    rep.at(inj.at, None, start)
    rep.at(inj.at + inj.duration, None, end)


def clock(t: float) -> str:
    """'HH:MM:SS' from the profile's start ('day 2 HH:MM:SS' after the first day)."""
    day, rest = divmod(int(t), int(SECONDS_PER_DAY))
    h, rest = divmod(rest, 3600)
    m, s = divmod(rest, 60)
    return (f"day {day + 1} " if day else "") + f"{h:02d}:{m:02d}:{s:02d}"
