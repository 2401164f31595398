"""Forecast each architecture at a user count: simulate, screen analytically, name the bottleneck."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from capplan.errors import CapplanError
from capplan.model.tier import Tier
from capplan.sim.build import build_network
from capplan.model.workload import Workload
from capplan.screen import Screen, screen
from capplan.sim.runner import MetricSummary, SimResult, run_many
from capplan.sim.spec import NetworkSpec
from capplan.sim.stats import Estimate, estimate

SATURATION = 0.95          # a resource this busy (time-average) has no headroom left
REJECT_SATURATION = 0.01   # more than 1% of requests refused is a saturated system
EVENT_BUDGET = 400_000     # per replication: caps the run length when traffic is heavy (100k users)
TARGET_MESSAGES = 1500     # per replication: sets the default run length from the message rate
MIN_MEASURE_S = 60.0
MAX_MEASURE_S = 300.0
WARMUP_S = 60.0


@dataclass(frozen=True)
class RunSettings:
    """How long and how often to simulate. ``duration=None`` picks it from the message rate."""

    duration: float | None = None
    warmup: float | None = None
    replications: int = 5
    seed: int = 1
    workers: int | None = None

    def __post_init__(self):
        if self.replications < 2:
            raise CapplanError("need at least 2 replications for a confidence interval", field="replications")
        if self.duration is not None and self.duration <= 0:
            raise CapplanError("must be positive", field="duration")
        if self.warmup is not None and self.warmup < 0:
            raise CapplanError("must not be negative", field="warmup")


@dataclass
class TierForecast:
    tier: str
    title: str
    users: int
    active_users: int
    claimed_users: tuple[int, int | None]
    duration: float
    warmup: float
    replications: int
    api_latency: MetricSummary
    ttft: MetricSummary
    turn: MetricSummary
    api_read_response: MetricSummary
    utilization: dict[str, Estimate]           # resource -> busiest instance's time-average utilization
    analytic: Screen
    bottleneck: str
    saturated: bool
    reject_share: Estimate
    rejected: dict[str, int]
    peak_streams_per_replica: dict[str, float]
    peak_memory_mib_per_replica: dict[str, float]
    memory_limit_mib: dict[str, float | None]
    streams_over_idle_timeout_share: Estimate
    streams_cut_share: Estimate
    idle_timeout_s: float
    longest_stream_p99_s: float
    longest_stream_s: float                      # the longest stream any replication simulated
    messages_per_second: Estimate
    warnings: list[str] = field(default_factory=list)

    @property
    def busiest(self) -> tuple[str, float]:
        return self.bottleneck, self.utilization[self.bottleneck].mean if self.bottleneck in self.utilization else float("nan")


def default_duration(net: NetworkSpec, scr: Screen) -> float:
    """Long enough for ~TARGET_MESSAGES messages per replication, within [MIN, MAX] seconds, and no
    longer than EVENT_BUDGET engine events: the cost of a run stops growing with users."""
    rate = scr.throughput.get("message", 0.0)
    wanted = TARGET_MESSAGES / rate if rate > 0 else MAX_MEASURE_S
    if scr.events_per_s > 0:
        wanted = min(wanted, EVENT_BUDGET / scr.events_per_s)
    return float(min(MAX_MEASURE_S, max(MIN_MEASURE_S, wanted)))


def forecast_tiers(tiers: list[Tier], workload: Workload, users: int, settings: RunSettings = RunSettings(),
                   on_done: Callable[[], None] | None = None) -> list[TierForecast]:
    if users <= 0:
        raise CapplanError("must be a positive number of registered users", field="users")
    nets = [build_network(t, workload, users) for t in tiers]
    screens = [screen(n) for n in nets]
    jobs = []
    for net, scr in zip(nets, screens):
        duration = settings.duration if settings.duration is not None else default_duration(net, scr)
        warmup = settings.warmup if settings.warmup is not None else WARMUP_S
        jobs.append((net, duration, warmup, settings.replications, settings.seed))
    results = run_many(jobs, workers=settings.workers, on_done=on_done)
    return [_summarise(t, workload, users, n, s, r) for t, n, s, r in zip(tiers, nets, screens, results)]


def _summarise(tier: Tier, workload: Workload, users: int, net: NetworkSpec, scr: Screen, res: SimResult) -> TierForecast:
    reps = res.replications
    util: dict[str, Estimate] = {}
    for st in net.stations:
        util[st.name] = estimate([max(r.station_util[st.name]) for r in reps])
    for p in net.pools:
        util[p.name] = estimate([max(r.pool_util[p.name]) for r in reps])
    peak_streams, peak_mem, mem_limit = {}, {}, {}
    for g in net.groups:
        per_stream = g.memory_per_stream_mib
        if g.memory_limit_mib:
            util[f"memory:{g.name}"] = estimate(
                [(g.base_memory_mib + max(r.group_mean_streams[g.name]) * per_stream) / g.memory_limit_mib for r in reps])
        peak_streams[g.name] = float(np.mean([max(r.group_peak_streams[g.name]) for r in reps]))
        peak_mem[g.name] = float(np.mean([max(r.group_peak_memory_mib[g.name]) for r in reps]))
        mem_limit[g.name] = g.memory_limit_mib
    reject_share = res.rejected_share()
    rejected: dict[str, int] = {}
    for r in reps:
        for reason, count in r.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count
    bottleneck = max(util, key=lambda k: (util[k].mean, k))
    memory_over = any(peak_mem[g] > (mem_limit[g] or math.inf) for g in peak_mem)
    saturated = util[bottleneck].mean >= SATURATION or reject_share.mean > REJECT_SATURATION or memory_over
    if reject_share.mean > REJECT_SATURATION and rejected:
        top = max(rejected, key=lambda k: (rejected[k], k))
        if util[bottleneck].mean < SATURATION:
            bottleneck = top
    streams = [r.streams_total for r in reps]
    long_share = estimate([r.streams_over_idle_timeout / s if s else 0.0 for r, s in zip(reps, streams)])
    cut_share = estimate([r.streams_silent_over_idle_timeout / s if s else 0.0 for r, s in zip(reps, streams)])
    warnings = list(tier.warnings())
    if cut_share.mean > 0:
        warnings.append(f"{cut_share.mean:.1%} of streams wait longer than the {tier.idle_timeout_s:.0f} s proxy "
                        "timeout for their first token and are cut")
    if long_share.mean > 0:
        warnings.append(f"{long_share.mean:.1%} of streams last longer than the {tier.idle_timeout_s:.0f} s proxy "
                        "timeout: raise proxy_read_timeout / idle timeout above the longest stream")
    for g, peak in peak_mem.items():
        limit = mem_limit[g]
        if limit and peak > limit:
            warnings.append(f"memory:{g}: peak {peak:.0f} MiB per process exceeds the {limit:.0f} MiB limit")
    turn = res.metric("response:message")
    return TierForecast(
        tier=tier.name, title=tier.title, users=users, active_users=int(net.notes["active_users"]),
        claimed_users=(tier.claimed_users.min, tier.claimed_users.max), duration=res.duration, warmup=res.warmup,
        replications=len(reps), api_latency=res.metric("api_latency"), ttft=res.metric("ttft"), turn=turn,
        api_read_response=res.metric("response:api_read"), utilization=util, analytic=scr,
        bottleneck=bottleneck, saturated=bool(saturated), reject_share=reject_share, rejected=rejected,
        peak_streams_per_replica=peak_streams, peak_memory_mib_per_replica=peak_mem, memory_limit_mib=mem_limit,
        streams_over_idle_timeout_share=long_share, streams_cut_share=cut_share,
        idle_timeout_s=tier.idle_timeout_s, longest_stream_p99_s=_stream_p99(workload),
        longest_stream_s=max(r.longest_stream_s for r in reps),
        messages_per_second=estimate([r.metrics["response:message"].n / r.measured_time for r in reps]),
        warnings=warnings)


def _stream_p99(workload: Workload) -> float:
    """p99 of one stream's length (ttft + tokens / rate) by Monte Carlo with a fixed seed."""
    from capplan.sim.sampling import batch_sampler

    rng = np.random.default_rng(12345)
    n = 20000
    draws = [batch_sampler(d, rng, n) for d in (workload.llm.time_to_first_token, workload.llm.output_tokens,
                                                 workload.llm.token_rate)]
    ttft, tokens, rate = (np.array([draw() for _ in range(n)]) for draw in draws)
    return float(np.quantile(ttft + tokens / np.maximum(rate, 1e-9), 0.99))
