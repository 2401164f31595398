"""One replication of a compiled network on a SimPy environment.

Hot-path design: customers are small slotted objects moved through a flat list of steps by
callbacks of events on SimPy's event queue (run by ``Environment.run``), instead of one generator
process per customer and ``simpy.Resource`` requests. Stations, pools and replica groups are plain counters and
deques. This keeps the event count at about one SimPy event per service or delay, which is what
makes the engine faster than a textbook SimPy loop on the same queue (see bench/throughput.py).
"""

from __future__ import annotations

from heapq import heappush

import numpy as np
from simpy import Environment
from simpy.events import NORMAL

from capplan.sim.sampling import batch_sampler, uniform_sampler
from capplan.sim.result import ReplicationResult
from capplan.sim.spec import NetworkSpec, Op, Step
from capplan.sim.stations import Customer, HeapEvent, GroupState, PoolState, RuntimeStep, RuntimeStream, StationState
from capplan.sim.stats import Histogram

SERVE, DELAY, ACQUIRE, RELEASE, BIND, STREAM, MARK, LIMIT, BRANCH, JUMP = (
    int(Op.SERVE), int(Op.DELAY), int(Op.ACQUIRE), int(Op.RELEASE), int(Op.BIND),
    int(Op.STREAM), int(Op.MARK), int(Op.LIMIT), int(Op.BRANCH), int(Op.JUMP))


def run_replication(net: NetworkSpec, seed: np.random.SeedSequence, duration: float, warmup: float) -> ReplicationResult:
    """Simulate ``warmup + duration`` seconds and return statistics of the last ``duration``."""
    return _Replication(net, seed).run(duration, warmup)


