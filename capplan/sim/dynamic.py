"""A replication whose load and capacity change while it runs (the engine behind ``capplan day``).

The steady engine simulates one load on one sizing and measures a window of it. Here the closed
population grows and shrinks (users join, and leave when they next would start thinking), a
replica group's members go in and out of service (an autoscaler's pods: new requests are balanced
over the serving ones only; those already bound finish where they are), and controllers run at
their own recurring events. Everything is recorded from t = 0 (there is no steady state to wait
for); the caller reads counters and histograms between events, e.g. once a simulated minute.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from capplan.sim.engine import FAIL, SERVE, _Replication
from capplan.sim.sampling import batch_sampler, residual_sampler
from capplan.sim.spec import NetworkSpec
from capplan.sim.stations import Customer

INF = math.inf


class DynamicReplication(_Replication):
    def __init__(self, net: NetworkSpec, seed: np.random.SeedSequence):
        super().__init__(net, seed)
        self._closed = {cls.name: (cls, ci, route) for cls, ci, route in self.classes if cls.population > 0}
        self._users: dict[str, int] = {}          # class -> users in it now (thinking or in a request)
        self._retire: dict[str, int] = {}         # class -> users to drop when they next start thinking
        self._free_ids: dict[str, list[int]] = {}
        self._base_think: dict[str, Callable[[], float]] = {}
        self._joining: dict[str, Callable[[], float]] = {}   # class -> a new user's wait for its first turn
        self._open_share: dict[str, float] = {}
        self._llm_factor = [1.0]
        self._dead: dict[str, dict[int, str]] = {}     # group -> member -> why its requests fail
        self._held_until = 0.0                         # streams deliver nothing before this
        self._throttled: dict = {}                     # provider state -> its own spec, while 429ing
        self._llm_wrapped: set[int] = set()
        self._offsets = self._rng()

    # -- starting --------------------------------------------------------------------------------
    def start(self, populations: dict[str, int]) -> None:
        """Start the open classes and each closed class at ``populations[name]`` users (at most the
        population it was built with: rate limits are keyed by user), recording from now on."""
        for cls, ci, route in self.classes:
            if cls.population > 0:
                name = cls.name
                base = batch_sampler(cls.think, self._rng()) if cls.think is not None else (lambda: 0.0)
                self._base_think[name] = base
                self._joining[name] = residual_sampler(cls.think, self._offsets) if cls.think is not None \
                    else (lambda: 0.0)
                self._think[id(cls)] = self._retiring(name, base)
                self._users[name] = 0
                self._retire[name] = 0
                self._free_ids[name] = list(range(cls.population - 1, -1, -1))
                self.set_population(name, populations.get(name, cls.population))
            elif cls.interarrival is not None:
                self._start_open(cls, ci, route)
        self.recording = True
        self.t_start = self.env._now
        self.hists = self._histograms()
        self.flush_max = 60.0
        self.flush_every = 1.0
        self.flush_entered = 0
        self.at(self.flush_every, None, self._flush_event)

    def _retiring(self, name: str, base: Callable[[], float]) -> Callable[[], float]:
        """The class's think-time sampler: a user asked to leave never comes back (an infinite think)."""
        retire = self._retire
        users = self._users

        def think() -> float:
            if retire[name] > 0:
                retire[name] -= 1
                users[name] -= 1
                return INF
            return base()

        return think

    def set_population(self, name: str, n: int) -> None:
        """Grow the class to ``n`` users (new ones arrive part-way through a think time, as the users of
        a long-running system are: see residual_sampler) or shrink it
        (the surplus leaves as each next finishes a turn: nobody is cut off mid-answer)."""
        cls, ci, route = self._closed[name]
        n = max(0, min(int(n), cls.population))
        have = self._users[name] - self._retire[name]
        if n < have:
            self._retire[name] += have - n
            return
        cancel = min(self._retire[name], n - have)   # users about to leave stay instead
        self._retire[name] -= cancel
        have += cancel
        joining = self._joining[name]
        for _ in range(n - have):
            # (a user who left keeps its id: after a day of churn ids repeat, which only shares a
            # per-user rate limit between two users)
            free = self._free_ids[name]
            user = free.pop() if free else self._users[name] % cls.population
            c = Customer(cls, ci, route, user)
            self._users[name] += 1
            self.at(joining(), c, self._begin)

    def population(self, name: str) -> int:
        return self._users[name] - self._retire[name]

    def set_open_share(self, shares: dict[str, float]) -> None:
        """Open classes arrive at ``share`` x the rate they were built with (0 <= share <= 1)."""
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0 + 1e-9:
                raise ValueError(f"{name}: an open class's share of its built rate must be in [0, 1], got {share}")
            self._open_share[name] = min(share, 1.0)

    def _start_open(self, cls, ci, route):
        """Arrivals at the built rate, each kept with the class's current share: a thinned Poisson
        stream is Poisson at share x the rate."""
        env = self.env
        ia = batch_sampler(cls.interarrival, self._rng())
        keep = self._rng()
        users = max(cls.users, 1)
        next_user = self._int_stream(users) if users > 1 else (lambda: 0)
        shares = self._open_share
        shares.setdefault(cls.name, 1.0)
        name = cls.name

        def arrive(event):
            self.at(ia(), None, arrive)
            if keep.random() >= shares[name]:
                return
            c = Customer(cls, ci, route, next_user())
            c.t0 = now = env._now
            self.run_entered += 1
            self.present += 1
            self.sum_in += now
            self.arrivals += 1
            self.advance(c)

        self.at(ia(), None, arrive)

    # -- replicas --------------------------------------------------------------------------------
    def group(self, name: str):
        return next(g for g in self.groups if g.name == name)

    def set_serving(self, name: str, members: list[int]) -> None:
        """Balance new requests of group ``name`` over ``members`` only (by the group's policy)."""
        g = self.group(name)
        serving = sorted(set(members))
        if not serving:
            raise ValueError(f"{name}: no member left in service")
        active = g.active
        state = {"next": 0}

        if g.policy == "least_conn":
            def pick() -> int:
                lowest = min(active[i] for i in serving)
                k0 = state["next"]
                for k in range(len(serving)):
                    i = serving[(k0 + k) % len(serving)]
                    if active[i] == lowest:
                        state["next"] = (k0 + k + 1) % len(serving)
                        return i
                return serving[0]  # pragma: no cover
        elif g.policy == "random":
            draw = self._int_stream(1 << 30)

            def pick() -> int:
                return serving[draw() % len(serving)]
        else:
            def pick() -> int:
                k = state["next"]
                state["next"] = (k + 1) % len(serving)
                return serving[k]
        g.pick = pick

    def busy_seconds(self, station: str) -> list[float]:
        """Each instance's busy server-seconds since the start (areas brought up to now)."""
        st = next(s for s in self.stations if s.name == station)
        now = self.env._now
        for i in range(st.n):
            self._touch_station(st, i, now)
        return list(st.area_b)

    def open_streams(self, group: str) -> list[int]:
        return list(self.group(group).streams)

    # -- outages ---------------------------------------------------------------------------------
    def _steps(self):
        """Every compiled route step, detached jobs' routes included."""
        def walk(route):
            for r in route:
                yield r
                if r.child is not None:
                    yield from walk(r.child[1])

        for _, _, route in self.classes:
            yield from walk(route)

    def fail_station(self, station: str, reason: str | None) -> int:
        """Requests that reach ``station`` fail there (``reason``) until called again with None
        (service there resumes); work already in service finishes. Returns the steps switched."""
        st = next(s for s in self.stations if s.name == station)
        switched = 0
        for r in self._steps():
            if reason is not None and r.op == SERVE and r.target is st:
                r.op, r.reason = FAIL, reason
                switched += 1
            elif reason is None and r.op == FAIL and r.target is st:
                r.op, r.reason = SERVE, ""
                switched += 1
        return switched

    def slow_llm(self, factor: float) -> None:
        """From now on the provider's time to first token is ``factor`` x and its tokens/s 1/``factor`` x
        what the workload says (1: back to normal). Streams already going keep their draws."""
        if factor <= 0:
            raise ValueError(f"the slow-down factor must be positive, got {factor}")
        self._llm_factor[0] = factor
        for r in self._steps():
            rs = r.stream
            if rs is None or id(rs) in self._llm_wrapped:
                continue
            self._llm_wrapped.add(id(rs))
            ttft, rate, k = rs.ttft, rs.rate, self._llm_factor
            rs.ttft = lambda ttft=ttft: ttft() * k[0]
            rs.rate = lambda rate=rate: rate() / k[0]

    def kill_members(self, group: str, members: list[int], reason: str) -> None:
        """Members of ``group`` are gone (their pod crashed, their node or zone was lost): every
        request bound to one fails at its next step, streams included (``reason``), until
        :meth:`revive_members` puts a new process in its place."""
        self._dead.setdefault(group, {}).update({m: reason for m in members})

    def hold_streams(self, until: float, reconnect: float) -> None:
        """Streams deliver nothing until ``until`` (the pub/sub they ride on is gone), then their
        clients reconnect after ``reconnect`` seconds and resume where they were (LibreChat's
        resumable streams: the generation went on in its process)."""
        self._held_until = max(self._held_until, until + reconnect)

    def throttle_provider(self, on: bool) -> None:
        """While on, the provider answers every call 429 (a burst of rate limiting): clients back off
        and retry as configured, and fail after their last retry."""
        from dataclasses import replace

        for pr in self.providers:
            if on and pr not in self._throttled:
                self._throttled[pr] = pr.spec
                pr.spec = replace(pr.spec, rpm=1e-9)
                pr.rpm_level = 0.0
            elif not on and pr in self._throttled:
                pr.spec = self._throttled.pop(pr)
                pr.rpm_level = pr.spec.rpm if pr.spec.rpm is not None else 0.0

    def lost_members(self, group: str) -> list[int]:
        return sorted(self._dead.get(group, {}))

    def revive_members(self, group: str, members: list[int]) -> None:
        dead = self._dead.get(group, {})
        for m in members:
            dead.pop(m, None)

    def _lost(self, c) -> str | None:
        g = c.grp
        if g is None:
            return None
        dead = self._dead.get(g.name)
        return dead.get(c.inst) if dead else None

    def _cut(self, c) -> bool:
        """Fail ``c`` if the member it is bound to is lost (True: it is gone)."""
        if self._dead:
            reason = self._lost(c)
            if reason is not None:
                self._reject(c, reason)
                return True
        return False

    def advance(self, c):
        if not self._cut(c):
            super().advance(c)

    def _slice_work(self, c):
        if self._cut(c):
            return
        now = self.env._now
        if now < self._held_until:
            self.at(self._held_until - now, c, self._resume_slice)
            return
        super()._slice_work(c)

    def _resume_slice(self, event):
        self._slice_work(event._value)

    # -- running ---------------------------------------------------------------------------------
    def every(self, period: float, fn: Callable[[float], None], first: float | None = None) -> None:
        """Call ``fn(now)`` every ``period`` seconds (first at ``first``, default one period in)."""
        def tick(event):
            fn(self.env._now)
            self.at(period, None, tick)

        self.at(period if first is None else first, None, tick)

    def run_until(self, t: float) -> None:
        self.env.run(until=t)

    @property
    def now(self) -> float:
        return self.env._now
