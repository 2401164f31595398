"""LibreChat architectures (``kind: tier``): components and counts (capplan.sim.build compiles them).

A tier names its proxy/load balancer, its Node services (replicas x processes, CPU and memory
limits, which request kinds each one handles), the optional Bull-style queue, the LLM provider's
limits, MongoDB (pool per process, primary cores, secondaries, shards) and Redis. ``build_network``
turns tier + workload + registered users into the engine's NetworkSpec: users are a closed
population (think, send a message, wait for the streamed answer, think again); API reads and JWT
refreshes arrive as Poisson streams in proportion to active users.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from capplan.model.distributions import Dist, Seconds
from capplan.model.workload import MiB, Share

RequestKind = Literal["message", "api_read", "refresh", "auth", "agent", "title", "stream", "files"]
# Proxy idle/read timeouts by kind (research/librechat.md): nginx proxy_read_timeout 60 s,
# AWS ALB idle timeout 60 s, Cloudflare 100 s; others default to 60 s unless the file says.
# "direct" is Express itself: HTTP_REQUEST_TIMEOUT_MS defaults to 300 s.
DEFAULT_IDLE_TIMEOUT = {"direct": 300.0, "nginx": 60.0, "haproxy": 60.0, "alb": 60.0, "cloudflare": 100.0, "gclb": 30.0,
                        "appgw": 20.0, "gateway": 60.0, "istio": 60.0}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimedUsers(_Strict):
    min: int = Field(ge=0)
    max: int | None = Field(default=None, ge=1)


class Proxy(_Strict):
    kind: Literal["direct", "nginx", "haproxy", "alb", "gclb", "appgw", "gateway", "istio"]
    idle_timeout: Seconds | None = None   # None: the kind's default
    max_connections: int = Field(ge=1)    # open client connections (SSE streams included)
    balance: Literal["round_robin", "least_conn", "random"] = "round_robin"
    workers: int = Field(default=1, ge=1)
    cpu_per_request: Dist

    @property
    def timeout_s(self) -> float:
        return self.idle_timeout if self.idle_timeout is not None else DEFAULT_IDLE_TIMEOUT[self.kind]


class CDN(_Strict):
    kind: Literal["cloudflare", "cloudfront", "cloud_cdn", "azure_cdn"]
    timeout: Seconds


class Service(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$")
    replicas: int = Field(ge=1)
    processes: int = Field(default=1, ge=1)   # Node processes per replica (LibreChat: 1, PM2 cluster: more)
    cpu: float = Field(gt=0)                  # CPU cores limit per replica
    memory: MiB = Field(gt=0)                 # memory limit per replica
    base_memory: MiB                          # resident memory of an idle process
    handles: list[RequestKind] = Field(min_length=1)
    cpu_factor: float = Field(default=1.0, gt=0)  # CPU time relative to Node (e.g. Go < 1)


class Queue(_Strict):
    kind: Literal["bull", "kafka", "rabbitmq", "sqs"]
    workers: int = Field(ge=1)                # generations processed at once (worker concurrency)


class LLMProvider(_Strict):
    concurrency: int | None = Field(default=None, ge=1)   # concurrent requests allowed
    rpm: float | None = Field(default=None, gt=0)          # requests per minute allowed


class Mongo(_Strict):
    shards: int = Field(default=1, ge=1)
    cores: int = Field(ge=1)                 # cores per data-bearing node
    secondaries: int = Field(default=0, ge=0)
    read_from_secondaries: bool = False      # readPreference secondaryPreferred for API reads
    pool_per_process: int = Field(ge=1)      # MONGO_MAX_POOL_SIZE (per Node process!)
    max_connections: int | None = Field(default=None, ge=1)  # per member (e.g. Atlas M30: 3,000)
    speed: float = Field(default=1.0, gt=0)  # service-time divisor relative to the workload's figures


class Redis(_Strict):
    enabled: bool = True
    nodes: int = Field(default=1, ge=1)      # primaries (cluster shards); each is single-threaded
    streams: bool = True                     # USE_REDIS_STREAMS (defaults to USE_REDIS)


class Regions(_Strict):
    count: int = Field(default=1, ge=1)
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
    llm_provider: LLMProvider = LLMProvider()
    mongo: Mongo
    redis: Redis = Redis(enabled=False)
    regions: Regions = Regions()
    kubernetes: bool = False
    # The architecture itself has one app process and one database: the planner may not add
    # replicas or shards (that would be another tier), only resize what is there.
    single_instance: bool = False

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
    def idle_timeout_s(self) -> float:
        timeout = self.proxy.timeout_s
        if self.cdn is not None:
            timeout = min(timeout, self.cdn.timeout)
        return timeout

    def warnings(self) -> list[str]:
        out = []
        multi = sum(s.replicas * s.processes for s in self.services if "message" in s.handles or "stream" in s.handles)
        if multi > 1 and not self.redis.enabled:
            out.append("redis: LibreChat needs USE_REDIS for more than one API process "
                       "(stream jobs, aborts and rate-limit counters are per process otherwise)")
        if self.mongo.max_connections is not None and self.mongo_connections() > self.mongo.max_connections:
            out.append(f"mongo: MONGO_MAX_POOL_SIZE {self.mongo.pool_per_process} is per Node process: "
                       f"{self.mongo_connections():,} connections per member exceed its {self.mongo.max_connections:,}")
        return out

    def mongo_connections(self) -> int:
        """Connections the app may open to each MongoDB member: pool x every Node process."""
        return self.mongo.pool_per_process * sum(s.replicas * s.processes for s in self.services)
