"""One replication of a compiled network on a SimPy environment.

Hot-path design: customers are small slotted objects moved through a flat list of steps by
callbacks of events on SimPy's event queue (run by ``Environment.run``), instead of one generator
process per customer and ``simpy.Resource`` requests. Stations, pools and replica groups are plain
counters, deques and heaps. This keeps the event count at about one SimPy event per service or
delay, which is what makes the engine faster than a textbook SimPy loop on the same queue (see
bench/throughput.py).

Stations are work-conserving servers: FCFS queues, processor sharing (the Node event loop, where
request handlers and stream deltas interleave) or infinite servers. A stream's deltas are jobs at
its stations like any request's work, so no station ever does more work per second than it has
servers, and when one saturates both requests and streams slow down.

Steady state: the measured window is cut into micro-batches; the warm-up that MSER-5 (capplan.sim.
steady) finds in the number of customers present is discarded after the run (all counters are
snapshotted at the candidate truncation points), and the rest is tested for a growing trend.

Memory: statistics are bounded histograms whose sample buffers a recurring flush event empties
(FLUSH_* below), so they do not grow with the run length. The one exception is the (longest silence,
length) pair per stream that the timer cuts need: 8 bytes a stream (float32 C arrays).
"""

from __future__ import annotations

import itertools

import math
from array import array
from heapq import heappop, heappush

import numpy as np
from simpy import Environment
from simpy.events import NORMAL

from capplan.sim import steady
from capplan.sim.result import ReplicationResult, StationDetail
from capplan.sim.sampling import batch_sampler, residual_sampler, uniform_sampler
from capplan.sim.spec import BOUND, KEYED, OTHER, NetworkSpec, Op, Step
from capplan.sim.stations import (Customer, GroupState, HeapEvent, PoolState, ProviderState, RuntimeCall,
                                  RuntimeStep, RuntimeStream, StationState)
from capplan.sim.stats import Histogram

SERVE, DELAY, ACQUIRE, RELEASE, BIND, STREAM, MARK, LIMIT, BRANCH, JUMP, PROVIDER, FORK = (
    int(Op.SERVE), int(Op.DELAY), int(Op.ACQUIRE), int(Op.RELEASE), int(Op.BIND), int(Op.STREAM),
    int(Op.MARK), int(Op.LIMIT), int(Op.BRANCH), int(Op.JUMP), int(Op.PROVIDER), int(Op.FORK))
FAIL = int(Op.FAIL)
FCFS_, PS_, IS_ = 0, 1, 2
INF = float("inf")

MICRO_BATCHES = 200          # the measured window in equal time slices: MSER-5's raw observations
MSER_BATCH = 5               # MSER-5 groups 5 observations; truncation candidates every 5 micro-batches
MSER_MAX_FRACTION = 0.5      # at most the first half of the window may be discarded
TREND_BATCHES = 10           # the kept window's in-system series, averaged into this many batches

# Histogram buffers. The hot path appends each sample to its histogram's plain list (one list append,
# no method call); a recurring flush event on the simulated clock bins them. Flushing only at the
# micro-batch boundaries made a buffer hold a whole micro-batch, i.e. 1/200 of the run's samples:
# memory grew linearly with the run length. The flush interval adapts to the load instead, so the
# largest buffer stays at a few thousand samples whatever the run length or arrival rate. Flush
# timing changes nothing but the order in which sums of samples are added (bins, counts, zeros and
# maxima are exact), and it runs on simulated time, so a seed still gives byte-identical results.
FLUSH_FIRST_S = 1.0          # simulated seconds to the first flush event
FLUSH_MIN_S = 1e-6           # the shortest flush interval; the longest is a micro-batch (the old
                             # flush period: never worse than that, and few events on an idle network)
FLUSH_ABOVE = 1024           # a flush event bins the buffers holding more samples than this (the
                             # fixed cost of a flush, ~6,000 bins, is then spread over >1,000 samples)
FLUSH_HIGH = 4096            # largest buffer above this: the interval shrinks (at least halves) ...
FLUSH_TARGET = 2048          # ... to what would have held about this many samples
FLUSH_LOW = 1024             # largest buffer below this: the interval doubles


def run_replication(net: NetworkSpec, seed: np.random.SeedSequence, duration: float, warmup: float,
                    truncate: bool = True) -> ReplicationResult:
    """Simulate ``warmup + duration`` seconds; statistics of the measured window after the warm-up
    (and, with ``truncate``, after the further initial part MSER-5 finds still transient)."""
    return _Replication(net, seed).run(duration, warmup, truncate)


def _sent_by(c, now: float) -> int:
    """Deltas of ``c``'s current slice the provider has sent by ``now`` (its first at ``c.srel``)."""
    return 1 + int((now - c.srel) / c.sint) if c.sint > 0.0 else c.sleft


