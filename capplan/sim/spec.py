"""The compiled form of a model the engine runs: stations, pools, request classes and their routes.

Both textbook networks (capplan.model.network) and LibreChat architectures (capplan.model.tier)
compile to a :class:`NetworkSpec`; the engine knows nothing else. Plain dataclasses, picklable,
so replications can run in worker processes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from capplan.model.distributions import Dist


class Op(IntEnum):
    SERVE = 0      # wait for one of the station's servers, hold it for a service time
    DELAY = 1      # pure delay (infinite servers): LLM calls, client-side time
    ACQUIRE = 2    # take a token from a pool (DB connection, queue worker, provider slot), wait or be rejected
    RELEASE = 3    # give the token back
    BIND = 4       # pick a replica of a group (load balancing); later steps on that group use it
    STREAM = 5     # an SSE generation: time to first token + tokens / rate, held on the bound replica
    MARK = 6       # record the time since the request started into a named metric
    LIMIT = 7      # fixed-window rate limit: reject when the window's count is exhausted
    BRANCH = 8     # jump to one of several route positions with given probabilities
    JUMP = 9       # jump to a route position


@dataclass
class Step:
    op: Op
    target: int = -1                 # station / pool / group / metric / limiter index
    dist: Dist | None = None         # service or delay time
    prob: float = 1.0                # the step runs with this probability, else it is skipped
    branches: tuple[tuple[float, int], ...] = ()   # BRANCH: (cumulative probability, route index)
    jump: int = -1                   # JUMP: route index
    stream: "StreamSpec | None" = None


@dataclass
class StationSpec:
    name: str
    servers: int = 1                 # servers per instance (c)
    capacity: int | None = None      # max customers per instance incl. in service (K); None = unlimited
    instances: int = 1               # replicas of this station
    group: int = -1                  # replica group whose binding picks the instance (-1: random)
    slowdown: float = 1.0            # service times are multiplied by this (CPU limit below one core)
    kind: str = "queue"              # label for reports: cpu, db, cache, proxy, queue ...


@dataclass
class PoolSpec:
    name: str
    size: int                        # tokens per instance
    instances: int = 1
    group: int = -1
    loss: bool = False               # True: reject when empty (connection cap); False: wait FIFO
    kind: str = "pool"


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
    keys: int = 1                    # number of distinct keys (users, IPs)
    users_per_key: int = 1           # key = user // users_per_key


@dataclass
class StreamSpec:
    """An SSE generation held on the bound replica for ttft + tokens / rate seconds."""

    ttft: Dist
    tokens: Dist
    token_rate: Dist                 # tokens per second (mean and cv)
    ttft_metric: int                 # metric index for time to first token (from request start)
    idle_timeout_s: float | None     # proxy idle/read timeout the stream is compared with
    # Fine-grained work an open stream does from first token to end (a delta every ~25 ms, each
    # well under a millisecond) is background load on single-server stations, not separate jobs:
    # (station index, share of one server per open stream, bound to the stream's replica?).
    # Unbound load is spread evenly over the station's instances.
    background: list[tuple[int, float, bool]] = field(default_factory=list)


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
    metrics: list[str] = field(default_factory=list)
    # metrics whose samples also feed a named aggregate, e.g. every API-type MARK -> "api_latency"
    notes: dict[str, str] = field(default_factory=dict)

    def metric_index(self, name: str) -> int:
        if name not in self.metrics:
            self.metrics.append(name)
        return self.metrics.index(name)
