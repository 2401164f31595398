"""Forecast each architecture at a user count: simulate, screen analytically, give a verdict.

The verdict is honest about the regime:

- ``unstable``: the offered load exceeds a resource's capacity (the analytic screen: open work piles
  up, closed users queue without bound as they grow), or the simulated number present keeps growing
  after MSER-5's truncation in most replications. Latency percentiles are then lower bounds (the
  figure reached in the run, growing with run length) and never printed as plain numbers; the
  report shows offered against carried load per resource instead.
- ``saturated``: stationary, but the busiest resource is at 95% or more, or more than 1% of requests
  fail (rejected by a limit, refused by the provider after retries, cut by a proxy timer).
- ``stable``: neither.

Far past capacity (offered load at least OVERLOAD_SIMULATED x the capacity) the simulation runs at
the smaller load where the busiest resource is offered exactly that much: the verdict is already
known, the carried load is the capacity either way, and the run stays bounded in time and memory
whatever the user count.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from capplan import limits
from capplan.errors import CapplanError
from capplan.model.tier import Tier
from capplan.model.timeouts import PathTimer, path_timers
from capplan.model.workload import Workload
from capplan.screen import Screen, screen
from capplan.sim.build import build_network
from capplan.sim.runner import MetricSummary, SimResult, run_many
from capplan.sim.spec import NetworkSpec
from capplan.sim.stats import Estimate, estimate

SATURATION = 0.95          # a resource this busy (time-average) has no headroom left
ERROR_BUDGET = 0.01        # more than 1% of requests failing is a saturated system
EVENT_BUDGET = 600_000     # per replication (warm-up included): caps the run length when traffic is heavy
TARGET_MESSAGES = 1500     # per replication: sets the default run length from the message rate
MIN_MEASURE_S = 600.0      # at least ~8 turns of a session user (think + answer): room for the trend test
MAX_MEASURE_S = 1800.0
WARMUP_TURNS = 2.0         # fixed warm-up: two session turns; MSER-5 may discard more
MIN_WARMUP_S = 60.0
OVERLOAD_SIMULATED = 1.5   # far past capacity, simulate where the busiest resource is offered 150%
MAX_SIM_USERS = 50_000     # session users one replication may hold (memory); past it only over-capacity points run


@dataclass(frozen=True)
class RunSettings:
    """How long and how often to simulate. ``duration=None`` picks it from the message rate."""

    duration: float | None = None
    warmup: float | None = None
    replications: int = 5
    seed: int = 1
    workers: int | None = None
    provider: str | None = None          # the provider whose load balancer timer applies (cloud_lb tiers)
    # True: timers an operator can configure are taken as set above the longest stream, as `capplan
    # render` writes them (the planner's view of the deployment it renders); only fixed ones can cut
    configured_timers: bool = False

    def __post_init__(self):
        if self.replications < 2:
            raise CapplanError(f"need at least 2 replications for a confidence interval, got {self.replications}",
                               field="--replications")
        limits.check_int(self.replications, "--replications", 2, limits.MAX_REPLICATIONS)
        limits.check_seed(self.seed)
        if self.workers is not None:
            limits.check_int(self.workers, "--workers", 1, limits.MAX_WORKERS)
        limits.check_run_seconds(self.duration, "--duration", positive=True)
        limits.check_run_seconds(self.warmup, "--warmup", positive=False)


@dataclass(frozen=True)
class TimerCut:
    """The share of streams one timer on the path cuts."""

    timer: PathTimer
    share: Estimate


@dataclass
class TierForecast:
    tier: str
    title: str
    users: int
    active_users: int                          # session users at the peak (the closed population)
    claimed_users: tuple[int, int | None]
    duration: float
    warmup: float
    replications: int
    api_latency: MetricSummary
    ttft: MetricSummary
    turn: MetricSummary
    api_read_response: MetricSummary
    utilization: dict[str, Estimate]           # resource -> busiest instance's carried utilization (simulated)
    analytic: Screen                           # at the requested load (offered figures)
    bottleneck: str                            # the resource that limits growth (not an idle baseline)
    verdict: str                               # stable | saturated | unstable
    reject_share: Estimate                     # requests refused (limits, full pools, provider 429 after retries)
    rejected: dict[str, int]
    peak_streams_per_replica: dict[str, float]
    peak_memory_mib_per_replica: dict[str, float]
    memory_limit_mib: dict[str, float | None]
    streams_cut_share: Estimate                # streams some timer on the path cuts
    timer_cuts: list[TimerCut]
    longest_stream_p99_s: float
    longest_stream_s: float                    # the longest stream any replication simulated
    messages_per_second: Estimate              # carried (simulated)
    offered_messages_per_second: float         # offered by the demand shape at ``users``
    over_capacity: dict[str, float]            # resource -> offered utilization >= 100%
    stationary: bool                           # the simulated number present did not keep growing
    growth: float                              # mean relative growth of the number present over the kept window
    truncated_s: Estimate                      # warm-up MSER-5 discarded beyond the fixed one
    simulated_users: int                       # registered users the simulation represented (< users far past capacity)
    stream_stretch: MetricSummary              # actual / nominal stream length (1: never slowed)
    provider_wait: MetricSummary               # time at the provider's rate limit (429 back-off) per chat call
    provider: dict[str, float] = field(default_factory=dict)   # calls/s, throttled share, failed share
    provider_name: str | None = None           # the cloud provider the path's timers were taken for
    failures_lower_bound: bool = False         # simulated at a smaller load with a cap or limit at the entry
    warnings: list[str] = field(default_factory=list)

    @property
    def saturated(self) -> bool:
        return self.verdict != "stable"

    @property
    def unstable(self) -> bool:
        return self.verdict == "unstable"

    @property
    def queues_over_capacity(self) -> dict[str, float]:
        """Queueing resources offered past capacity (their offered utilization >= 100%)."""
        return {k: v for k, v in self.over_capacity.items() if self.analytic.kinds.get(k, "queue") == "queue"}

    @property
    def unsettled(self) -> bool:
        """Unstable for want of a steady state, not for overload: nothing is offered past capacity and
        the number present fell over the measured window (the run was still draining what its start
        piled up), so its latencies are neither a steady state's nor a lower bound."""
        return self.unstable and not self.queues_over_capacity and not self.stationary and self.growth <= 0

    @property
    def error_share(self) -> float:
        """Requests that fail as the user sees them: refused, or their answer cut by a timer."""
        messages = self.messages_per_second.mean
        total = messages * (1.0 + self.analytic_reads_per_message()) if messages > 0 else 0.0
        cut = self.streams_cut_share.mean * messages / total if total > 0 else 0.0
        return self.reject_share.mean + cut

    def analytic_reads_per_message(self) -> float:
        msgs = self.analytic.offered_throughput.get("message", 0.0)
        other = sum(v for k, v in self.analytic.offered_throughput.items() if k != "message")
        return other / msgs if msgs > 0 else 0.0

    @property
    def busiest(self) -> tuple[str, float]:
        return self.bottleneck, self.utilization[self.bottleneck].mean if self.bottleneck in self.utilization else float("nan")


