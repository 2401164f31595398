"""The compiled form of a model the engine runs: stations, pools, request classes and their routes.

Both textbook networks (capplan.model.network) and LibreChat architectures (capplan.model.tier)
compile to a :class:`NetworkSpec` (capplan.sim.build); the engine knows nothing else. Plain
dataclasses, picklable, so replications can run in worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from capplan.model.distributions import Dist


class Op(IntEnum):
    SERVE = 0      # be served at a station (FCFS queue, processor sharing or infinite servers)
    DELAY = 1      # pure delay (infinite servers, no statistics): client-side time, network hops
    ACQUIRE = 2    # take a token from a pool (DB connection, queue worker, mesh connection), wait or be rejected
    RELEASE = 3    # give the token back
    BIND = 4       # pick a replica of a group (load balancing); later steps on that group use it
    STREAM = 5     # an SSE generation: first token, then the deltas' work on the loop and Redis, in slices
    MARK = 6       # record the time since the request started into a named metric
    LIMIT = 7      # fixed-window rate limit: reject when the window's count is exhausted
    BRANCH = 8     # jump to one of several route positions with given probabilities
    JUMP = 9       # jump to a route position
    PROVIDER = 10  # a call to the LLM provider: its account's RPM/TPM buckets, 429s, client retries
    FORK = 11      # start a detached job on its own route (an event to a bus); the customer goes on
    FAIL = 12      # the request fails here (a step switched off for an outage: capplan.sim.dynamic)


# Station disciplines
FCFS, PS, IS = "fcfs", "ps", "is"
# How a stream's work picks the instance of a multi-instance station
BOUND, KEYED, OTHER, RANDOM = 0, 1, 2, 3


@dataclass
class Step:
    op: Op
    target: int = -1                 # station / pool / group / metric / limiter / provider index
    dist: Dist | None = None         # service or delay time
    prob: float = 1.0                # the step runs with this probability, else it is skipped
    branches: tuple[tuple[float, int], ...] = ()   # BRANCH: (cumulative probability, route index)
    jump: int = -1                   # JUMP: route index
    stream: "StreamSpec | None" = None
    call: "CallSpec | None" = None   # PROVIDER: what the call asks of the provider
    route: "list[Step] | None" = None  # FORK: the detached job's route


@dataclass
class StationSpec:
    name: str
    servers: int = 1                 # servers per instance (c)
    capacity: int | None = None      # max customers per instance incl. in service (K); None = unlimited
    instances: int = 1               # replicas of this station
    group: int = -1                  # replica group whose binding picks the instance (-1: random)
    slowdown: float = 1.0            # service times are multiplied by this (CPU limit below one core)
    kind: str = "queue"              # label for reports: cpu, database, cache, proxy, queue ...
    discipline: str = FCFS           # fcfs | ps (processor sharing) | is (infinite servers)


@dataclass
class PoolSpec:
    name: str
    size: int                        # tokens per instance
    instances: int = 1
    group: int = -1
    loss: bool = False               # True: reject when empty (connection cap); False: wait FIFO
    kind: str = "pool"
    queue_limit: int | None = None   # at most this many may wait (Envoy's pending requests); None = unlimited


@dataclass
class GroupSpec:
    name: str
    replicas: int
    policy: str = "round_robin"      # round_robin | least_conn | random
    memory_limit_mib: float | None = None
    base_memory_mib: float = 0.0
    memory_per_stream_mib: float = 0.0


@dataclass
class LimitSpec:
    name: str
    limit: int                       # requests allowed per window per key
    window_s: float
    keys: int = 1                    # number of distinct keys (users, IPs); 1 = one global counter
    users_per_key: int = 1           # key = user // users_per_key


@dataclass
class ProviderSpec:
    """An LLM provider account's limits for one model: token buckets refilled every second."""

    name: str
    rpm: float | None                # requests per minute
    tpm: float | None                # tokens per minute
    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0


