"""Runtime state of the engine's nouns: events, customers, stations, pools and replica groups.

Slotted classes with per-instance lists (busy servers, queues, time-weighted areas): attribute
access on the hot path stays cheap. capplan.sim.engine moves customers between them.
"""

from __future__ import annotations

from collections import deque

from capplan.sim.stats import Histogram


class HeapEvent:
    """The minimum SimPy's ``Environment.step`` needs of an event: callbacks, ``_ok``, ``_value``.

    Scheduling these straight onto the environment's heap (what ``Timeout`` does internally)
    skips Timeout's constructor and method calls on the hottest path of the engine.
    """

    __slots__ = ("callbacks", "_value", "_ok")

    def __init__(self, callback, value):
        self.callbacks = [callback]
        self._value = value
        self._ok = True


class Customer:
    __slots__ = ("cls", "route", "idx", "t0", "inst", "grp", "user", "svc", "st", "si", "held", "tq")

    def __init__(self, cls, route, user):
        self.cls = cls
        self.route = route
        self.idx = 0
        self.t0 = 0.0
        self.inst = 0
        self.grp = None
        self.user = user
        self.svc = 0.0
        self.st = None
        self.si = 0
        self.held = None
        self.tq = 0.0


class StationState:
    __slots__ = ("name", "kind", "servers", "cap", "n", "group", "slow", "busy", "queue", "last",
                 "area_b", "area_n", "done", "waits", "rejects", "pick", "has_bg", "bg", "area_bg", "stretch")

    def __init__(self, spec, pick):
        n = spec.instances
        self.name = spec.name
        self.kind = spec.kind
        self.servers = spec.servers
        self.cap = spec.capacity
        self.n = n
        self.group = spec.group
        self.slow = spec.slowdown
        self.busy = [0] * n
        self.queue = [deque() for _ in range(n)]
        self.last = [0.0] * n
        self.area_b = [0.0] * n
        self.area_n = [0.0] * n
        self.done = [0] * n
        self.rejects = 0
        self.waits = Histogram()
        self.pick = pick
        # background load (share of the server taken by open streams) and the service stretch it causes
        self.has_bg = False
        self.bg = [0.0] * n
        self.area_bg = [0.0] * n
        self.stretch = [1.0] * n


class PoolState:
    __slots__ = ("name", "kind", "size", "n", "group", "loss", "held", "queue", "last", "area",
                 "waits", "rejects", "pick")

    def __init__(self, spec, pick):
        n = spec.instances
        self.name = spec.name
        self.kind = spec.kind
        self.size = spec.size
        self.n = n
        self.group = spec.group
        self.loss = spec.loss
        self.held = [0] * n
        self.queue = [deque() for _ in range(n)]
        self.last = [0.0] * n
        self.area = [0.0] * n
        self.waits = Histogram()
        self.rejects = 0
        self.pick = pick


class GroupState:
    __slots__ = ("name", "n", "policy", "active", "rr", "streams", "last", "area_streams",
                 "peak_streams", "mem_base", "mem_per_stream", "mem_limit", "pick")

    def __init__(self, spec):
        n = spec.replicas
        self.name = spec.name
        self.n = n
        self.policy = spec.policy
        self.active = [0] * n
        self.rr = 0
        self.streams = [0] * n
        self.last = [0.0] * n
        self.area_streams = [0.0] * n
        self.peak_streams = [0] * n
        self.mem_base = spec.base_memory_mib
        self.mem_per_stream = spec.memory_per_stream_mib
        self.mem_limit = spec.memory_limit_mib
        self.pick = None


class RuntimeStep:
    __slots__ = ("op", "target", "sample", "prob", "branches", "jump", "stream")


class RuntimeStream:
    __slots__ = ("ttft", "tokens", "rate", "metric", "idle", "background")