def default_duration(net: NetworkSpec, scr: Screen, think: float) -> tuple[float, float]:
    """(warm-up, measured time): ~TARGET_MESSAGES messages per replication within [MIN, MAX], and
    no more than EVENT_BUDGET engine events in all: the cost of a run stops growing with users."""
    rate = scr.offered_throughput.get("message", 0.0)
    turn = think + scr.response.get("message", 0.0) if math.isfinite(scr.response.get("message", math.inf)) else think
    warmup = max(MIN_WARMUP_S, WARMUP_TURNS * turn)
    wanted = TARGET_MESSAGES / rate if rate > 0 else MAX_MEASURE_S
    wanted = min(MAX_MEASURE_S, max(MIN_MEASURE_S, wanted))
    if scr.events_per_s > 0:
        wanted = min(wanted, EVENT_BUDGET / scr.events_per_s - warmup)
        if wanted < 0.2 * MIN_MEASURE_S:
            warmup = max(MIN_WARMUP_S / 4, 0.2 * EVENT_BUDGET / scr.events_per_s)
            wanted = max(EVENT_BUDGET / scr.events_per_s - warmup, 1.0)
    return warmup, wanted


def load_scale(tier: Tier, workload: Workload, users: int, full: Screen | None = None) -> tuple[float, Screen]:
    """The share of ``users`` to simulate: 1, or less far past capacity (see the module doc).
    Refuses a stable point too large to simulate."""
    full = full or screen(build_network(tier, workload, users))
    # only where work waits: a limit over capacity refuses the excess at any load (and per-key limits
    # do not shrink with the load), so its point is simulated as it is
    # (an event bus's consumers are off the users' path: their lag grows, the users' figures do not)
    worst = max((v for k, v in full.offered.items() if full.kinds.get(k, "queue") == "queue" and k not in full.off_path),
                default=0.0)
    scale = 1.0
    if worst > OVERLOAD_SIMULATED:
        scale = OVERLOAD_SIMULATED / worst
    net_users = int(build_network(tier, workload, users).notes["active_users"])
    if net_users * scale > MAX_SIM_USERS:
        capped = MAX_SIM_USERS / net_users
        if worst * capped < 1.0:
            # a smaller run would be under capacity: it would say nothing true about this point
            per_user = net_users / users
            raise CapplanError(
                f"{users:,} users make {net_users:,} session users at the peak on {tier.name}; capplan simulates at "
                f"most {MAX_SIM_USERS:,} at once (about {int(MAX_SIM_USERS / per_user):,} registered users with this "
                "workload) and this sizing is not over capacity there", field="--users")
        scale = min(scale, capped)
    return scale, full


