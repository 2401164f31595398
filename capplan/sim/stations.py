"""Runtime state of the engine's nouns: events, customers, stations, pools, replica groups, providers.

Slotted classes with per-instance lists (busy servers, queues, time-weighted areas): attribute
access on the hot path stays cheap. capplan.sim.engine moves customers between them.
"""

from __future__ import annotations

from collections import deque

from capplan.sim.spec import FCFS, IS, PS
from capplan.sim.stats import Histogram

DISCIPLINES = {FCFS: 0, PS: 1, IS: 2}


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
    """A request (or a detached event job) moving through its route.

    While it streams an answer, ``s`` holds the stream's runtime spec and the ``s*`` fields its
    progress: deltas left, the nominal interval between deltas, when the next slice's tokens have
    arrived, when the previous slice was delivered, the longest silence so far."""

    __slots__ = ("cls", "ci", "route", "idx", "t0", "inst", "grp", "user", "st", "si", "held", "tq",
                 "ts", "work", "child", "attempt", "pstart", "tin", "tout", "key", "tmark",
                 "s", "sleft", "sint", "srel", "sprev", "sgap", "sm", "swi", "st0", "sopen", "snominal", "sfirst",
                 "parent")

    def __init__(self, cls, ci, route, user):
        # Only what is read before it is written: st/si/ts/work are set when a station takes the
        # customer, tq when it queues, the provider fields on its first call, the s* fields when its
        # stream starts (constructing customers is on the hot path of open classes).
        self.cls = cls
        self.ci = ci
        self.route = route
        self.idx = 0
        self.t0 = 0.0
        self.inst = 0
        self.grp = None
        self.user = user
        self.held = None
        self.child = False
        self.attempt = 0
        self.tout = 0.0
        self.tmark = -1.0
        self.s = None
        self.parent = None   # a delivery job: the customer whose stream's slice it carries to the client


class StationState:
    __slots__ = ("name", "kind", "servers", "cap", "n", "group", "slow", "disc", "busy", "npres", "queue", "last",
                 "area_b", "area_n", "done", "work_done", "waits", "rejects", "pick",
                 "ps_heap", "ps_v", "ps_t", "ps_token", "ps_due",
                 "detail", "per_class", "state_area", "state_limit", "cls_done", "cls_work", "cls_soj", "cls_wait")

    def __init__(self, spec, pick, classes: int = 0, detail: bool = False, state_limit: int = 30):
        n = spec.instances
        self.name = spec.name
        self.kind = spec.kind
        self.servers = spec.servers
        self.cap = spec.capacity
        self.n = n
        self.group = spec.group
        self.slow = spec.slowdown
        self.disc = DISCIPLINES[spec.discipline]
        self.busy = [0] * n               # servers busy (PS: min(present, servers); IS: present)
        self.npres = [0] * n              # customers present (waiting + in service)
        self.queue = [deque() for _ in range(n)]
        self.last = [0.0] * n
        self.area_b = [0.0] * n
        self.area_n = [0.0] * n
        self.done = [0] * n
        self.work_done = 0.0              # service demand of the jobs completed (carried work)
        self.rejects = 0
        self.waits = Histogram()
        self.pick = pick
        # processor sharing: per instance a heap of (finish tag, seq, customer) in virtual time, the
        # virtual time and when it was last advanced, and the one pending departure event (token, due)
        self.ps_heap = [[] for _ in range(n)] if self.disc == 1 else None
        self.ps_v = [0.0] * n
        self.ps_t = [0.0] * n
        self.ps_token = [0] * n
        self.ps_due = [float("inf")] * n
        # textbook networks: the distribution of the number present and, with several classes,
        # departures, work, total time at the station and waits by class (one class needs no split)
        self.detail = detail
        self.per_class = detail and classes > 1
        self.state_limit = state_limit
        self.state_area = [0.0] * (state_limit + 1) if detail else None
        self.cls_done = [0] * classes
        self.cls_work = [0.0] * classes
        self.cls_soj = [0.0] * classes
        self.cls_wait = [Histogram() for _ in range(classes)] if self.per_class else None


class PoolState:
    __slots__ = ("name", "kind", "size", "n", "group", "loss", "qlimit", "held", "queue", "last", "area",
                 "waits", "rejects", "pick")

    def __init__(self, spec, pick):
        n = spec.instances
        self.name = spec.name
        self.kind = spec.kind
        self.size = spec.size
        self.n = n
        self.group = spec.group
        self.loss = spec.loss
        self.qlimit = spec.queue_limit
        self.held = [0] * n
        self.queue = [deque() for _ in range(n)]
        self.last = [0.0] * n
        self.area = [0.0] * n
        self.waits = Histogram()
        self.rejects = 0
        self.pick = pick


class GroupState:
    __slots__ = ("name", "n", "policy", "active", "rr", "streams", "last", "area_streams",
                 "peak_streams", "batch_peaks", "mem_base", "mem_per_stream", "mem_limit", "pick")

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
        self.peak_streams = [0] * n       # the most open streams per replica since the last batch boundary
        self.batch_peaks: list[list[int]] = []
        self.mem_base = spec.base_memory_mib
        self.mem_per_stream = spec.memory_per_stream_mib
        self.mem_limit = spec.memory_limit_mib
        self.pick = None


class ProviderState:
    """Token buckets of an LLM provider account (requests and tokens per minute)."""

    __slots__ = ("spec", "rpm_level", "tpm_level", "last", "calls", "throttled", "failed", "retries", "tokens")

    def __init__(self, spec):
        self.spec = spec
        self.rpm_level = spec.rpm if spec.rpm is not None else 0.0
        self.tpm_level = spec.tpm if spec.tpm is not None else 0.0
        self.last = 0.0
        self.calls = 0        # calls that got through
        self.throttled = 0    # 429 answers (each attempt)
        self.failed = 0       # calls that failed after the client's retries
        self.retries = 0
        self.tokens = 0.0     # tokens counted by the calls that got through


class RuntimeStep:
    __slots__ = ("op", "target", "sample", "prob", "branches", "jump", "stream", "call", "child", "reason")


class RuntimeStream:
    __slots__ = ("ttft", "tokens", "rate", "metric", "gap_metric", "total_metric", "stretch_metric", "window",
                 "tpc", "slice", "work", "thinking", "thinking_share", "keyed_n", "catch_up")


class RuntimeCall:
    __slots__ = ("input_fixed", "output_fixed", "output", "turn", "input_by_turn", "metric")