class _Replication:
    def __init__(self, net: NetworkSpec, seed: np.random.SeedSequence):
        self.net = net
        self.env = env = Environment()
        queue = env._queue
        eid = env._eid

        def at(delay, value, callback):
            heappush(queue, (env._now + delay, NORMAL, next(eid), HeapEvent(callback, value)))

        self.at = at
        self._queue = queue
        self._eid = eid
        # One independent stream per consumer, in a fixed order: samplers of steps, arrivals,
        # think times, routing choices. Adding a step elsewhere never shifts these streams.
        # (spawned one at a time: the same children, in the same order, as spawn(4096) up front,
        # without paying ~70 ms per replication for the thousands a run never uses)
        self._seeds = (seed.spawn(1)[0] for _ in itertools.count())
        self.recording = False
        self.t_start = 0.0
        self._seq = 0
        n_classes = len(net.classes) + self._count_forks(net)
        self.groups = [GroupState(g) for g in net.groups]
        for g in self.groups:
            g.pick = self._make_group_picker(g)
        self.stations = [StationState(s, self._instance_picker(s.instances, s.group), n_classes, net.detail,
                                      net.state_limit) for s in net.stations]
        self.pools = [PoolState(p, self._instance_picker(p.instances, p.group)) for p in net.pools]
        self.providers = [ProviderState(p) for p in net.providers]
        self.metrics = [Histogram() for _ in net.metrics]
        self.limits = [(lim.limit, lim.window_s, lim.users_per_key, [-1] * lim.keys, [0] * lim.keys)
                       for lim in net.limits]
        self.rejected: dict[str, int] = {}
        self.arrivals = 0
        self.completed = 0
        self.forked = 0
        self.run_entered = 0
        self.run_completed = 0
        self.run_rejected = 0
        self.streams_total = 0
        self.longest_stream = 0.0
        # each stream's (longest silence, length), kept for the timer cuts: 4 bytes a value in C
        # arrays (a list of Python floats costs 32), float32 like the result fields they become
        self.stream_gaps = array("f")
        self.stream_totals = array("f")
        # customers present (requests in progress and event jobs), time-weighted without touching an
        # area at every entry and exit: the area up to t is sum(exit times) - sum(entry times) + present x t
        self.present = 0
        self.sum_in = 0.0
        self.sum_out = 0.0
        self.uniform = uniform_sampler(self._rng())
        self._think = {}
        self.class_names = [c.name for c in net.classes]
        self.classes = []
        for ci, cls in enumerate(net.classes):
            self.classes.append((cls, ci, self._compile_route(cls.route)))

    # -- set-up helpers -------------------------------------------------------------------------
    def _rng(self):
        return np.random.default_rng(next(self._seeds))

    @staticmethod
    def _count_forks(net) -> int:
        def count(route) -> int:
            return sum(1 + count(step.route or []) for step in route if step.op == Op.FORK)

        return sum(count(cls.route) for cls in net.classes)

    def _instance_picker(self, instances: int, group: int):
        if instances <= 1:
            return None
        if group >= 0:
            return None  # bound: the customer's replica of that group
        return self._int_stream(instances)

    def _int_stream(self, n: int):
        rng = self._rng()

        def stream():
            while True:
                yield from rng.integers(0, n, 2048).tolist()

        return stream().__next__

    def _make_group_picker(self, g: GroupState):
        if g.policy == "random":
            return self._int_stream(g.n)
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
            dist = step.dist
            if dist is not None and step.op == Op.SERVE and self.stations[step.target].slow != 1.0:
                # a CPU limit below a core stretches every service there: fold it into the draws
                dist = dist.scaled(self.stations[step.target].slow)
            r.sample = batch_sampler(dist, self._rng()) if dist is not None else None
            r.stream = None
            r.call = None
            r.child = None
            r.reason = ""
            if step.op == Op.SERVE:
                r.target = self.stations[step.target]
            elif step.op in (Op.ACQUIRE, Op.RELEASE):
                r.target = self.pools[step.target]
            elif step.op == Op.BIND:
                r.target = self.groups[step.target]
            elif step.op == Op.PROVIDER:
                r.target = self.providers[step.target]
            else:
                r.target = step.target
            if step.stream is not None:
                r.stream = self._compile_stream(step.stream)
            if step.call is not None:
                r.call = self._compile_call(step.call)
            if step.op == Op.FORK:
                ci = len(self.class_names)
                self.class_names.append(f"event:{len(self.class_names)}")
                r.child = (ci, self._compile_route(step.route or []))
            out.append(r)
        return out

    def _compile_stream(self, s) -> RuntimeStream:
        rs = RuntimeStream()
        rs.ttft = batch_sampler(s.ttft, self._rng())
        rs.tokens = batch_sampler(s.tokens, self._rng())
        rs.rate = batch_sampler(s.token_rate, self._rng())
        rs.thinking = batch_sampler(s.thinking, self._rng()) if s.thinking is not None else None
        rs.thinking_share = s.thinking_share
        rs.metric = s.ttft_metric
        rs.gap_metric = s.gap_metric
        rs.total_metric = s.total_metric
        rs.stretch_metric = s.stretch_metric
        rs.window = s.window_s
        rs.tpc = s.tokens_per_chunk
        rs.slice = max(1, int(s.slice_deltas))
        rs.catch_up = s.catch_up
        rs.work = []
        keyed = 1
        for w in s.work:
            st = self.stations[w.station]
            pick = None
            if w.select == OTHER:
                pick = self._int_stream(max(st.n - 1, 1))
            elif w.select not in (BOUND, KEYED):
                pick = st.pick
            if w.select == KEYED:
                keyed = max(keyed, st.n)
            rs.work.append((st, w.per_delta, w.select, pick, w.turn))
        rs.keyed_n = self._int_stream(keyed) if keyed > 1 else None
        return rs

    def _compile_call(self, call) -> RuntimeCall:
        rc = RuntimeCall()
        rc.input_fixed = call.input_fixed
        rc.output_fixed = call.output_fixed
        rc.output = batch_sampler(call.output, self._rng()) if call.output is not None else None
        rc.input_by_turn = call.input_by_turn
        rc.metric = call.metric
        if call.turns:
            cum = np.cumsum(np.asarray(call.turns, dtype=float))
            cum /= cum[-1]
            uni = uniform_sampler(self._rng())
            last = len(cum) - 1

            def turn():
                return min(int(np.searchsorted(cum, uni(), side="right")), last)

            rc.turn = turn
        else:
            rc.turn = None
        return rc

    # -- running ---------------------------------------------------------------------------------
    def run(self, duration: float, warmup: float, truncate: bool = True) -> ReplicationResult:
        env = self.env
        for cls, ci, route in self.classes:
            if cls.population > 0:
                self._start_closed(cls, ci, route)
            elif cls.interarrival is not None:
                self._start_open(cls, ci, route)
        self.duration = duration
        self.batch_len = duration / MICRO_BATCHES
        self.series: list[float] = []
        self.snapshots: list[dict] = []
        self.truncate = truncate
        self.hists = self._histograms()
        self.flush_max = self.batch_len if self.batch_len > 0 else INF
        self.flush_every = min(FLUSH_FIRST_S, self.flush_max)
        self.flush_entered = 0
        # from t = 0: the interval adapts during the warm-up too (see _flush_event), so it fits the
        # load when recording starts
        self.at(self.flush_every, None, self._flush_event)
        if warmup > 0:
            self.at(warmup, None, self._end_warmup)
        else:
            self._end_warmup(None)
        env.run(until=warmup + duration)
        self._boundary(None)   # the last micro-batch
        return self._collect(duration)

    def _start_open(self, cls, ci, route):
        env = self.env
        ia = batch_sampler(cls.interarrival, self._rng())
        users = max(cls.users, 1)
        next_user = self._int_stream(users) if users > 1 else (lambda: 0)
        advance = self.advance

        queue, eid = self._queue, self._eid

        def arrive(event):
            c = Customer(cls, ci, route, next_user())
            c.t0 = now = env._now
            self.run_entered += 1
            self.present += 1
            self.sum_in += now
            if self.recording:
                self.arrivals += 1
            heappush(queue, (now + ia(), NORMAL, next(eid), HeapEvent(arrive, None)))   # self.at, inlined
            advance(c)

        self.at(ia(), None, arrive)

    def _start_closed(self, cls, ci, route):
        think = batch_sampler(cls.think, self._rng()) if cls.think is not None else (lambda: 0.0)
        start_rng = self._rng()
        # Start each user part-way through a think time as a long-running system has it (the
        # stationary residual): the first minute sends the steady rate, not a burst.
        residual = residual_sampler(cls.think, start_rng) if cls.think is not None else (lambda: 0.0)
        for user in range(cls.population):
            c = Customer(cls, ci, route, user)
            self.at(residual(), c, self._begin)
        self._think[id(cls)] = think

    def _begin(self, event):
        c = event._value
        c.idx = 0
        c.t0 = now = self.env._now
        c.attempt = 0
        c.tout = 0.0
        c.tmark = -1.0
        self.run_entered += 1
        self.present += 1
        self.sum_in += now
        if self.recording:
            self.arrivals += 1
        self.advance(c)

    def _present_area(self, now) -> float:
        return self.sum_out - self.sum_in + self.present * now

    # -- measurement window: warm-up, micro-batches, snapshots -----------------------------------
    def _touch_all(self, now):
        for st in self.stations:
            for i in range(st.n):
                self._touch_station(st, i, now)
        for p in self.pools:
            for i in range(p.n):
                self._touch_pool(p, i, now)
        for g in self.groups:
            for i in range(g.n):
                self._touch_group(g, i, now)

    def _histograms(self) -> list:
        """Every histogram the hot path appends to (they live for the whole replication)."""
        hists = list(self.metrics)
        for st in self.stations:
            hists.append(st.waits)
            if st.per_class:
                hists.extend(st.cls_wait)
        hists.extend(p.waits for p in self.pools)
        return hists

    def _flush_all(self, above: int = 0) -> int:
        """Bin the buffered samples of the histograms holding more than ``above`` (the hot path only
        appends to the buffers); returns the largest buffer's length before the flush."""
        largest = 0
        for h in self.hists:
            n = len(h.buffer)
            if n > largest:
                largest = n
            if n > above:
                h.flush()
        return largest

    def _flush_event(self, event):
        """Recurring: bin the buffers over FLUSH_ABOVE samples, then set the next interval from the
        largest buffer: shrink it when that held more than FLUSH_HIGH, grow it when fewer than
        FLUSH_LOW, so each buffer holds a few thousand samples at most at any arrival rate."""
        largest = self._flush_all(above=FLUSH_ABOVE)
        if not self.recording:
            # nothing is recorded during the warm-up: size the interval on the customers that
            # entered instead (once recording, each adds about one sample to each histogram on its
            # path), or it would grow to a whole micro-batch and so would the first recorded buffers
            largest = max(largest, self.run_entered - self.flush_entered)
            self.flush_entered = self.run_entered
        every = self.flush_every
        if largest > FLUSH_HIGH:
            # at least halve; after a jump in the rate, straight to what holds ~FLUSH_TARGET
            every = max(every * min(0.5, FLUSH_TARGET / largest), FLUSH_MIN_S)
        elif largest < FLUSH_LOW:
            every = min(every * 2.0, self.flush_max)
        self.flush_every = every
        self.at(every, None, self._flush_event)

    def _end_warmup(self, event):
        now = self.env._now
        self._touch_all(now)
        for st in self.stations:
            for i in range(st.n):
                st.area_b[i] = 0.0
                st.area_n[i] = 0.0
                st.done[i] = 0
            st.rejects = 0
            st.work_done = 0.0
            if st.detail:
                st.state_area = [0.0] * (st.state_limit + 1)
            st.cls_done = [0] * len(st.cls_done)
            st.cls_work = [0.0] * len(st.cls_work)
            st.cls_soj = [0.0] * len(st.cls_soj)
        for p in self.pools:
            p.rejects = 0
            for i in range(p.n):
                p.area[i] = 0.0
        for g in self.groups:
            for i in range(g.n):
                g.area_streams[i] = 0.0
                g.peak_streams[i] = g.streams[i]
        for pr in self.providers:
            pr.calls = pr.throttled = pr.failed = pr.retries = 0
            pr.tokens = 0.0
        self.recording = True
        self.t_start = now
        self.last_boundary = now
        self.last_area = self._present_area(now)
        self.boundary_times = [now]
        self.snapshots.append(None)   # truncation at 0: nothing to subtract
        if self.batch_len > 0:
            self.at(self.batch_len, 1, self._boundary_event)

    def _boundary_event(self, event):
        j = event._value
        self._boundary(j)
        if j < MICRO_BATCHES - 1:
            self.at(self.batch_len, j + 1, self._boundary_event)

    def _boundary(self, j):
        """End of a micro-batch: its time-average number present, each replica's peak streams, and
        at MSER-5 candidate points a snapshot of every counter."""
        now = self.env._now
        if not self.recording or now <= self.last_boundary:
            return
        span = now - self.last_boundary
        area = self._present_area(now)
        self.series.append((area - self.last_area) / span)
        self.last_area = area
        self.last_boundary = now
        self.boundary_times.append(now)
        for g in self.groups:
            g.batch_peaks.append(list(g.peak_streams))
            for i in range(g.n):
                g.peak_streams[i] = g.streams[i]
        k = len(self.series)
        if self.truncate and k % MSER_BATCH == 0 and k <= MICRO_BATCHES * MSER_MAX_FRACTION:
            self.snapshots.append(self._snapshot(now))

    def _snapshot(self, now) -> dict:
        self._touch_all(now)
        snap = {
            "stations": [(list(st.area_b), list(st.area_n), list(st.done), st.rejects, st.work_done,
                          st.waits.snapshot(), list(st.state_area) if st.detail else None,
                          list(st.cls_done), list(st.cls_work), list(st.cls_soj),
                          [h.snapshot() for h in st.cls_wait] if st.per_class else None)
                         for st in self.stations],
            "pools": [(list(p.area), p.rejects, p.waits.snapshot()) for p in self.pools],
            "groups": [list(g.area_streams) for g in self.groups],
            "providers": [(pr.calls, pr.throttled, pr.failed, pr.retries, pr.tokens) for pr in self.providers],
            "metrics": [h.snapshot() for h in self.metrics],
            "rejected": dict(self.rejected),
            "counts": (self.arrivals, self.completed, self.streams_total, self.forked),
            "streams_recorded": len(self.stream_gaps),
        }
        return snap

    # -- time-weighted areas ---------------------------------------------------------------------
    @staticmethod
    def _touch_station(st, i, now):
        dt = now - st.last[i]
        if dt:
            st.area_b[i] += st.busy[i] * dt
            n = st.npres[i]
            st.area_n[i] += n * dt
            if st.detail:
                st.state_area[n if n < st.state_limit else st.state_limit] += dt
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

    # -- leaving the system ----------------------------------------------------------------------
    def _reject(self, c, reason: str):
        self.run_rejected += 1
        self.present -= 1
        self.sum_out += self.env._now
        if self.recording and not c.child:
            self.rejected[reason] = self.rejected.get(reason, 0) + 1
        if c.s is not None:
            self._close_stream(c, self.env._now, record=False)
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
        if cls.population > 0 and not c.child:
            self.at(self._think[id(cls)](), c, self._begin)

    def _finish(self, c):
        now = self.env._now
        self.run_completed += 1
        self.present -= 1
        self.sum_out += now
        if self.recording and not c.child:
            self.completed += 1
            metric = c.cls.metric
            if metric >= 0:
                self.metrics[metric].buffer.append(now - c.t0)
        # _release_all, _unbind and _next_cycle inlined: this runs once per request
        if c.held:
            self._release_all(c)
        g = c.grp
        if g is not None:
            g.active[c.inst] -= 1
            c.grp = None
        cls = c.cls
        if cls.population > 0 and not c.child:
            self.at(self._think[id(cls)](), c, self._begin)

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
                work = step.sample()
                if st.disc == FCFS_:
                    # the FCFS hot path, inlined: time-weighted areas up to now, then serve or queue
                    now = env._now
                    busy = st.busy[i]
                    npres = st.npres[i]
                    dt = now - st.last[i]
                    if dt:
                        st.area_b[i] += busy * dt
                        st.area_n[i] += npres * dt
                        if st.detail:
                            st.state_area[npres if npres < st.state_limit else st.state_limit] += dt
                        st.last[i] = now
                    c.st = st
                    c.si = i
                    c.work = work
                    if st.per_class:
                        c.ts = now
                    if busy < st.servers:
                        st.busy[i] = busy + 1
                        st.npres[i] = npres + 1
                        if self.recording:
                            st.waits.buffer.append(0.0)
                            if st.per_class:
                                st.cls_wait[c.ci].buffer.append(0.0)
                        heappush(self._queue, (now + work, NORMAL, next(self._eid), HeapEvent(self._served, c)))
                        return
                    if st.cap is not None and npres >= st.cap:
                        if self.recording:
                            st.rejects += 1
                        self._reject(c, f"{st.name} full")
                        return
                    st.npres[i] = npres + 1
                    c.tq = now
                    st.queue[i].append(c)
                    return
                self._enter(st, i, c, work)
                return
            if op == DELAY:
                at(step.sample(), c, self._resume)
                return
            if op == MARK:
                c.tmark = env._now
                if self.recording and not c.child:
                    self.metrics[step.target].buffer.append(env._now - c.t0)
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
                if p.loss or (p.qlimit is not None and len(p.queue[i]) >= p.qlimit):
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
            if op == PROVIDER:
                if not self._provider(c, step):
                    return
                continue
            if op == FORK:
                self._fork(c, step.child)
                continue
            if op == FAIL:
                self._reject(c, step.reason)
                return
            raise RuntimeError(f"unknown op {op}")  # pragma: no cover

    def _resume(self, event):
        self.advance(event._value)

    def _after_service(self, c):
        """Where a customer goes when a station is done with it: its route, or its stream's next work."""
        if c.s is None:
            self.advance(c)
        else:
            self._slice_work(c)

    # -- stations --------------------------------------------------------------------------------
    def _enter(self, st, i, c, work):
        """Start ``work`` seconds of service for ``c`` at instance ``i`` of ``st`` (any discipline)."""
        now = self.env._now
        self._touch_station(st, i, now)
        c.st = st
        c.si = i
        c.ts = now
        c.work = work
        disc = st.disc
        if disc == FCFS_:
            if st.cap is not None and st.npres[i] >= st.cap:
                if self.recording:
                    st.rejects += 1
                self._reject(c, f"{st.name} full")
                return
            st.npres[i] += 1
            if st.busy[i] < st.servers:
                st.busy[i] += 1
                if self.recording:
                    st.waits.buffer.append(0.0)
                    if st.per_class:
                        st.cls_wait[c.ci].buffer.append(0.0)
                self.at(work, c, self._served)
            else:
                c.tq = now
                st.queue[i].append(c)
            return
        if st.cap is not None and st.npres[i] >= st.cap:
            if self.recording:
                st.rejects += 1
            self._reject(c, f"{st.name} full")
            return
        if disc == IS_:
            st.npres[i] += 1
            st.busy[i] += 1
            self.at(work, c, self._is_done)
            return
        # processor sharing: every customer present gets min(1, servers / present) of a server
        heap = st.ps_heap[i]
        present = len(heap)
        if present:
            rate = 1.0 if present <= st.servers else st.servers / present
            st.ps_v[i] += (now - st.ps_t[i]) * rate
        else:
            st.ps_v[i] = 0.0
        st.ps_t[i] = now
        self._seq += 1
        heappush(heap, (st.ps_v[i] + work, self._seq, c))
        present += 1
        st.npres[i] = present
        st.busy[i] = present if present < st.servers else st.servers
        self._ps_schedule(st, i, now)

    def _ps_schedule(self, st, i, now):
        """Make sure an event fires no later than the next departure at a PS instance. An arrival
        only postpones departures unless it is itself the shortest: then a new event is scheduled
        and the old one, found stale by its token, is ignored when it fires."""
        heap = st.ps_heap[i]
        if not heap:
            st.ps_due[i] = INF
            return
        present = len(heap)
        rate = 1.0 if present <= st.servers else st.servers / present
        due = now + max(heap[0][0] - st.ps_v[i], 0.0) / rate
        if due < st.ps_due[i]:
            st.ps_token[i] += 1
            st.ps_due[i] = due
            self.at(due - now, (st, i, st.ps_token[i]), self._ps_event)

    def _ps_event(self, event):
        st, i, token = event._value
        if token != st.ps_token[i]:
            return   # a departure rescheduled since
        now = self.env._now
        heap = st.ps_heap[i]
        present = len(heap)
        rate = 1.0 if present <= st.servers else st.servers / present
        v = st.ps_v[i] + (now - st.ps_t[i]) * rate
        st.ps_v[i] = v
        st.ps_t[i] = now
        st.ps_due[i] = INF
        eps = 1e-10 * (1.0 + v)
        done = []
        while heap and heap[0][0] <= v + eps:
            done.append(heappop(heap)[2])
        if not done and heap and now + (heap[0][0] - v) / rate <= now:
            # the head's remaining work is below the clock's resolution at this time: it is done
            done.append(heappop(heap)[2])
        if done:
            self._touch_station(st, i, now)
            present = len(heap)
            st.npres[i] = present
            st.busy[i] = present if present < st.servers else st.servers
            st.done[i] += len(done)
            if not heap:
                st.ps_v[i] = 0.0
        self._ps_schedule(st, i, now)
        for c in done:
            self._departed(st, c, now)
            self._after_service(c)

    def _is_done(self, event):
        c = event._value
        st = c.st
        i = c.si
        now = self.env._now
        self._touch_station(st, i, now)
        st.npres[i] -= 1
        st.busy[i] -= 1
        st.done[i] += 1
        self._departed(st, c, now)
        self._after_service(c)

    def _departed(self, st, c, now):
        """Carried work and, for textbook networks, the per-class figures of a departure."""
        if self.recording:
            st.work_done += c.work
            if st.detail:
                # PS and IS have no queue: the wait is the time beyond the service demand (rounding
                # of the clock aside: an infinite server never delays anyone)
                wait = now - c.ts - c.work
                if wait < 1e-9 * (1.0 + now):
                    wait = 0.0
                st.waits.buffer.append(wait)
                if st.per_class:
                    ci = c.ci
                    st.cls_done[ci] += 1
                    st.cls_work[ci] += c.work
                    st.cls_soj[ci] += now - c.ts
                    st.cls_wait[ci].buffer.append(wait)

    def _served(self, event):
        c = event._value
        st = c.st
        i = c.si
        now = self.env._now
        q = st.queue[i]
        busy = st.busy[i]
        npres = st.npres[i]
        dt = now - st.last[i]
        if dt:
            st.area_b[i] += busy * dt
            st.area_n[i] += npres * dt
            if st.detail:
                st.state_area[npres if npres < st.state_limit else st.state_limit] += dt
            st.last[i] = now
        st.done[i] += 1
        st.npres[i] = npres - 1
        if self.recording:
            st.work_done += c.work
            if st.per_class:
                ci = c.ci
                st.cls_done[ci] += 1
                st.cls_work[ci] += c.work
                st.cls_soj[ci] += now - c.ts
        if q:
            nxt = q.popleft()
            ns = nxt.s
            if ns is not None and ns.catch_up and nxt.swi == 1 and not nxt.sfirst and nxt.parent is None:
                # a stream's socket is read when its callback runs: the work is every delta the
                # provider has sent by now, not only those there when the callback was queued
                sent = _sent_by(nxt, now)
                if sent > nxt.sm:
                    sm = sent if sent < nxt.sleft else nxt.sleft
                    if sm > nxt.sm:
                        nxt.work *= sm / nxt.sm
                        nxt.sm = sm
            if self.recording:
                st.waits.buffer.append(now - nxt.tq)
                if st.per_class:
                    st.cls_wait[nxt.ci].buffer.append(now - nxt.tq)
            heappush(self._queue, (now + nxt.work, NORMAL, next(self._eid), HeapEvent(self._served, nxt)))
        else:
            st.busy[i] = busy - 1
        if c.s is not None:
            self._slice_work(c)
        elif c.idx >= len(c.route):
            self._finish(c)           # the route's last step: no need to enter the interpreter
        else:
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
                p.waits.buffer.append(now - nxt.tq)
            self.at(0.0, nxt, self._resume)
        else:
            p.held[i] -= 1

    # -- the LLM provider ------------------------------------------------------------------------
    def _provider(self, c, step) -> bool:
        """One attempt at the provider: through (True), or a 429 answered by the client's back-off
        (the customer waits and tries again) or, after its last retry, a failure."""
        pr = step.target
        call = step.call
        spec = pr.spec
        now = self.env._now
        if c.attempt == 0:
            c.pstart = now
            if call.turn is not None:
                c.tin = call.input_by_turn[call.turn()]
            else:
                c.tin = call.input_fixed
            c.tout = call.output() if call.output is not None else call.output_fixed
        tokens = c.tin + c.tout
        dt = now - pr.last
        pr.last = now
        if spec.rpm is not None:
            pr.rpm_level = min(spec.rpm, pr.rpm_level + dt * spec.rpm / 60.0)
        if spec.tpm is not None:
            pr.tpm_level = min(spec.tpm, pr.tpm_level + dt * spec.tpm / 60.0)
        ok_r = spec.rpm is None or pr.rpm_level >= 1.0
        ok_t = spec.tpm is None or pr.tpm_level >= min(tokens, spec.tpm)
        if ok_r and ok_t:
            if spec.rpm is not None:
                pr.rpm_level -= 1.0
            if spec.tpm is not None:
                pr.tpm_level -= min(tokens, spec.tpm)
            if self.recording:
                pr.calls += 1
                pr.tokens += tokens
                if call.metric >= 0 and not c.child:
                    self.metrics[call.metric].buffer.append(now - c.pstart)
            c.attempt = 0
            return True
        # 429: "unsuccessful requests contribute to your per-minute limit" (OpenAI's rate-limit guide)
        if spec.rpm is not None and pr.rpm_level >= 1.0:
            pr.rpm_level -= 1.0
        if self.recording:
            pr.throttled += 1
        if c.attempt >= spec.max_retries:
            if self.recording:
                pr.failed += 1
            c.attempt = 0
            self._reject(c, "llm provider 429 (rate limit)")
            return False
        backoff = min(spec.initial_backoff * 2.0 ** c.attempt, spec.max_backoff) * (1.0 - 0.25 * self.uniform())
        c.attempt += 1
        if self.recording:
            pr.retries += 1
        c.idx -= 1   # the same step again after the back-off
        self.at(backoff, c, self._resume)
        return False

    def _fork(self, c, child):
        ci, route = child
        job = Customer(c.cls, ci, route, c.user)
        job.child = True
        job.t0 = now = self.env._now
        self.run_entered += 1
        self.present += 1
        self.sum_in += now
        if self.recording:
            self.forked += 1
        self.advance(job)

    # -- SSE streams -----------------------------------------------------------------------------
    def _stream(self, c, s):
        now = self.env._now
        ttft = s.ttft()
        if s.thinking is not None and self.uniform() < s.thinking_share:
            ttft += s.thinking()
        tokens = c.tout if c.tout > 0 else s.tokens()
        rate = s.rate()
        gen = tokens / rate if rate > 0 else 0.0
        deltas = max(1, min(math.ceil(tokens / s.tpc), math.ceil(gen / s.window)))
        c.s = s
        c.sleft = deltas - 1
        c.sint = gen / (deltas - 1) if deltas > 1 else 0.0
        c.st0 = now
        # the client has waited since its POST returned the stream id (queue, provider back-off and
        # agent work included): the silences and the length timers see are counted from there
        c.sopen = c.tmark if c.tmark >= c.t0 else now
        c.snominal = ttft + gen
        c.sgap = 0.0
        c.sprev = c.sopen            # when the client last received something
        c.srel = now + ttft          # when the provider sent the current slice's first delta
        c.sfirst = True
        c.key = s.keyed_n() if s.keyed_n is not None else 0
        g = c.grp
        if g is not None:
            i = c.inst
            self._touch_group(g, i, now)
            g.streams[i] += 1
            if g.streams[i] > g.peak_streams[i]:
                g.peak_streams[i] = g.streams[i]
        self.at(ttft, c, self._slice_release)

    def _slice_release(self, event):
        c = event._value
        c.sm = 1 if c.sfirst else min(c.s.slice, c.sleft)
        c.swi = 0
        self._slice_work(c)

    def _slice_work(self, c):
        """The current slice's work at the stream's next station, or the slice is delivered."""
        s = c.s
        work = s.work
        if c.swi == 1 and s.catch_up and len(work) > 1 and c.parent is None and (
                c.sleft > 0 if c.sfirst else c.sleft > c.sm):
            # The stream's own socket was just read (a callback on a run-to-completion loop). Node
            # reads the socket again when the next tokens come, whether or not this slice has
            # reached the client, so the rest of its way goes on apart; the last slice is not
            # handed off, so the stream ends when its last delta is delivered.
            self._deliver_apart(c)
            self._next_slice(c, self.env._now)
            return
        while c.swi < len(work):
            st, per_delta, select, pick, turn = work[c.swi]
            c.swi += 1
            amount = per_delta * c.sm * st.slow
            if amount <= 0.0 and not turn:
                continue
            n = st.n
            if n <= 1:
                i = 0
            elif select == BOUND:
                i = c.inst % n
            elif select == KEYED:
                i = c.key % n
            elif select == OTHER:
                i = (c.key + 1 + pick()) % n
            else:
                i = pick()
            self._enter(st, i, c, amount)
            return
        if c.parent is None:
            self._slice_done(c)
        else:
            owner = c.parent
            if owner.s is c.s and owner.st0 == c.st0:   # the stream was not cut meanwhile
                self._delivered(owner, c, self.env._now)

    def _slice_done(self, c):
        """A slice's deltas are delivered. A slice starts when the provider sends its first delta
        and its work runs while the rest arrive, so on an idle loop it is done before its last token
        and the stream keeps the provider's pace; when the loop or Redis is saturated the slices
        fall behind and the stream gets longer."""
        now = self.env._now
        self._delivered(c, c, now)
        self._next_slice(c, now)

    def _delivered(self, c, sl, now):
        """The deltas of slice ``sl`` (the stream's owner ``c`` itself, or a delivery job that
        carried it) reach the client now: the first one's wait, and the longest silence."""
        if sl.sfirst:
            gap = now - c.sopen
            if self.recording and not c.child:
                self.metrics[c.s.metric].buffer.append(now - c.t0)
            span = 0.0
        else:
            span = (sl.sm - 1) * c.sint
            # The slice's deltas reach the client one delta interval apart, its last one now (on an
            # idle loop: as the provider sends them); the silence before its first one is the gap
            first = max(now - span, sl.srel)
            gap = max(c.sint, first - c.sprev)
        if gap > c.sgap:
            c.sgap = gap
        last_sent = sl.srel + span       # when the provider sent this slice's last delta
        c.sprev = now if now > last_sent else last_sent   # delivered no earlier than sent

    def _next_slice(self, c, now):
        """The stream's next slice, when the provider has sent its first delta; or its end."""
        s = c.s
        if c.sfirst:
            c.sfirst = False
            span = 0.0
        else:
            c.sleft -= c.sm
            span = (c.sm - 1) * c.sint
        if c.sleft > 0:
            c.srel = c.srel + span + c.sint  # the next slice's first delta
            wait = c.srel - now
            if wait > 0.0:
                self.at(wait, c, self._slice_release)
            else:
                c.sm = min(s.slice, c.sleft)
                if s.catch_up:
                    # every delta the provider has sent by now is read and worked at once
                    sent = _sent_by(c, now)
                    if sent > c.sm:
                        c.sm = min(sent, c.sleft)
                c.swi = 0
                self._slice_work(c)
            return
        end = c.st0 + c.snominal - now   # the last token cannot be delivered before it is sent
        if end > 0.0:
            self.at(end, c, self._stream_end)
            return
        self._close_stream(c, now, record=True)
        self.advance(c)

    def _deliver_apart(self, c):
        """Hand the slice ``c`` has just read to a delivery job that takes it the rest of the way
        (PUBLISH, the subscriber's callback) while ``c`` reads on."""
        job = Customer(c.cls, c.ci, None, c.user)
        job.parent = c
        job.s = c.s
        job.st0 = c.st0
        job.sm = c.sm
        job.srel = c.srel
        job.sfirst = c.sfirst
        job.key = c.key
        job.inst = c.inst
        job.swi = 1
        self._slice_work(job)

    def _stream_end(self, event):
        c = event._value
        self._close_stream(c, self.env._now, record=True)
        self.advance(c)

    def _close_stream(self, c, now, record: bool):
        s = c.s
        c.s = None
        g = c.grp
        if g is not None:
            i = c.inst
            self._touch_group(g, i, now)
            g.streams[i] -= 1
        if record and self.recording and not c.child:
            total = now - c.sopen
            self.streams_total += 1
            if total > self.longest_stream:
                self.longest_stream = total
            self.metrics[s.total_metric].buffer.append(total)
            self.metrics[s.gap_metric].buffer.append(c.sgap)
            own = now - c.st0
            self.metrics[s.stretch_metric].buffer.append(own / c.snominal if c.snominal > 0 else 1.0)
            # each stream's (longest silence, length): a set of timers cuts the union of what each cuts
            self.stream_gaps.append(c.sgap)
            self.stream_totals.append(total)

    # -- in flight at the end --------------------------------------------------------------------
    def _count_in_flight(self) -> int:
        """Customers inside the system at the end, counted where they are (not by subtraction):
        in service, delay, back-off or stream (a pending event carrying the customer, other than the
        start of a user's next request), waiting in a station or pool queue, or sharing a PS server."""
        seen = set()
        begin = self._begin
        for _, _, _, ev in self.env._queue:
            value = getattr(ev, "_value", None)
            if isinstance(value, Customer) and value.parent is None and ev.callbacks and ev.callbacks[0] != begin:
                seen.add(id(value))
        for st in self.stations:
            for q in st.queue:
                seen.update(id(c) for c in q if c.parent is None)   # a delivery job is its stream's
            if st.ps_heap is not None:
                for heap in st.ps_heap:
                    seen.update(id(entry[2]) for entry in heap if entry[2].parent is None)
        for p in self.pools:
            for q in p.queue:
                seen.update(id(c) for c in q)
        return len(seen)

    # -- results ---------------------------------------------------------------------------------
    def _collect(self, duration: float) -> ReplicationResult:
        now = self.env._now
        self._touch_all(now)
        self._flush_all()
        series = list(self.series)
        # MSER-5 on the number present per micro-batch: the further warm-up to discard
        cut_batches, at_limit = 0, False
        if self.truncate and len(series) >= 2 * MSER_BATCH:
            tr = steady.mser(series, batch_size=MSER_BATCH, max_fraction=MSER_MAX_FRACTION)
            cut_batches = min(tr.batches, len(self.snapshots) - 1)
            at_limit = tr.at_limit
        snap = self.snapshots[cut_batches] if self.snapshots else None
        cut_micro = cut_batches * MSER_BATCH
        t_from = self.boundary_times[cut_micro] if cut_micro < len(self.boundary_times) else self.t_start
        span = (now - t_from) or duration
        if snap is not None:
            self._subtract(snap)
        kept = series[cut_micro:]
        trend = steady.trend(_batch_means(kept, TREND_BATCHES)) if len(kept) >= 4 * 2 else None
        station_util, station_in_system, station_throughput, station_waits, station_rejects = {}, {}, {}, {}, {}
        station_work, details = {}, {}
        for st in self.stations:
            station_util[st.name] = [a / (span * st.servers) for a in st.area_b]
            station_in_system[st.name] = sum(st.area_n) / span
            station_throughput[st.name] = sum(st.done) / span
            st.waits.flush()
            station_waits[st.name] = st.waits
            station_rejects[st.name] = st.rejects
            station_work[st.name] = st.work_done / span
            if st.detail:
                total = sum(st.state_area) or 1.0
                if st.per_class:
                    names = range(len(st.cls_done))
                    done, work, soj, waits = st.cls_done, st.cls_work, st.cls_soj, st.cls_wait
                else:
                    # one class: its figures are the station's (the mean time there is the mean wait
                    # plus the mean service)
                    names = [0]
                    n_done = sum(st.done)
                    mean_soj = (st.waits.mean if st.waits.n else 0.0) + (st.work_done / n_done if n_done else 0.0)
                    done, work, soj, waits = [n_done], [st.work_done], [mean_soj * n_done], [st.waits]
                details[st.name] = StationDetail(
                    state_probs=[a / total for a in st.state_area],
                    class_throughput={self.class_names[k]: done[k] / span for k in names},
                    class_work={self.class_names[k]: work[k] / span for k in names},
                    class_in_system={self.class_names[k]: soj[k] / span for k in names},
                    class_wait={self.class_names[k]: waits[k] for k in names})
        pool_util, pool_waits, pool_rejects = {}, {}, {}
        for p in self.pools:
            pool_util[p.name] = [a / (span * p.size) for a in p.area]
            p.waits.flush()
            pool_waits[p.name] = p.waits
            pool_rejects[p.name] = p.rejects
        mean_streams, peak_streams, peak_mem, mem_limit = {}, {}, {}, {}
        for g in self.groups:
            mean_streams[g.name] = [a / span for a in g.area_streams]
            batches = g.batch_peaks[cut_micro:] or [list(g.peak_streams)]
            peaks = [max(b[i] for b in batches) for i in range(g.n)]
            peak_streams[g.name] = peaks
            peak_mem[g.name] = [g.mem_base + p * g.mem_per_stream for p in peaks]
            mem_limit[g.name] = g.mem_limit
        providers = {pr.spec.name: {"calls": pr.calls, "throttled": pr.throttled, "failed": pr.failed,
                                    "retries": pr.retries, "tokens": pr.tokens} for pr in self.providers}
        in_flight = self._count_in_flight()
        return ReplicationResult(
            measured_time=span, truncated_s=t_from - self.t_start, mser_at_limit=at_limit,
            in_system_series=series, kept_from=cut_micro,
            trend_growing=bool(trend.growing) if trend else False,
            trend_growth=float(trend.relative_growth) if trend else 0.0,
            trend_p=float(trend.p_value) if trend else 1.0,
            mean_present=sum(kept) / len(kept) if kept else 0.0,
            metrics={name: h for name, h in zip(self.net.metrics, self.metrics)},
            station_util=station_util, station_in_system=station_in_system,
            station_throughput=station_throughput, station_waits=station_waits,
            station_rejects=station_rejects, station_work=station_work,
            station_detail=details, pool_util=pool_util, pool_waits=pool_waits,
            pool_rejects=pool_rejects, group_mean_streams=mean_streams,
            group_peak_streams=peak_streams, group_peak_memory_mib=peak_mem,
            group_memory_limit_mib=mem_limit, rejected=dict(sorted(self.rejected.items())),
            providers=providers, arrivals=self.arrivals, completed=self.completed, forked=self.forked,
            stream_gaps=np.array(self.stream_gaps, dtype=np.float32),
            stream_totals=np.array(self.stream_totals, dtype=np.float32),
            streams_total=self.streams_total, longest_stream_s=self.longest_stream,
            run_entered=self.run_entered, run_completed=self.run_completed,
            run_rejected=self.run_rejected, run_in_flight=in_flight,
        )

    def _subtract(self, snap: dict) -> None:
        """Measure from the truncation point: subtract what every counter held there."""
        for st, s in zip(self.stations, snap["stations"]):
            (area_b, area_n, done, rejects, work, waits, state_area, cls_done, cls_work, cls_soj, cls_wait) = s
            st.area_b = [a - b for a, b in zip(st.area_b, area_b)]
            st.area_n = [a - b for a, b in zip(st.area_n, area_n)]
            st.done = [a - b for a, b in zip(st.done, done)]
            st.rejects -= rejects
            st.work_done -= work
            st.waits.subtract(waits)
            if st.detail:
                st.state_area = [a - b for a, b in zip(st.state_area, state_area)]
            if st.per_class:
                for h, sn in zip(st.cls_wait, cls_wait):
                    h.subtract(sn)
            st.cls_done = [a - b for a, b in zip(st.cls_done, cls_done)]
            st.cls_work = [a - b for a, b in zip(st.cls_work, cls_work)]
            st.cls_soj = [a - b for a, b in zip(st.cls_soj, cls_soj)]
        for p, (area, rejects, waits) in zip(self.pools, snap["pools"]):
            p.area = [a - b for a, b in zip(p.area, area)]
            p.rejects -= rejects
            p.waits.subtract(waits)
        for g, area in zip(self.groups, snap["groups"]):
            g.area_streams = [a - b for a, b in zip(g.area_streams, area)]
        for pr, (calls, throttled, failed, retries, tokens) in zip(self.providers, snap["providers"]):
            pr.calls -= calls
            pr.throttled -= throttled
            pr.failed -= failed
            pr.retries -= retries
            pr.tokens -= tokens
        for h, sn in zip(self.metrics, snap["metrics"]):
            h.subtract(sn)
        self.rejected = {k: v - snap["rejected"].get(k, 0) for k, v in self.rejected.items()
                         if v - snap["rejected"].get(k, 0) > 0}
        cut = snap["streams_recorded"]
        self.stream_gaps = self.stream_gaps[cut:]
        self.stream_totals = self.stream_totals[cut:]
        arrivals, completed, streams, forked = snap["counts"]
        self.arrivals -= arrivals
        self.completed -= completed
        self.streams_total -= streams
        self.forked -= forked


def _batch_means(values: list[float], batches: int) -> list[float]:
    """``values`` averaged in ``batches`` consecutive groups of (nearly) equal size."""
    if len(values) < batches:
        return list(values)
    edges = np.linspace(0, len(values), batches + 1).round().astype(int)
    return [float(np.mean(values[a:b])) for a, b in zip(edges[:-1], edges[1:]) if b > a]