def forecast_tiers(tiers: list[Tier], workload: Workload, users: int, settings: RunSettings = RunSettings(),
                   on_done: Callable[[], None] | None = None) -> list[TierForecast]:
    return forecast_points([(tier, workload, users) for tier in tiers], settings, on_done)


def forecast_points(points: list[tuple[Tier, Workload, int]], settings: RunSettings = RunSettings(),
                    on_done: Callable[[], None] | None = None, executor=None) -> list[TierForecast]:
    """Forecasts of several (tier, workload, users) points, their replications run as one batch
    (on ``executor`` when given, e.g. Dask; else ``settings.workers`` local processes)."""
    plans = []
    jobs = []
    for tier, workload, users in points:
        limits.check_users(users)
        full = screen(build_network(tier, workload, users))
        scale, _ = load_scale(tier, workload, users, full)
        net = build_network(tier, workload, users, scale=scale) if scale < 1.0 else build_network(tier, workload, users)
        scr = screen(net) if scale < 1.0 else full
        warmup, duration = default_duration(net, scr, workload.think_time.mean)
        if settings.duration is not None:
            duration = settings.duration
        if settings.warmup is not None:
            warmup = settings.warmup
        if settings.duration is not None or settings.warmup is not None:
            limits.check_events(scr.events_per_s, warmup, duration,
                                field="--duration" if settings.duration is not None else "--warmup")
        plans.append((tier, workload, users, net, full, scale))
        jobs.append((net, duration, warmup, settings.replications, settings.seed))
    results = run_many(jobs, workers=settings.workers, on_done=on_done, executor=executor)
    return [_summarise(t, w, u, n, full, scale, r, settings.provider, settings.configured_timers)
            for (t, w, u, n, full, scale), r in zip(plans, results)]


