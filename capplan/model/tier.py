"""LibreChat architectures (``kind: tier``): components and counts (capplan.sim.build compiles them).

A tier names its proxy/load balancer (and CDN, and an optional service mesh), its Node services
(replicas x processes, CPU and memory limits, which request kinds each one handles), the seed's
optional Bull-style queue (which LibreChat does not ship), an optional event bus (Kafka), MongoDB
(pool per process, primary cores, secondaries, shards) and Redis. The LLM provider's limits belong
to the workload (an account property, not an architecture's).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from capplan.limits import MAX_PROCESSES, MAX_REPLICAS, MAX_SERVERS
from capplan.model.distributions import Dist, Seconds
from capplan.model.workload import MiB, Share

RequestKind = Literal["message", "api_read", "refresh", "auth", "agent", "title", "stream", "files"]
# A queue LibreChat does not have: its API ships no job queue (no bull/bullmq dependency).
QUEUE_NOTE = "needs a LibreChat code change: LibreChat ships no job queue (no bull/bullmq dependency)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers


class ClaimedUsers(_Strict):
    min: int = Field(ge=0)
    max: int | None = Field(default=None, ge=1)


def _gone(data, old: str, why: str):
    """A field of an earlier version: one line saying where it went."""
    if isinstance(data, dict) and old in data:
        raise ValueError(f"{old}: {why}")
    return data


class Proxy(_Strict):
    # cloud_lb: the provider's load balancer (ALB on AWS, the external Application LB on GCP,
    # Application Gateway on Azure); its timer is the provider's (scenarios/proxies.yaml).
    kind: Literal["direct", "nginx", "haproxy", "alb", "gclb", "appgw", "cloud_lb", "gateway"]
    timeout: Seconds | None = None        # the kind's timer set to this value (None: its default)
    max_connections: int = Field(ge=1, le=MAX_SERVERS)    # open client connections (SSE streams included)
    balance: Literal["round_robin", "least_conn", "random"] = "round_robin"
    workers: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    cpu_per_request: Dist

    @model_validator(mode="before")
    @classmethod
    def _old_names(cls, data):
        return _gone(data, "idle_timeout", "renamed to timeout (idle or total, as the kind's timer is: scenarios/proxies.yaml)")


class CDN(_Strict):
    kind: Literal["cloudflare", "cloudfront", "cloud_cdn", "azure_cdn"]
    timeout: Seconds | None = None        # None: the CDN's default (scenarios/proxies.yaml)


class Mesh(_Strict):
    """A service mesh between the ingress and the app (the seed's Istio DestinationRule and route)."""

    kind: Literal["istio"] = "istio"
    gateways: int = Field(default=1, ge=1, le=MAX_REPLICAS)           # ingress gateway pods: each Envoy has its own pools
    max_connections: int | None = Field(default=None, ge=1, le=MAX_SERVERS)          # connectionPool.tcp.maxConnections
    http1_max_pending_requests: int | None = Field(default=None, ge=0, le=MAX_SERVERS)  # connectionPool.http.http1MaxPendingRequests
    route_timeout: Seconds | None = None             # VirtualService http timeout: a total-response timer


class Service(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    replicas: int = Field(ge=1, le=MAX_REPLICAS)
    processes: int = Field(default=1, ge=1, le=MAX_PROCESSES)   # Node processes per replica (LibreChat: 1, PM2 cluster: more)
    cpu: float = Field(gt=0)                  # CPU cores limit per replica
    memory: MiB = Field(gt=0)                 # memory limit per replica
    base_memory: MiB                          # resident memory of an idle process
    handles: list[RequestKind] = Field(min_length=1)
    cpu_factor: float = Field(default=1.0, gt=0)  # CPU time relative to Node (e.g. Go < 1)


class Queue(_Strict):
    """The seed's Bull queue for AI requests, as the seed designs it (see QUEUE_NOTE)."""

    kind: Literal["bull"] = "bull"
    enabled: bool = True
    workers: int = Field(ge=1, le=MAX_SERVERS)                # generations processed at once (worker concurrency)

    @model_validator(mode="before")
    @classmethod
    def _bus_kinds(cls, data):
        if isinstance(data, dict) and data.get("kind") in ("kafka", "rabbitmq", "sqs"):
            raise ValueError(f"kind: {data['kind']} is an event bus, not a cap on generations: use event_bus")
        return data


class EventBus(_Strict):
    """Kafka as an event bus: messages publish events, a consumer group processes them later.

    The user's turn waits only for the producer's acknowledgement; consumers fall behind (lag)
    when partitions x consumer throughput is below the event rate."""

    kind: Literal["kafka"] = "kafka"
    partitions: int = Field(ge=1, le=MAX_REPLICAS)
    consumers: int = Field(ge=1, le=MAX_REPLICAS)              # consumers in the group (at most one per partition works)
    events_per_message: float = Field(ge=0)
    consume_time: Dist                        # processing time of one event by a consumer
    produce_latency: Seconds = 0.0            # acks=all round trip the turn waits for

    @property
    def active_consumers(self) -> int:
        return min(self.partitions, self.consumers)


class Mongo(_Strict):
    shards: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    cores: int = Field(ge=1, le=MAX_PROCESSES)                 # cores per data-bearing node
    secondaries: int = Field(default=0, ge=0, le=MAX_REPLICAS)
    read_from_secondaries: bool = False      # readPreference secondaryPreferred for API reads
    pool_per_process: int = Field(ge=1, le=MAX_SERVERS)      # MONGO_MAX_POOL_SIZE (per Node process!)
    max_connections: int | None = Field(default=None, ge=1, le=MAX_SERVERS)  # per member (e.g. Atlas M30: 3,000)
    speed: float = Field(default=1.0, gt=0)  # service-time divisor relative to the workload's figures


class Redis(_Strict):
    enabled: bool = True
    nodes: int = Field(default=1, ge=1, le=MAX_REPLICAS)      # primaries (cluster shards); each is single-threaded
    streams: bool = True                     # USE_REDIS_STREAMS (defaults to USE_REDIS)
    sharded_pubsub: bool = False             # SPUBLISH: a delta goes to its shard only, not to every node


class Regions(_Strict):
    count: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    busiest_share: Share = 1.0               # share of users in the busiest region (the one simulated)


class Tier(_Strict):
    kind: Literal["tier"] = "tier"
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    title: str
    description: str = ""
    claimed_users: ClaimedUsers
    claimed_monthly_usd: dict[str, str] = Field(default_factory=dict)
    source: str
    proxy: Proxy
    cdn: CDN | None = None
    services: list[Service] = Field(min_length=1)
    queue: Queue | None = None
    event_bus: EventBus | None = None
    mesh: Mesh | None = None
    mongo: Mongo
    redis: Redis = Redis(enabled=False)
    regions: Regions = Regions()
    kubernetes: bool = False
    waf: bool = False                        # a web application firewall at the edge (billed, managed)
    # The architecture itself has one app process and one database: the planner may not add
    # replicas or shards (that would be another tier), only resize what is there.
    single_instance: bool = False

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data):
        return _gone(data, "llm_provider", "moved to the workload's llm.limits (rpm, tpm): they are the provider account's")

    @model_validator(mode="after")
    def _kinds_served(self) -> "Tier":
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            raise ValueError("services: names must be unique")
        for kind in ("message", "api_read", "refresh", "stream"):
            owners = [s.name for s in self.services if kind in s.handles]
            if len(owners) != 1:
                raise ValueError(f"services: exactly one service must handle {kind!r} (found {owners or 'none'})")
        for kind in ("auth", "agent", "title"):
            owners = [s.name for s in self.services if kind in s.handles]
            if len(owners) > 1:
                raise ValueError(f"services: at most one service may handle {kind!r} (found {owners})")
        return self

    def service_for(self, kind: str) -> Service | None:
        for s in self.services:
            if kind in s.handles:
                return s
        return None

    @property
    def queue_enabled(self) -> bool:
        return self.queue is not None and self.queue.enabled

    def warnings(self) -> list[str]:
        out = []
        multi = sum(s.replicas * s.processes for s in self.services if "message" in s.handles or "stream" in s.handles)
        if multi > 1 and not self.redis.enabled:
            out.append("redis: LibreChat needs USE_REDIS for more than one API process "
                       "(stream jobs, aborts and rate-limit counters are per process otherwise)")
        if self.mongo.max_connections is not None and self.mongo_connections() > self.mongo.max_connections:
            out.append(f"mongo: MONGO_MAX_POOL_SIZE {self.mongo.pool_per_process} is per Node process: "
                       f"{self.mongo_connections():,} connections per member exceed its {self.mongo.max_connections:,}")
        if self.queue_enabled:
            out.append(f"queue: the seed's Bull queue {QUEUE_NOTE}")
        return out

    def mongo_connections(self) -> int:
        """Connections the app may open to each MongoDB member: pool x every Node process."""
        return self.mongo.pool_per_process * sum(s.replicas * s.processes for s in self.services)