class _Replication:
    def __init__(self, net: NetworkSpec, seed: np.random.SeedSequence):
        self.net = net
        self.env = env = Environment()
        queue = env._queue
        eid = env._eid

        def at(delay, value, callback):
            heappush(queue, (env._now + delay, NORMAL, next(eid), HeapEvent(callback, value)))

        self.at = at
        # One independent stream per consumer, in a fixed order: samplers of steps, arrivals,
        # think times, routing choices. Adding a step elsewhere never shifts these streams.
        self._seeds = iter(seed.spawn(4096))
        self.recording = False
        self.groups = [GroupState(g) for g in net.groups]
        for g in self.groups:
            g.pick = self._make_group_picker(g)
        self.stations = [StationState(s, self._instance_picker(s.instances, s.group)) for s in net.stations]
        self.pools = [PoolState(p, self._instance_picker(p.instances, p.group)) for p in net.pools]
        self.metrics = [Histogram() for _ in net.metrics]
        self.limits = [(l.limit, l.window_s, l.users_per_key, [-1] * l.keys, [0] * l.keys) for l in net.limits]
        self.rejected: dict[str, int] = {}
        self.arrivals = 0
        self.completed = 0
        self.run_entered = 0
        self.run_completed = 0
        self.run_rejected = 0
        self.streams_total = 0
        self.streams_long = 0
        self.streams_cut = 0
        self.longest_stream = 0.0
        self.peak_memory = [[g.mem_base] * g.n for g in self.groups]
        self.uniform = uniform_sampler(self._rng())
        self.classes = []
        for cls in net.classes:
            route = self._compile_route(cls.route)
            self.classes.append((cls, route))

    # -- set-up helpers -------------------------------------------------------------------------
    def _rng(self):
        return np.random.default_rng(next(self._seeds))

    def _instance_picker(self, instances: int, group: int):
        if instances <= 1:
            return None
        if group >= 0:
            return None  # bound: the customer's replica of that group
        rng = self._rng()

        def stream():
            while True:
                yield from rng.integers(0, instances, 2048).tolist()

        return stream().__next__

    def _make_group_picker(self, g: GroupState):
        if g.policy == "random":
            rng = self._rng()
            n = g.n

            def stream():
                while True:
                    yield from rng.integers(0, n, 2048).tolist()

            nxt = stream().__next__
            return lambda: nxt()
        if g.policy == "least_conn":
            active = g.active
            n = g.n

            def least_conn():
                # fewest active requests; ties rotate like nginx's round robin among equals
                lowest = min(active)
                start = g.rr
                for k in range(n):
                    i = (start + k) % n
                    if active[i] == lowest:
                        g.rr = (i + 1) % n
                        return i
                return start  # pragma: no cover

            return least_conn

        def round_robin():
            i = g.rr
            g.rr = (i + 1) % g.n
            return i

        return round_robin

    def _compile_route(self, steps: list[Step]) -> list[RuntimeStep]:
        out = []
        for step in steps:
            r = RuntimeStep()
            r.op = int(step.op)
            r.prob = step.prob
            r.branches = step.branches
            r.jump = step.jump
            r.sample = batch_sampler(step.dist, self._rng()) if step.dist is not None else None
            r.stream = None
            if step.op == Op.SERVE:
                r.target = self.stations[step.target]
            elif step.op in (Op.ACQUIRE, Op.RELEASE):
                r.target = self.pools[step.target]
            elif step.op in (Op.BIND,):
                r.target = self.groups[step.target]
            else:
                r.target = step.target
            if step.stream is not None:
                s = step.stream
                rs = RuntimeStream()
                rs.ttft = batch_sampler(s.ttft, self._rng())
                rs.tokens = batch_sampler(s.tokens, self._rng())
                rs.rate = batch_sampler(s.token_rate, self._rng())
                rs.metric = s.ttft_metric
                rs.idle = s.idle_timeout_s
                rs.background = []
                for st_index, per_stream, bound in s.background:
                    station = self.stations[st_index]
                    if station.servers != 1:
                        raise ValueError(f"background load needs a single-server station, not {station.name}")
                    station.has_bg = True
                    rs.background.append((station, per_stream, bound))
                r.stream = rs
            out.append(r)
        return out

    # -- running ---------------------------------------------------------------------------------
    def run(self, duration: float, warmup: float) -> ReplicationResult:
        env = self.env
        for cls, route in self.classes:
            if cls.population > 0:
                self._start_closed(cls, route)
            elif cls.interarrival is not None:
                self._start_open(cls, route)
        if warmup > 0:
            self.at(warmup, None, self._end_warmup)
        else:
            self._end_warmup(None)
        env.run(until=warmup + duration)
        return self._collect(duration)

    def _start_open(self, cls, route):
        env = self.env
        ia = batch_sampler(cls.interarrival, self._rng())
        users = max(cls.users, 1)
        user_rng = self._rng()

        def user_stream():
            while True:
                yield from user_rng.integers(0, users, 2048).tolist()

        next_user = user_stream().__next__ if users > 1 else (lambda: 0)
        advance = self.advance

        def arrive(event):
            c = Customer(cls, route, next_user())
            c.t0 = env._now
            self.run_entered += 1
            if self.recording:
                self.arrivals += 1
            self.at(ia(), None, arrive)
            advance(c)

        self.at(ia(), None, arrive)

    def _start_closed(self, cls, route):
        think = batch_sampler(cls.think, self._rng()) if cls.think is not None else (lambda: 0.0)
        start_rng = self._rng()
        offsets = start_rng.random(cls.population).tolist()
        for user in range(cls.population):
            c = Customer(cls, route, user)
            # Start each user part-way through a think time, near the stationary state.
            self.at(think() * offsets[user], c, self._begin)
        self._think = getattr(self, "_think", {})
        self._think[id(cls)] = think

    def _begin(self, event):
        c = event._value
        c.idx = 0
        c.t0 = self.env._now
        self.run_entered += 1
        if self.recording:
            self.arrivals += 1
        self.advance(c)

    def _end_warmup(self, event):
        now = self.env._now
        for st in self.stations:
            for i in range(st.n):
                self._touch_station(st, i, now)
                st.area_b[i] = 0.0
                st.area_n[i] = 0.0
                st.area_bg[i] = 0.0
                st.done[i] = 0
            st.rejects = 0
        for p in self.pools:
            p.rejects = 0
            for i in range(p.n):
                self._touch_pool(p, i, now)
                p.area[i] = 0.0
        for gi, g in enumerate(self.groups):
            for i in range(g.n):
                self._touch_group(g, i, now)
                g.area_streams[i] = 0.0
                g.peak_streams[i] = g.streams[i]
                self.peak_memory[gi][i] = g.mem_base + g.streams[i] * g.mem_per_stream
        self.recording = True
        self.t_start = now

    @staticmethod
    def _touch_station(st, i, now):
        dt = now - st.last[i]
        if dt:
            b = st.busy[i]
            st.area_b[i] += b * dt
            st.area_n[i] += (b + len(st.queue[i])) * dt
            if b == 0 and st.has_bg:
                st.area_bg[i] += min(st.bg[i], 1.0) * dt
            st.last[i] = now

    @staticmethod
    def _touch_pool(p, i, now):
        dt = now - p.last[i]
        if dt:
            p.area[i] += p.held[i] * dt
            p.last[i] = now

    @staticmethod
    def _touch_group(g, i, now):
        dt = now - g.last[i]
        if dt:
            g.area_streams[i] += g.streams[i] * dt
            g.last[i] = now

    def _reject(self, c, reason: str):
        self.run_rejected += 1
        if self.recording:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        self._release_all(c)
        self._unbind(c)
        self._next_cycle(c)

    def _release_all(self, c):
        if c.held:
            for pool, i in list(c.held.items()):
                self._release(pool, i)
            c.held = None

    def _unbind(self, c):
        g = c.grp
        if g is not None:
            g.active[c.inst] -= 1
            c.grp = None

    def _next_cycle(self, c):
        cls = c.cls
        if cls.population > 0:
            self.at(self._think[id(cls)](), c, self._begin)

    def _finish(self, c):
        now = self.env._now
        self.run_completed += 1
        cls = c.cls
        if self.recording:
            self.completed += 1
            if cls.metric >= 0:
                self.metrics[cls.metric].add(now - c.t0)
        self._release_all(c)
        self._unbind(c)
        self._next_cycle(c)

    # -- the interpreter -------------------------------------------------------------------------
    def advance(self, c):
        env = self.env
        at = self.at
        route = c.route
        n = len(route)
        while True:
            idx = c.idx
            if idx >= n:
                self._finish(c)
                return
            step = route[idx]
            c.idx = idx + 1
            if step.prob < 1.0 and self.uniform() >= step.prob:
                continue
            op = step.op
            if op == SERVE:
                st = step.target
                if st.pick is not None:
                    i = st.pick()
                elif st.group >= 0:
                    i = c.inst % st.n
                else:
                    i = 0
                now = env._now
                busy = st.busy[i]
                q = st.queue[i]
                # time-weighted areas up to now
                dt = now - st.last[i]
                if dt:
                    st.area_b[i] += busy * dt
                    st.area_n[i] += (busy + len(q)) * dt
                    if busy == 0 and st.has_bg:
                        st.area_bg[i] += min(st.bg[i], 1.0) * dt
                    st.last[i] = now
                c.st = st
                c.si = i
                if busy < st.servers:
                    st.busy[i] = busy + 1
                    if self.recording:
                        st.waits.buffer.append(0.0)
                    at(step.sample() * st.slow * st.stretch[i], c, self._served)
                    return
                if st.cap is not None and busy + len(q) >= st.cap:
                    if self.recording:
                        st.rejects += 1
                    self._reject(c, f"{st.name} full")
                    return
                c.svc = step.sample() * st.slow
                c.tq = now
                q.append(c)
                return
            if op == DELAY:
                at(step.sample(), c, self._resume)
                return
            if op == MARK:
                if self.recording:
                    self.metrics[step.target].add(env._now - c.t0)
                continue
            if op == BRANCH:
                u = self.uniform()
                for cum, target in step.branches:
                    if u < cum:
                        c.idx = target
                        break
                continue
            if op == JUMP:
                c.idx = step.jump
                continue
            if op == BIND:
                g = step.target
                if c.grp is not None:
                    c.grp.active[c.inst] -= 1
                i = g.pick() if g.n > 1 else 0
                g.active[i] += 1
                c.grp = g
                c.inst = i
                continue
            if op == ACQUIRE:
                p = step.target
                i = (c.inst % p.n if p.group >= 0 else p.pick()) if p.n > 1 else 0
                now = env._now
                self._touch_pool(p, i, now)
                if p.held[i] < p.size:
                    p.held[i] += 1
                    if c.held is None:
                        c.held = {}
                    c.held[p] = i
                    if self.recording:
                        p.waits.buffer.append(0.0)
                    continue
                if p.loss:
                    if self.recording:
                        p.rejects += 1
                    self._reject(c, f"{p.name} full")
                    return
                c.tq = now
                c.si = i
                p.queue[i].append(c)
                return
            if op == RELEASE:
                p = step.target
                if c.held is not None and p in c.held:
                    i = c.held.pop(p)
                    self._release(p, i)
                continue
            if op == LIMIT:
                limit, window, per_key, windows, counts = self.limits[step.target]
                key = c.user // per_key
                w = int(env._now // window)
                if windows[key] != w:
                    windows[key] = w
                    counts[key] = 0
                if counts[key] >= limit:
                    self._reject(c, f"rate limit {self.net.limits[step.target].name}")
                    return
                counts[key] += 1
                continue
            if op == STREAM:
                self._stream(c, step.stream)
                return
            raise RuntimeError(f"unknown op {op}")  # pragma: no cover

    def _resume(self, event):
        self.advance(event._value)

    def _served(self, event):
        c = event._value
        st = c.st
        i = c.si
        now = self.env._now
        q = st.queue[i]
        busy = st.busy[i]
        dt = now - st.last[i]
        if dt:
            st.area_b[i] += busy * dt
            st.area_n[i] += (busy + len(q)) * dt
            st.last[i] = now
        st.done[i] += 1
        if q:
            nxt = q.popleft()
            if self.recording:
                st.waits.buffer.append(now - nxt.tq)
            self.at(nxt.svc * st.stretch[i], nxt, self._served)
        else:
            st.busy[i] = busy - 1
        self.advance(c)

    def _release(self, p, i):
        now = self.env._now
        self._touch_pool(p, i, now)
        q = p.queue[i]
        if q:
            nxt = q.popleft()
            if nxt.held is None:
                nxt.held = {}
            nxt.held[p] = i
            if self.recording:
                p.waits.add(now - nxt.tq)
            self.at(0.0, nxt, self._resume)
        else:
            p.held[i] -= 1

    # -- SSE streams ---------------------------------------------------------------------------
    def _stream(self, c, s):
        env = self.env
        now = env._now
        ttft = s.ttft()
        rate = s.rate()
        duration = ttft + (s.tokens() / rate if rate > 0 else 0.0)
        g = c.grp
        if self.recording:
            self.metrics[s.metric].add(now + ttft - c.t0)
            self.streams_total += 1
            if duration > self.longest_stream:
                self.longest_stream = duration
            if s.idle is not None:
                if duration > s.idle:
                    self.streams_long += 1
                if ttft > s.idle:
                    self.streams_cut += 1
        if g is not None:
            i = c.inst
            self._touch_group(g, i, now)
            g.streams[i] += 1
            if g.streams[i] > g.peak_streams[i]:
                g.peak_streams[i] = g.streams[i]
            gi = self.groups.index(g)
            mem = g.mem_base + g.streams[i] * g.mem_per_stream
            if mem > self.peak_memory[gi][i]:
                self.peak_memory[gi][i] = mem
        if s.background:
            self.at(ttft, (c.inst, s.background, 1.0), self._background)
            self.at(duration, (c.inst, s.background, -1.0), self._background)
        self.at(duration, c, self._stream_end)

    def _background(self, event):
        """A stream starts (sign +1, at its first token) or stops (-1) loading its stations."""
        inst, background, sign = event._value
        now = self.env._now
        for st, per_stream, bound in background:
            targets = (inst % st.n,) if bound else range(st.n)
            share = per_stream if bound else per_stream / st.n
            for i in targets:
                self._touch_station(st, i, now)
                load = st.bg[i] + sign * share
                if load < 1e-12:
                    load = 0.0
                st.bg[i] = load
                # work interleaved with the stream deltas takes 1/(1-u) as long (capped when the
                # streams alone would overload the server: utilization then reads >= 1)
                st.stretch[i] = 1.0 / (1.0 - min(load, 0.99))

    def _stream_end(self, event):
        c = event._value
        g = c.grp
        if g is not None:
            i = c.inst
            self._touch_group(g, i, self.env._now)
            g.streams[i] -= 1
        self.advance(c)

    def _count_in_flight(self) -> int:
        """Customers inside the system at the end, counted where they are (not by subtraction):
        in service, delay or stream (a pending event carrying the customer, other than the start of
        a user's next request) or waiting in a station or pool queue."""
        count = 0
        begin = self._begin
        for _, _, _, ev in self.env._queue:
            if isinstance(getattr(ev, "_value", None), Customer) and ev.callbacks and ev.callbacks[0] != begin:
                count += 1
        for st in self.stations:
            count += sum(len(q) for q in st.queue)
        for p in self.pools:
            count += sum(len(q) for q in p.queue)
        return count

    # -- results ---------------------------------------------------------------------------------
    def _collect(self, duration: float) -> ReplicationResult:
        now = self.env._now
        span = now - self.t_start if self.recording else 0.0
        span = span or duration
        station_util, station_in_system, station_throughput, station_waits, station_rejects = {}, {}, {}, {}, {}
        for st in self.stations:
            for i in range(st.n):
                self._touch_station(st, i, now)
            station_util[st.name] = [(a + bg) / (span * st.servers) for a, bg in zip(st.area_b, st.area_bg)]
            station_in_system[st.name] = sum(st.area_n) / span
            station_throughput[st.name] = sum(st.done) / span
            st.waits.flush()
            station_waits[st.name] = st.waits
            station_rejects[st.name] = st.rejects
        pool_util, pool_waits, pool_rejects = {}, {}, {}
        for p in self.pools:
            for i in range(p.n):
                self._touch_pool(p, i, now)
            pool_util[p.name] = [a / (span * p.size) for a in p.area]
            p.waits.flush()
            pool_waits[p.name] = p.waits
            pool_rejects[p.name] = p.rejects
        mean_streams, peak_streams, peak_mem, mem_limit = {}, {}, {}, {}
        for gi, g in enumerate(self.groups):
            for i in range(g.n):
                self._touch_group(g, i, now)
            mean_streams[g.name] = [a / span for a in g.area_streams]
            peak_streams[g.name] = list(g.peak_streams)
            peak_mem[g.name] = list(self.peak_memory[gi])
            mem_limit[g.name] = g.mem_limit
        for h in self.metrics:
            h.flush()
        in_flight = self._count_in_flight()
        return ReplicationResult(
            measured_time=span,
            metrics={name: h for name, h in zip(self.net.metrics, self.metrics)},
            station_util=station_util, station_in_system=station_in_system,
            station_throughput=station_throughput, station_waits=station_waits,
            station_rejects=station_rejects, pool_util=pool_util, pool_waits=pool_waits,
            pool_rejects=pool_rejects, group_mean_streams=mean_streams,
            group_peak_streams=peak_streams, group_peak_memory_mib=peak_mem,
            group_memory_limit_mib=mem_limit, rejected=dict(sorted(self.rejected.items())),
            arrivals=self.arrivals, completed=self.completed, streams_total=self.streams_total,
            streams_over_idle_timeout=self.streams_long,
            streams_silent_over_idle_timeout=self.streams_cut, longest_stream_s=self.longest_stream,
            run_entered=self.run_entered, run_completed=self.run_completed,
            run_rejected=self.run_rejected, run_in_flight=in_flight,
        )