def _summarise(tier: Tier, workload: Workload, users: int, net: NetworkSpec, scr: Screen, scale: float,
               res: SimResult, provider: str | None, configured_timers: bool = False) -> TierForecast:
    reps = res.replications
    util: dict[str, Estimate] = {}
    for st in net.stations:
        util[st.name] = estimate([max(r.station_util[st.name]) for r in reps])
    for p in net.pools:
        util[p.name] = estimate([max(r.pool_util[p.name]) for r in reps])
    peak_streams, peak_mem, mem_limit = {}, {}, {}
    base_share: dict[str, float] = {}
    for g in net.groups:
        per_stream = g.memory_per_stream_mib
        if g.memory_limit_mib:
            util[f"memory:{g.name}"] = estimate(
                [(g.base_memory_mib + max(r.group_mean_streams[g.name]) * per_stream) / g.memory_limit_mib for r in reps])
            base_share[f"memory:{g.name}"] = g.base_memory_mib / g.memory_limit_mib
        peak_streams[g.name] = float(np.mean([max(r.group_peak_streams[g.name]) for r in reps]))
        peak_mem[g.name] = float(np.mean([max(r.group_peak_memory_mib[g.name]) for r in reps]))
        mem_limit[g.name] = g.memory_limit_mib
    reject_share = res.rejected_share()
    rejected: dict[str, int] = {}
    for r in reps:
        for reason, count in r.rejected.items():
            rejected[reason] = rejected.get(reason, 0) + count

    # The bottleneck limits growth: the resource whose load-dependent part is largest (an idle
    # process's memory is a baseline, not load), or the limit that refuses most when over 1%.
    def growth_share(name: str) -> float:
        base = base_share.get(name, 0.0)
        return (util[name].mean - base) / (1.0 - base) if base < 1.0 else 0.0

    bottleneck = max(util, key=lambda k: (growth_share(k), k))
    over = dict(scr.over_capacity)
    queues_over = dict(scr.queues_over_capacity)
    for name, value in util.items():
        if name.startswith("memory:") and value.mean > 1.0:
            over.setdefault(name, value.mean)
            queues_over.setdefault(name, value.mean)
    if over:
        bottleneck = next(iter(queues_over or over))
    elif reject_share.mean > ERROR_BUDGET and rejected and util[bottleneck].mean < SATURATION:
        bottleneck = max(rejected, key=lambda k: (rejected[k], k))

    # timers on the stream's path: the share each cuts, from the simulated silences and lengths
    timers = path_timers(tier, provider)
    if configured_timers:
        timers = [t for t in timers if not t.configurable]
    # Streams cut on this deployment's path: every timer but those of a provider it is not on (a
    # cloud_lb tier forecast without a provider lists each provider's load balancer apart).
    applying = [t for t in timers if t.provider is None or t.provider == provider]
    any_cut = estimate([_cut_share(r, applying) for r in reps])
    cuts = [TimerCut(t, estimate([_cut_share(r, [t]) for r in reps])) for t in timers]

    trends = [r.trend_growing for r in reps]
    growing = sum(trends) * 2 > len(trends)
    at_limit = sum(r.mser_at_limit for r in reps) * 2 > len(reps)
    stationary = not (growing or at_limit)
    messages = estimate([r.metrics["response:message"].n / r.measured_time for r in reps])
    offered_rate = float(net.notes["offered_messages_per_s"]) / scale
    memory_over = any(peak_mem[g] > (mem_limit[g] or math.inf) for g in peak_mem)
    calls = sum(r.providers.get(p, {}).get("calls", 0) for r in reps for p in r.providers)
    throttled = sum(r.providers.get(p, {}).get("throttled", 0) for r in reps for p in r.providers)
    failed = sum(r.providers.get(p, {}).get("failed", 0) for r in reps for p in r.providers)
    tokens = sum(r.providers.get(p, {}).get("tokens", 0.0) for r in reps for p in r.providers)
    attempts = calls + throttled
    measured = sum(r.measured_time for r in reps)
    provider_figures = {"calls_per_s": calls / measured if measured else 0.0,
                        "tokens_per_min": 60.0 * tokens / measured if measured else 0.0,
                        "throttled_share": throttled / attempts if attempts else 0.0,
                        "failed_share": failed / (calls + failed) if calls + failed else 0.0}

    f = TierForecast(
        tier=tier.name, title=tier.title, users=users, active_users=round(int(net.notes["active_users"]) / scale),
        claimed_users=(tier.claimed_users.min, tier.claimed_users.max), duration=res.duration, warmup=res.warmup,
        replications=len(reps), api_latency=res.metric("api_latency"), ttft=res.metric("ttft"),
        turn=res.metric("response:message"), api_read_response=res.metric("response:api_read"), utilization=util,
        analytic=scr, bottleneck=bottleneck, verdict="stable", reject_share=reject_share, rejected=rejected,
        peak_streams_per_replica=peak_streams, peak_memory_mib_per_replica=peak_mem, memory_limit_mib=mem_limit,
        streams_cut_share=any_cut, timer_cuts=cuts, longest_stream_p99_s=_stream_p99(workload),
        longest_stream_s=max(r.longest_stream_s for r in reps), messages_per_second=messages,
        offered_messages_per_second=offered_rate, over_capacity=over, stationary=stationary,
        growth=float(np.mean([r.trend_growth for r in reps])),
        truncated_s=estimate([r.truncated_s for r in reps]), simulated_users=max(1, round(users * scale)),
        stream_stretch=res.metric("stream_stretch"), provider_wait=res.metric("provider_wait"),
        provider=provider_figures, provider_name=provider,
        failures_lower_bound=scale < 1.0 and (any(p.loss or p.queue_limit is not None for p in net.pools)
                                              or bool(net.limits) or bool(net.providers)))
    if queues_over or not stationary or memory_over:
        f.verdict = "unstable"
    elif (any(not k.startswith("memory:") and u.mean >= SATURATION for k, u in util.items())
          or f.error_share > ERROR_BUDGET or over):
        f.verdict = "saturated"
    f.warnings = _warnings(tier, f, scale, peak_mem, mem_limit)
    return f


