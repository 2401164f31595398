"""The analytic screen: offered and carried utilization and mean response per class, from the
compiled network.

Per-station service demands come from walking each route with its branch probabilities (a
stream's deltas load their stations without adding to the turn's time: they run alongside the
provider's pace; a forked event job loads its stations off the path). Two loads are reported:

- offered: what the users ask for. Open classes bring their arrival rate; a closed class offers
  N / (Z + R0), its rate if nothing ever waited (R0 = service and delays alone). Offered
  utilization is not capped: above 100% a resource is over capacity, and no steady state exists
  (open work piles up, closed users wait for each other without bound as N grows).
- carried: a closed class's throughput from the fixed point X = N / (Z + R(X)), where R adds
  Erlang C (M/M/c) waiting at every station and pool (processor sharing has the same mean) to the
  service and delay times. Carried utilization stays below 100% for the closed class; open
  classes are carried at their rate, so a station they overload reads >= 100% and waits forever.

It is an approximation (the simulator is the reference), printed beside the simulated figure so a
reader sees both, and used by the planner to skip sizings that cannot work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from capplan.analytic import erlang_c
from capplan.sim.spec import IS, PS, NetworkSpec, Op

SATURATION = 0.95


@dataclass
class ClassLoad:
    name: str
    visits: dict[int, float] = field(default_factory=dict)     # station -> expected visits (on the path)
    demand: dict[int, float] = field(default_factory=dict)     # station -> expected service seconds (on the path)
    side: dict[int, float] = field(default_factory=dict)       # station -> server-seconds off the path (deltas, events)
    side_visits: dict[int, float] = field(default_factory=dict)
    second: dict[int, float] = field(default_factory=dict)     # station -> expected sum of squared service times (all visits)
    hold: dict[int, float] = field(default_factory=dict)       # pool -> expected holding seconds
    acquires: dict[int, float] = field(default_factory=dict)   # pool -> expected acquisitions
    limited: dict[int, float] = field(default_factory=dict)    # rate limiter -> expected requests counted
    calls: dict[int, float] = field(default_factory=dict)      # provider -> expected calls
    tokens: dict[int, float] = field(default_factory=dict)     # provider -> expected tokens counted
    delay: float = 0.0                                          # expected pure delay seconds
    events: float = 1.0                                         # expected engine events per request


@dataclass
class Screen:
    throughput: dict[str, float]            # class -> carried requests per second
    response: dict[str, float]              # class -> mean response seconds
    utilization: dict[str, float]           # resource -> carried utilization (per instance, even spread)
    saturated: bool
    events_per_s: float = 0.0               # expected engine events per simulated second (sizes runs)
    offered: dict[str, float] = field(default_factory=dict)             # resource -> offered utilization
    offered_throughput: dict[str, float] = field(default_factory=dict)  # class -> offered requests per second
    # resource -> "queue" (work waits: past capacity it piles up) or "limit" (work is refused: past
    # capacity requests fail, the rest is served)
    kinds: dict[str, str] = field(default_factory=dict)
    off_path: frozenset[str] = frozenset()  # loaded only by detached jobs (an event bus): users never wait there

    @property
    def bottleneck(self) -> tuple[str, float]:
        pool = self.offered or self.utilization
        name = max(pool, key=lambda k: (pool[k], k))
        return name, pool[name]

    @property
    def over_capacity(self) -> dict[str, float]:
        """Resources whose offered utilization is 100% or more, busiest first."""
        over = {k: v for k, v in self.offered.items() if v >= 1.0}
        return dict(sorted(over.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def queues_over_capacity(self) -> dict[str, float]:
        """Over capacity where work waits: no steady state exists."""
        return {k: v for k, v in self.over_capacity.items() if self.kinds.get(k, "queue") == "queue"}


def _reach(route) -> list[float]:
    reach = [0.0] * (len(route) + 1)
    reach[0] = 1.0
    for i, step in enumerate(route):
        p = reach[i]
        if p == 0.0:
            continue
        if step.op == Op.BRANCH:
            prev = 0.0
            for cum, target in step.branches:
                reach[target] += p * (cum - prev)
                prev = cum
        elif step.op == Op.JUMP:
            reach[step.jump] += p
        else:
            reach[i + 1] += p
    return reach


def _second_moment(dist) -> float:
    """E[S^2] of a service time: a Dist, or a DistSum of independent parts."""
    parts = getattr(dist, "parts", None)
    if parts is None:
        return dist.second_moment
    return sum(p.second_moment - p.mean**2 for p in parts) + sum(p.mean for p in parts) ** 2


def _step_time(net: NetworkSpec, step) -> float:
    if step.op == Op.SERVE:
        return step.dist.mean * net.stations[step.target].slowdown
    if step.op == Op.DELAY:
        return step.dist.mean
    if step.op == Op.STREAM:
        s = step.stream
        thinking = s.thinking_share * s.thinking.mean if s.thinking is not None else 0.0
        # E[tokens / rate] (by Monte Carlo at build time), not E[tokens] / E[rate]
        generating = s.mean_generation if s.mean_generation > 0 else s.tokens.mean / s.token_rate.mean
        return s.ttft.mean + thinking + generating
    return 0.0


def class_load(net: NetworkSpec, route, name: str) -> ClassLoad:
    load = ClassLoad(name)
    _walk(net, route, load, 1.0, on_path=True)
    return load


def _walk(net: NetworkSpec, route, load: ClassLoad, weight: float, on_path: bool) -> None:
    reach = _reach(route)
    open_pools: dict[int, float] = {}
    for i, step in enumerate(route):
        p = reach[i] * step.prob * weight
        if p == 0.0:
            continue
        t = _step_time(net, step)
        if on_path:
            for pool in open_pools:
                load.hold[pool] = load.hold.get(pool, 0.0) + p * t
        if step.op in (Op.SERVE, Op.DELAY, Op.STREAM):
            load.events += p
        if step.op == Op.SERVE:
            slow = net.stations[step.target].slowdown
            load.second[step.target] = load.second.get(step.target, 0.0) + p * _second_moment(step.dist) * slow * slow
            if on_path:
                load.visits[step.target] = load.visits.get(step.target, 0.0) + p
                load.demand[step.target] = load.demand.get(step.target, 0.0) + p * t
            else:
                load.side_visits[step.target] = load.side_visits.get(step.target, 0.0) + p
                load.side[step.target] = load.side.get(step.target, 0.0) + p * t
        elif step.op == Op.DELAY:
            if on_path:
                load.delay += p * t
        elif step.op == Op.STREAM:
            load.delay += p * t
            s = step.stream
            slices = 1.0 + max(s.mean_deltas - 1.0, 0.0) / s.slice_deltas
            for w in s.work:
                st = net.stations[w.station]
                work = s.mean_deltas * w.per_delta * st.slowdown
                load.side[w.station] = load.side.get(w.station, 0.0) + p * work
                load.side_visits[w.station] = load.side_visits.get(w.station, 0.0) + p * slices
                load.second[w.station] = load.second.get(w.station, 0.0) + p * work * work / slices
                load.events += p * slices * 2
        elif step.op == Op.ACQUIRE and on_path:
            open_pools[step.target] = p
            load.acquires[step.target] = load.acquires.get(step.target, 0.0) + p
        elif step.op == Op.RELEASE and on_path:
            open_pools.pop(step.target, None)
        elif step.op == Op.LIMIT:
            load.limited[step.target] = load.limited.get(step.target, 0.0) + p
        elif step.op == Op.PROVIDER:
            c = step.call
            if c.turns:
                total = sum(c.turns)
                tokens = sum(pr * tin for pr, tin in zip(c.turns, c.input_by_turn)) / total + (c.output.mean if c.output else 0.0)
            else:
                tokens = c.input_fixed + c.output_fixed
            load.calls[step.target] = load.calls.get(step.target, 0.0) + p
            load.tokens[step.target] = load.tokens.get(step.target, 0.0) + p * tokens
        elif step.op == Op.FORK:
            _walk(net, step.route or [], load, p, on_path=False)


def _mmc_wait(servers: int, lam: float, service: float) -> tuple[float, float]:
    """(utilization, mean wait) of an M/M/c queue; infinite wait at or above saturation."""
    if lam <= 0 or service <= 0:
        return 0.0, 0.0
    a = lam * service
    rho = a / servers
    if rho >= 1.0:
        return rho, math.inf
    return rho, erlang_c(servers, a) * service / (servers - a)


def screen(net: NetworkSpec, iterations: int = 60) -> Screen:
    loads = [class_load(net, cls.route, cls.name) for cls in net.classes]
    rates = {cls.name: (1.0 / cls.interarrival.mean if cls.interarrival is not None and cls.population == 0 else 0.0)
             for cls in net.classes}
    closed = [k for k, cls in enumerate(net.classes) if cls.population > 0]

    def evaluate(x_closed: dict[int, float]):
        lam = {k: x_closed.get(k, rates[cls.name]) for k, cls in enumerate(net.classes)}
        util: dict[str, float] = {}
        wait_station: dict[int, float] = {}
        ps_factor: dict[int, float] = {}
        for s_idx, st in enumerate(net.stations):
            visits = sum(lam[k] * (loads[k].visits.get(s_idx, 0.0) + loads[k].side_visits.get(s_idx, 0.0)) for k in lam)
            demand = sum(lam[k] * (loads[k].demand.get(s_idx, 0.0) + loads[k].side.get(s_idx, 0.0)) for k in lam)
            if visits <= 0 or demand <= 0:
                util[st.name] = 0.0
                wait_station[s_idx] = 0.0
                continue
            if st.discipline == IS:
                util[st.name] = demand / st.instances      # mean number in service (no waiting)
                wait_station[s_idx] = 0.0
                continue
            if st.discipline == PS and st.servers == 1:
                # processor sharing: a job of size x takes x / (1 - rho) (M/G/1-PS, any size
                # distribution), so a class waits rho / (1 - rho) times its own demand
                rho = demand / (st.instances * st.servers)
                util[st.name] = rho
                ps_factor[s_idx] = rho / (1.0 - rho) if rho < 1.0 else math.inf
                wait_station[s_idx] = 0.0
                continue
            if st.servers == 1:
                # one server, first come first served (a FIFO event loop, Redis): Pollaczek-Khinchine
                # with the mix's second moment, W = sum(lambda E[S^2]) / (2 (1 - rho)), M/G/1
                rho = demand / st.instances
                second = sum(lam[k] * loads[k].second.get(s_idx, 0.0) for k in lam) / st.instances
                util[st.name] = rho
                wait_station[s_idx] = second / (2.0 * (1.0 - rho)) if rho < 1.0 else math.inf
                continue
            rho, w = _mmc_wait(st.servers, visits / st.instances, demand / visits)
            util[st.name] = rho
            wait_station[s_idx] = w
        wait_pool: dict[int, float] = {}
        for p_idx, pool in enumerate(net.pools):
            acquires = sum(lam[k] * loads[k].acquires.get(p_idx, 0.0) for k in lam)
            held = sum(lam[k] * loads[k].hold.get(p_idx, 0.0) for k in lam)
            if acquires <= 0:
                util[pool.name] = 0.0
                wait_pool[p_idx] = 0.0
                continue
            hold = held / acquires
            per_instance = acquires / pool.instances
            a = per_instance * hold
            if pool.loss:
                # a connection cap: the load offered to it in Erlangs per slot (what it carries is
                # a (1 - B) / size; past 100% most of it is refused)
                util[pool.name] = a / pool.size
                wait_pool[p_idx] = 0.0
            else:
                rho, w = _mmc_wait(pool.size, per_instance, hold)
                util[pool.name] = rho
                wait_pool[p_idx] = w
        for l_idx, lim in enumerate(net.limits):
            counted = sum(lam[k] * loads[k].limited.get(l_idx, 0.0) for k in lam)
            if counted > 0:
                # requests per key per window against the limit (keys share the traffic evenly)
                util[f"rate limit {lim.name}"] = counted / lim.keys * lim.window_s / lim.limit
        for pr_idx, pr in enumerate(net.providers):
            calls = sum(lam[k] * loads[k].calls.get(pr_idx, 0.0) for k in lam)
            tokens = sum(lam[k] * loads[k].tokens.get(pr_idx, 0.0) for k in lam)
            if pr.rpm is not None:
                util["llm.rpm"] = calls * 60.0 / pr.rpm
            if pr.tpm is not None:
                util["llm.tpm"] = tokens * 60.0 / pr.tpm
        response = {}
        for k, cls in enumerate(net.classes):
            load = loads[k]
            r = load.delay + sum(load.demand.values())
            r += sum(load.visits[s] * wait_station[s] for s in load.visits)
            r += sum(d * ps_factor[s] for s, d in load.demand.items() if s in ps_factor and d > 0)
            r += sum(load.acquires[p] * wait_pool[p] for p in load.acquires)
            response[cls.name] = r
        return lam, util, response

    # Offered: closed classes at their no-wait rate N / (Z + R0).
    x_offered = {}
    for k in closed:
        cls = net.classes[k]
        z = cls.think.mean if cls.think else 0.0
        x_offered[k] = cls.population / (z + loads[k].delay + sum(loads[k].demand.values()))
    lam_offered, offered, _ = evaluate(x_offered)

    # Carried: X = N / (Z + R(X)) with R increasing in X, so X - N / (Z + R(X)) is increasing and
    # its root is found by bisection between 0 and the no-waiting bound N / (Z + D).
    x = {k: 0.0 for k in closed}
    for _ in range(3 if len(closed) > 1 else 1):
        for k in closed:
            cls = net.classes[k]
            z = cls.think.mean if cls.think else 0.0
            lo, hi = 0.0, x_offered[k]
            for _ in range(iterations):
                mid = 0.5 * (lo + hi)
                x[k] = mid
                _, _, response = evaluate(x)
                r = response[cls.name]
                if math.isfinite(r) and mid <= cls.population / (z + r):
                    lo = mid
                else:
                    hi = mid
                if hi - lo <= 1e-6 * hi:
                    break
            x[k] = lo
    lam, util, response = evaluate(x)
    throughput = {cls.name: lam[k] for k, cls in enumerate(net.classes)}
    saturated = (any(v >= SATURATION for v in util.values()) or any(not math.isfinite(r) for r in response.values())
                 or any(v >= 1.0 for v in offered.values()))
    events = sum(lam_offered[k] * loads[k].events for k in lam_offered)
    kinds = {st.name: "queue" for st in net.stations}
    off_path = frozenset(st.name for st in net.stations if st.kind == "event_bus")
    kinds.update({p.name: "limit" if p.loss or p.queue_limit is not None else "queue" for p in net.pools})
    kinds.update({name: "limit" for name in util if name.startswith(("rate limit ", "llm."))})
    return Screen(throughput=throughput, response=response, utilization=util, saturated=saturated,
                  events_per_s=events, offered=offered,
                  offered_throughput={cls.name: lam_offered[k] for k, cls in enumerate(net.classes)}, kinds=kinds,
                  off_path=off_path)