@dataclass
class CallSpec:
    """One call to the provider: the tokens it counts against TPM.

    ``turns`` set: a chat message; its conversation turn is drawn (P(turn k) = turns[k-1]) and its
    prompt has ``input_by_turn[k-1]`` tokens; the answer's length is drawn from ``output`` and kept
    for the stream. Otherwise a fixed ``input`` + ``output_fixed`` (e.g. a title call)."""

    input_fixed: float = 0.0
    output_fixed: float = 0.0
    output: Dist | None = None
    turns: tuple[float, ...] = ()
    input_by_turn: tuple[float, ...] = ()
    metric: int = -1                 # records the provider wait (429 back-off) per call


@dataclass
class StreamWork:
    """Work one streamed delta does at a station: ``per_delta`` server-seconds on ``station``."""

    station: int
    per_delta: float
    select: int = BOUND              # BOUND (the customer's replica), KEYED (the stream's shard), OTHER, RANDOM
    turn: bool = False               # a visit even with no work (a callback's turn on a FIFO loop)


@dataclass
class StreamSpec:
    """An SSE generation. The provider sends the first token after ``ttft`` (plus a reasoning
    model's silence); LibreChat coalesces the chunks into at most one delta per ``window_s``, so an
    answer of T tokens at r tokens/s makes min(ceil(T / tokens_per_chunk), ceil(T / r / window))
    deltas. Each delta costs ``work`` at its stations (the Node event loop, Redis). The first delta
    is a slice of its own (it marks the first token); the rest are processed in slices of
    ``slice_deltas``: a slice starts when the provider sends its first delta and the previous slice
    is done, and does its work at each station in turn (on an idle loop it is done before its last
    token is sent, so the stream keeps the provider's pace and ends when the last token is sent).
    When the loop or Redis is saturated, slices wait: the stream gets longer and the first token
    later, and no station ever does more work than it has servers for."""

    ttft: Dist
    tokens: Dist                     # answer length when the provider call did not draw one
    token_rate: Dist                 # tokens per second while streaming
    window_s: float
    tokens_per_chunk: float
    slice_deltas: int
    work: list[StreamWork]
    ttft_metric: int                 # time to first token (from request start)
    gap_metric: int                  # the longest silence the client saw (first token included)
    total_metric: int                # the stream's length (from its start to its last delta)
    stretch_metric: int              # actual / nominal stream length (1 = never slowed)
    thinking: Dist | None = None     # a reasoning model's silence before the first token
    thinking_share: float = 0.0
    mean_deltas: float = 0.0         # E[deltas per answer] (for the screen)
    catch_up: bool = False           # a slice that starts late takes every delta sent by then (Node reads them together)
    mean_generation: float = 0.0     # E[tokens / rate] (for the screen)


@dataclass
class ClassSpec:
    name: str
    route: list[Step]
    interarrival: Dist | None = None     # open class: Poisson when exponential
    population: int = 0                  # closed class: number of users cycling
    think: Dist | None = None            # closed class: think time between requests
    users: int = 1                       # user ids drawn for open classes (rate limit keys)
    metric: int = -1                     # metric index for the class's response time


@dataclass
class NetworkSpec:
    name: str
    stations: list[StationSpec]
    classes: list[ClassSpec]
    pools: list[PoolSpec] = field(default_factory=list)
    groups: list[GroupSpec] = field(default_factory=list)
    limits: list[LimitSpec] = field(default_factory=list)
    providers: list[ProviderSpec] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    notes: dict[str, str] = field(default_factory=dict)
    # per-class figures at every station and the time-average distribution of the number present
    # (textbook networks report them; the LibreChat tiers skip the bookkeeping)
    detail: bool = False
    state_limit: int = 30            # P(N = n) kept for n < state_limit; the rest is the tail

    def metric_index(self, name: str) -> int:
        if name not in self.metrics:
            self.metrics.append(name)
        return self.metrics.index(name)
