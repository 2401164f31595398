"""The analytic screen: offered utilization and mean response per class, from the compiled network.

Per-station service demands come from walking each route with its branch probabilities. Open
classes bring their arrival rate; a closed class's throughput is found by a fixed point
X = N / (Z + R(X)), where R adds Erlang C (M/M/c) waiting at every station and pool to the
service and delay times. It is an approximation (the simulator is the reference), printed beside
the simulated figure so a reader sees both, and used by the planner to skip sizings that cannot
work. Stations are treated per instance with their own servers; load is spread evenly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from capplan.analytic import erlang_b, erlang_c
from capplan.sim.spec import NetworkSpec, Op


@dataclass
class ClassLoad:
    name: str
    visits: dict[int, float] = field(default_factory=dict)     # station -> expected visits
    demand: dict[int, float] = field(default_factory=dict)     # station -> expected service seconds
    hold: dict[int, float] = field(default_factory=dict)       # pool -> expected holding seconds
    acquires: dict[int, float] = field(default_factory=dict)   # pool -> expected acquisitions
    background: dict[int, float] = field(default_factory=dict)  # station -> server-seconds of stream load
    delay: float = 0.0                                          # expected pure delay seconds
    events: float = 1.0                                         # expected engine events per request


@dataclass
class Screen:
    throughput: dict[str, float]            # class -> requests per second
    response: dict[str, float]              # class -> mean response seconds
    utilization: dict[str, float]           # resource -> offered utilization (per instance, even spread)
    saturated: bool
    events_per_s: float = 0.0               # expected engine events per simulated second (sizes runs)

    @property
    def bottleneck(self) -> tuple[str, float]:
        name = max(self.utilization, key=lambda k: (self.utilization[k], k))
        return name, self.utilization[name]


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


def _step_time(net: NetworkSpec, step) -> float:
    if step.op == Op.SERVE:
        return step.dist.mean * net.stations[step.target].slowdown
    if step.op == Op.DELAY:
        return step.dist.mean
    if step.op == Op.STREAM:
        s = step.stream
        return s.ttft.mean + s.tokens.mean / s.token_rate.mean
    return 0.0


def class_load(net: NetworkSpec, route, name: str) -> ClassLoad:
    load = ClassLoad(name)
    reach = _reach(route)
    open_pools: dict[int, float] = {}
    for i, step in enumerate(route):
        p = reach[i] * step.prob
        if p == 0.0:
            continue
        t = _step_time(net, step)
        for pool in open_pools:
            load.hold[pool] = load.hold.get(pool, 0.0) + p * t
        if step.op in (Op.SERVE, Op.DELAY, Op.STREAM):
            load.events += p
        if step.op == Op.SERVE:
            load.visits[step.target] = load.visits.get(step.target, 0.0) + p
            load.demand[step.target] = load.demand.get(step.target, 0.0) + p * t
        elif step.op in (Op.DELAY, Op.STREAM):
            load.delay += p * t
            if step.op == Op.STREAM:
                s = step.stream
                generating = s.tokens.mean / s.token_rate.mean   # first token to last
                for st_index, per_stream, _bound in s.background:
                    load.background[st_index] = load.background.get(st_index, 0.0) + p * generating * per_stream
        elif step.op == Op.ACQUIRE:
            open_pools[step.target] = p
            load.acquires[step.target] = load.acquires.get(step.target, 0.0) + p
        elif step.op == Op.RELEASE:
            open_pools.pop(step.target, None)
    return load


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
        stretch: dict[int, float] = {}
        for s_idx, st in enumerate(net.stations):
            total_visits = sum(lam[k] * loads[k].visits.get(s_idx, 0.0) for k in lam)
            total_demand = sum(lam[k] * loads[k].demand.get(s_idx, 0.0) for k in lam)
            if total_visits <= 0:
                background = sum(lam[k] * loads[k].background.get(s_idx, 0.0) for k in lam) / (st.instances * st.servers)
                util[st.name] = background
                wait_station[s_idx] = 0.0
                continue
            mean_service = total_demand / total_visits
            per_instance = total_visits / st.instances
            background = sum(lam[k] * loads[k].background.get(s_idx, 0.0) for k in lam) / (st.instances * st.servers)
            if background > 0:
                # foreground jobs interleave with stream work: service stretched by 1/(1-u_bg)
                if background >= 1.0:
                    util[st.name], wait_station[s_idx], stretch[s_idx] = background, math.inf, math.inf
                    continue
                stretch[s_idx] = 1.0 / (1.0 - background)
                rho, w = _mmc_wait(st.servers, per_instance, mean_service * stretch[s_idx])
                util[st.name] = per_instance * mean_service / st.servers + background
                wait_station[s_idx] = w if util[st.name] < 1.0 else math.inf
                continue
            rho, w = _mmc_wait(st.servers, per_instance, mean_service)
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
                util[pool.name] = a * (1 - erlang_b(pool.size, a)) / pool.size if a > 0 else 0.0
                wait_pool[p_idx] = 0.0
            else:
                rho, w = _mmc_wait(pool.size, per_instance, hold)
                util[pool.name] = rho
                wait_pool[p_idx] = w
        response = {}
        for k, cls in enumerate(net.classes):
            load = loads[k]
            r = load.delay + sum(d * stretch.get(s, 1.0) for s, d in load.demand.items())
            r += sum(load.visits[s] * wait_station[s] for s in load.visits)
            r += sum(load.acquires[p] * wait_pool[p] for p in load.acquires)
            response[cls.name] = r
        return lam, util, response

    # Closed classes: X = N / (Z + R(X)) with R increasing in X, so X - N / (Z + R(X)) is increasing
    # and its root is found by bisection between 0 and the no-waiting bound N / (Z + D).
    x = {k: 0.0 for k in closed}
    for _ in range(3 if len(closed) > 1 else 1):
        for k in closed:
            cls = net.classes[k]
            z = cls.think.mean if cls.think else 0.0
            lo, hi = 0.0, cls.population / (z + loads[k].delay + sum(loads[k].demand.values()))
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
    saturated = any(u >= 0.95 for u in util.values()) or any(not math.isfinite(r) for r in response.values())
    events = sum(lam[k] * loads[k].events for k in lam)
    return Screen(throughput=throughput, response=response, utilization=util, saturated=saturated,
                  events_per_s=events)