def _cut_share(rep, timers: list[PathTimer]) -> float:
    """Share of the replication's streams cut by at least one of ``timers``: an idle timer cuts on
    the longest silence, a total timer on the whole length (each stream's pair is kept, so this is
    the exact union)."""
    n = len(rep.stream_gaps)
    if not n or not timers:
        return 0.0
    idle = min((t.seconds for t in timers if t.timer == "idle"), default=math.inf)
    total = min((t.seconds for t in timers if t.timer == "total"), default=math.inf)
    cut = (rep.stream_gaps > idle) | (rep.stream_totals > total)
    return float(np.count_nonzero(cut)) / n


def _warnings(tier: Tier, f: TierForecast, scale: float, peak_mem, mem_limit) -> list[str]:
    warnings = list(tier.warnings())
    if f.verdict == "unstable":
        queues = f.queues_over_capacity
        if queues:
            over = ", ".join(f"{k} {v:.0%}" for k, v in queues.items())
            warnings.append(f"unstable: offered load exceeds capacity ({over} offered); latencies are lower bounds "
                            "(queues grow with the users waiting and, with open traffic, with run length)")
        elif not f.stationary and f.growth > 0:
            warnings.append(f"unstable: the number of requests in the system kept growing ({f.growth:+.0%} over the "
                            "measured window) in most replications; latencies are lower bounds")
        elif f.unsettled:
            # MSER found no warm-up after which the run is steady, and the number present fell: the
            # run is still draining what its start piled up, so its figures are not a steady state's
            warnings.append(f"unstable: no steady state within the run (the number of requests in the system "
                            f"changed {f.growth:+.0%} over the measured window in most replications); "
                            "latencies are not a steady state's: run longer (--duration) to see where it settles")
    if scale < 1.0 and f.failures_lower_bound:
        warnings.append("past capacity the whole population waits in the system: connection caps and limits at the "
                        "entry refuse more than this smaller run shows, so its failed share is a lower bound")
    if scale < 1.0:
        warnings.append(f"simulated at {f.simulated_users:,} of {f.users:,} users: past capacity the figures only "
                        "get worse, so the run stops where the busiest resource is offered "
                        f"{OVERLOAD_SIMULATED:.0%}")
    for cut in f.timer_cuts:
        if cut.share.mean > 0:
            t = cut.timer
            what = ("a silence (first token or a gap) longer than" if t.timer == "idle"
                    else "a whole answer longer than")
            fix = f"raise {t.setting}" if t.configurable else "not configurable on this plan"
            where = f"on {t.provider}: " if t.provider else ""
            warnings.append(f"{where}{cut.share.mean:.1%} of streams are cut by the {t.hop} {t.timer} timer: {what} "
                            f"{t.seconds:g} s ({fix})")
    # a limit behind a saturated queue never sees its offered load: name it only when it refused
    limits = {k: v for k, v in f.over_capacity.items() if f.analytic.kinds.get(k) == "limit"
              and (any(k in reason for reason in f.rejected) or k.startswith("llm.") and f.provider.get("throttled_share"))}
    if limits:
        over = ", ".join(f"{k} {v:.0%}" for k, v in limits.items())
        warnings.append(f"over a limit ({over} offered): the excess is refused ({f.reject_share.mean:.1%} of requests "
                        "failed)")
    if f.provider.get("throttled_share", 0.0) > 0:
        warnings.append(f"llm provider: {f.provider['throttled_share']:.1%} of calls answered 429 (rate limit); "
                        f"{f.provider['failed_share']:.1%} failed after the client's retries")
    for g, peak in peak_mem.items():
        limit = mem_limit[g]
        if limit and peak > limit:
            warnings.append(f"memory:{g}: peak {peak:.0f} MiB per process exceeds the {limit:.0f} MiB limit")
    return warnings


def _stream_p99(workload: Workload) -> float:
    """p99 of one stream's nominal length (ttft + tokens / rate) by Monte Carlo with a fixed seed."""
    from capplan.sim.sampling import batch_sampler

    llm = workload.llm
    k = llm.slowdown
    rng = np.random.default_rng(12345)
    n = 20000
    dists = [llm.time_to_first_token.scaled(k), llm.output_tokens, llm.token_rate.scaled(1.0 / k)]
    draws = [batch_sampler(d, rng, n) for d in dists]
    ttft, tokens, rate = (np.array([draw() for _ in range(n)]) for draw in draws)
    length = ttft + tokens / np.maximum(rate, 1e-9)
    if llm.reasoning.share > 0 and llm.reasoning.thinking is not None:
        think = batch_sampler(llm.reasoning.thinking, rng, n)
        mask = rng.random(n) < llm.reasoning.share
        length = length + np.where(mask, np.array([think() for _ in range(n)]), 0.0)
    return float(np.quantile(length, 0.99))

