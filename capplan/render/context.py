"""The render context: every value the manifest templates use, validated once.

A planner decides the sizing; :class:`RenderContext` carries it (and the few operational knobs the
templates need) into Jinja2. Templates hold no numbers of their own: each number they print is a
field here or a value derived from the fields in :func:`template_vars`.

Sources for the defaults (see ../shared/research/librechat.md and validators.md):
- LibreChat listens on 3080 and answers ``GET /health``; Node needs ``--max-old-space-size`` at ~75 %
  of the container memory limit; ``HTTP_KEEP_ALIVE_TIMEOUT_MS`` must exceed the load balancer's idle
  timeout; nginx's body limit is 25 MB in LibreChat's own config.
- HPA targets 70 % CPU / 80 % memory and the alert thresholds (CPU 80 %, memory 85 %, p95 2 s,
  errors 1 %, queue backlog 1000) come from the seed architecture document.
- HPA behaviour defaults follow the Kubernetes controller (scale-up window 0 s, 4 pods or 100 % per
  15 s; scale-down window 300 s); scale-down here is slower (1 pod a minute) because every removed
  pod cuts its open SSE streams unless it drains.
"""

from __future__ import annotations

import math
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from capplan.errors import CapplanError

#: Share of the container memory limit given to V8's old space (librechat.md: "~75 % of the limit").
OLD_SPACE_FRACTION = 0.75

#: The latency quantile of the ``p95_latency_slo_s`` alert.
P95 = 0.95

#: Default ``HTTP_KEEP_ALIVE_TIMEOUT_MS`` is the LB idle timeout plus this margin (librechat.md: Node's
#: keep-alive must outlive the balancer's idle timeout); the headers timeout adds it once more.
KEEP_ALIVE_MARGIN_MS = 5000

#: Default route timeout of non-streaming API calls, capped at ``proxy_read_timeout_s``.
API_TIMEOUT_S = 120

DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_PATH_PREFIX = re.compile(r"^/[A-Za-z0-9/_.-]*$")
_REGION = {
    "aws": re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d+$"),
    "gcp": re.compile(r"^[a-z]+-[a-z]+\d+$"),
    "azure": re.compile(r"^[a-z]+[a-z0-9]*$"),
}
_K8S_MINOR = re.compile(r"^1\.(\d+)$")

# Kubernetes API limits for HPA behaviour (autoscaling/v2 validation).
_MAX_STABILIZATION_S = 3600
_MAX_POLICY_PERIOD_S = 1800
# The Gateway's L4 load balancer (k8s/gateway.yaml): AWS NLB TCP listener idle timeout 60..6000 s
# (default 350 s); Azure LB TCP idle timeout 4..100 min (default 4). Both sit above the longest stream.
_AWS_NLB_IDLE_S = (60, 6000)
_AZURE_LB_IDLE_MIN = (4, 100)

#: Floor of the API container's memory limit: LibreChat's maintainers ask 1 GB minimum and prefer
#: 2 GB per instance (librechat.md); a 1 GiB limit leaves a 768 MiB heap that ~100 users crash.
MEMORY_FLOOR_MIB = 2048


def _cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


class PodSpec(BaseModel):
    """One rendered workload's size (a Deployment or StatefulSet beside the API), as the deployment
    model packed it onto a node group: the bill pays for the nodes these requests occupy."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="workload name (DNS label)")
    replicas: int = Field(ge=0, description="replicas rendered (the minimum when autoscaled)")
    replicas_max: int = Field(ge=0, description="most replicas an autoscaler may run (= replicas when fixed)")
    cpu_request_millicores: int = Field(ge=1)
    cpu_limit_millicores: int = Field(ge=1)
    memory_request_mib: int = Field(ge=1)
    memory_limit_mib: int = Field(ge=1)
    disk_gib: int = Field(default=0, ge=0, description="PersistentVolumeClaim per replica (0: none)")
    node_group: str = Field(default="app", description="node group the pods are placed on")
    image: str = Field(default="", description="container image (empty: the template's own)")

    @property
    def cpu_request(self) -> str:
        return _cpu(self.cpu_request_millicores)

    @property
    def cpu_limit(self) -> str:
        return _cpu(self.cpu_limit_millicores)


class NodeGroupSpec(BaseModel):
    """A node group (EKS managed node group, GKE node pool, AKS node pool) with autoscaler bounds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(description="node group name (DNS label)")
    instance_type: str = Field(description="the provider's instance type name, e.g. m6i.large")
    min_nodes: int = Field(ge=1)
    max_nodes: int = Field(ge=1)
    disk_gib: int = Field(default=50, ge=20, description="root / OS disk per node")
    role: Literal["app", "data"] = "app"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def node_old_space_mib(memory_limit_mib: int) -> int:
    """V8 old-space cap for ``NODE_OPTIONS=--max-old-space-size``: ~75 % of the memory limit (MiB).

    The heap cap, not the pod limit, is what crashes LibreChat pods (librechat.md); the remaining
    quarter covers buffers, code space and native memory.
    """
    if memory_limit_mib <= 0:
        raise CapplanError("must be a positive number of MiB", field="memory_limit_mib")
    return int(memory_limit_mib * OLD_SPACE_FRACTION)


class RenderContext(BaseModel):
    """Everything the templates print. Frozen; unknown keys are rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # --- what and where -------------------------------------------------------------------------
    tier: str = Field(description="architecture tier name from the planner, e.g. tier2 (DNS label)")
    # False for the planner's Docker Compose tiers: only the Kubernetes-only rules (EKS zones) relax;
    # which targets make sense for such a plan is capplan.render.plan's business.
    kubernetes: bool = Field(default=True, description="the plan runs on Kubernetes (False: Docker Compose hosts)")
    provider: Literal["aws", "gcp", "azure"]
    region: str = Field(description="cloud region, e.g. us-east-1 / us-central1 / eastus")
    users: int = Field(ge=1, description="registered users the sizing was planned for")
    namespace: str = "librechat"
    app_name: str = "librechat"
    # LibreChat's published image; pin the tag (or a digest) the planner's load model was made for.
    image: str = "ghcr.io/danny-avila/librechat:v0.8.1"
    hostname: str = Field(default="chat.example.com", description="public host name (Gateway listener, HTTPRoute)")
    kubernetes_version: str = Field(default="1.33", description="cluster minor version, e.g. 1.33")
    secret_name: str = Field(default="librechat-secrets", description="Kubernetes Secret holding credentials")

    # --- API pods and autoscaling ---------------------------------------------------------------
    replicas: int = Field(ge=1)
    hpa_min_replicas: int = Field(ge=1)
    hpa_max_replicas: int = Field(ge=1)
    hpa_cpu_target_pct: int = Field(default=70, ge=1, le=100)  # seed
    hpa_memory_target_pct: int = Field(default=80, ge=1, le=100)  # seed
    # Off by default: a Node heap grows to its cap and V8 rarely gives it back, so a memory target
    # scales out and never in. On (capplan --memory-hpa) it is rendered with a warning comment.
    hpa_memory: bool = Field(default=False, description="also scale on memory (opt-in)")
    hpa_scale_up_stabilization_s: int = Field(default=0, ge=0, le=_MAX_STABILIZATION_S)
    hpa_scale_up_pods: int = Field(default=4, ge=1)
    hpa_scale_up_pct: int = Field(default=100, ge=1)
    hpa_scale_up_period_s: int = Field(default=15, ge=1, le=_MAX_POLICY_PERIOD_S)
    hpa_scale_down_stabilization_s: int = Field(default=300, ge=0, le=_MAX_STABILIZATION_S)
    hpa_scale_down_pods: int = Field(default=1, ge=1)
    hpa_scale_down_period_s: int = Field(default=60, ge=1, le=_MAX_POLICY_PERIOD_S)
    pdb_min_available: int | None = Field(default=None, ge=0, description="default: hpa_min_replicas - 1")
    cpu_request_millicores: int = Field(ge=1)
    cpu_limit_millicores: int = Field(ge=1)
    memory_request_mib: int = Field(ge=1)
    # Request = limit (checked below): the scheduler reserves what Node's heap will grow to.
    memory_limit_mib: int = Field(ge=MEMORY_FLOOR_MIB, description="maintainers: 1 GB minimum, 2 GB preferred"
                                  " per instance (librechat.md)")
    rollout_max_surge_pct: int = Field(default=25, ge=1, le=100)
    rollout_max_unavailable: int = Field(default=0, ge=0)
    revision_history_limit: int = Field(default=5, ge=0)
    topology_max_skew: int = Field(default=1, ge=1)
    run_as_user: int = Field(default=1000, ge=1, description="uid of the image's node user")
    run_as_group: int = Field(default=1000, ge=1)

    # --- ports ----------------------------------------------------------------------------------
    api_port: int = Field(default=3080, ge=1, le=65535)
    service_port: int = Field(default=80, ge=1, le=65535)
    http_port: int = Field(default=80, ge=1, le=65535, description="nginx listen port (compose)")
    mongo_port: int = Field(default=27017, ge=1, le=65535)
    redis_port: int = Field(default=6379, ge=1, le=65535)
    meili_port: int = Field(default=7700, ge=1, le=65535)
    bull_board_port: int = Field(default=3000, ge=1, le=65535, description="container port")
    bull_board_host_port: int = Field(default=3001, ge=1, le=65535, description="published on 127.0.0.1")

    # --- probes (Kubernetes) and healthchecks (compose) -----------------------------------------
    probe_period_s: int = Field(default=10, ge=1)
    probe_timeout_s: int = Field(default=3, ge=1)
    liveness_failure_threshold: int = Field(default=3, ge=1)
    readiness_period_s: int = Field(default=5, ge=1)
    readiness_failure_threshold: int = Field(default=2, ge=1)
    startup_period_s: int = Field(default=5, ge=1)
    startup_failure_threshold: int = Field(default=30, ge=1, description="x period = startup budget")

    # --- streams, timeouts, proxies -------------------------------------------------------------
    longest_stream_s: float = Field(gt=0, description="longest simulated SSE stream (planner)")
    proxy_read_timeout_s: int = Field(gt=0, description="nginx / stream route timeout; > longest stream")
    api_timeout_s: int | None = Field(default=None, gt=0, description="non-streaming route timeout; default:"
                                      " API_TIMEOUT_S capped at proxy_read_timeout_s")
    lb_idle_timeout_s: int = Field(default=60, gt=0, description="LB / proxy idle timeout to the pods")
    keep_alive_timeout_ms: int | None = Field(default=None, gt=0, description="HTTP_KEEP_ALIVE_TIMEOUT_MS; > LB"
                                              " idle timeout; default: LB idle timeout + KEEP_ALIVE_MARGIN_MS")
    headers_timeout_ms: int | None = Field(default=None, gt=0, description="default: keep-alive + 5 s")
    body_limit_mb: int = Field(default=25, ge=1)  # LibreChat's nginx.conf
    trust_proxy_hops: int = Field(default=1, ge=1, description="TRUST_PROXY: proxies in front of Node")
    prestop_drain_s: int | None = Field(default=None, ge=0, description="default: ceil(longest stream)")
    termination_grace_period_s: int | None = Field(default=None, ge=1, description="default: drain + 30 s")
    stream_path_prefixes: tuple[str, ...] = ("/api/agents/chat", "/api/ask", "/api/edit")

    # --- nginx (compose) -------------------------------------------------------------------------
    nginx_worker_connections: int = Field(default=4096, ge=64)
    nginx_upstream_keepalive: int = Field(default=32, ge=1)
    nginx_max_fails: int = Field(default=3, ge=0)
    nginx_fail_timeout_s: int = Field(default=10, ge=1)

    # --- Istio -----------------------------------------------------------------------------------
    istio_max_connections: int = Field(default=1024, ge=1, description="open streams hold one each")
    istio_max_pending_requests: int = Field(default=256, ge=1)
    istio_connect_timeout_s: int = Field(default=5, ge=1)
    istio_consecutive_5xx: int = Field(default=5, ge=1)
    istio_outlier_interval_s: int = Field(default=30, ge=1)
    istio_base_ejection_s: int = Field(default=30, ge=1)
    istio_max_ejection_pct: int = Field(default=50, ge=1, le=100)

    # --- data stores and queue -------------------------------------------------------------------
    mongo_max_pool_size: int = Field(ge=1, description="MONGO_MAX_POOL_SIZE, per Node process")
    mongo_members: int = Field(default=3, ge=1, le=7, description="replica-set members (odd)")
    mongo_connection_limit: int | None = Field(default=None, ge=1, description="server limit, if known")
    redis_enabled: bool
    redis_maxmemory_mib: int = Field(default=512, ge=16)
    queue_workers: int = Field(ge=0, description="Bull queue workers (0: no queue)")
    mongo_image: str = "mongo:8.0"
    redis_image: str = "redis:7.4-alpine"
    nginx_image: str = "nginx:1.27-alpine"
    meili_image: str = "getmeili/meilisearch:v1.12"
    # No upstream image is published by bull-board itself; this community image reads REDIS_* env.
    bull_board_image: str = "deadly0/bull-board:latest"

    # --- cluster ---------------------------------------------------------------------------------
    node_instance_type: str
    node_count_min: int = Field(ge=1)
    node_count_max: int = Field(ge=1)
    node_disk_gib: int = Field(default=50, ge=20)
    zones: tuple[str, ...] = Field(min_length=1)
    resource_group: str = Field(default="librechat-rg", description="Azure resource group (ASO owner)")

    # --- the deployment model's components (capplan.deploy) -------------------------------------
    # Empty/None defaults describe the smallest plan; capplan.deploy fills every one from the plan.
    node_groups: tuple[NodeGroupSpec, ...] = Field(default=(), description="node groups; empty: one 'app' group"
                                                   " of node_instance_type x node_count_min..node_count_max")
    aks_tier: Literal["Free", "Standard"] = Field(default="Free", description="AKS control plane tier (Standard: SLA)")
    mesh: bool = Field(default=False, description="Istio sidecars in the app namespace (the tier has a mesh)")
    istiod: PodSpec | None = Field(default=None, description="Istio control plane (None: no Istio at all)")
    ingress_gateway: PodSpec | None = Field(default=None, description="Istio ingress gateway pods (Gateway API)")
    sidecar: PodSpec | None = Field(default=None, description="Istio sidecar requests/limits (mesh only)")
    tls_secret_name: str = Field(default="librechat-tls", description="TLS certificate Secret (k8s) / file name stem (compose)")
    search: PodSpec | None = Field(default=None, description="Meilisearch (None: SEARCH=false, not rendered)")
    mongo_mode: Literal["self_hosted", "managed"] = "self_hosted"
    mongo_shards: int = Field(default=1, ge=1)
    mongo_member: PodSpec | None = Field(default=None, description="k8s self-hosted: one shard replica-set member")
    mongo_config_server: PodSpec | None = Field(default=None, description="k8s sharded: config server member")
    mongos: PodSpec | None = Field(default=None, description="k8s sharded: mongos routers")
    redis_mode: Literal["self_hosted", "managed"] = "self_hosted"
    exporters: tuple[PodSpec, ...] = Field(default=(), description="metric exporters (redis, mongodb, kube-state-metrics)")
    cluster_autoscaler: PodSpec | None = Field(default=None, description="in-cluster autoscaler (EKS)")
    services: tuple[PodSpec, ...] = Field(default=(), description="further API services beside the one holding"
                                          " the streams (the microservices tier's auth, agent, files ...)")
    compose_services: tuple[PodSpec, ...] = Field(default=(), description="compose: each service's limits on the"
                                                  " host (api, nginx, mongodb-<i>, redis, librechat-meilisearch, bull-board);"
                                                  " empty: the templates' own defaults")
    host_instance_type: str | None = Field(default=None, description="compose: the host's instance type (comment)")

    # --- alerts (seed monitoring section) --------------------------------------------------------
    cpu_alert_pct: int = Field(default=80, ge=1, le=100)
    memory_alert_pct: int = Field(default=85, ge=1, le=100)
    p95_latency_slo_s: float = Field(default=2.0, gt=0)
    error_rate_alert: float = Field(default=0.01, gt=0, lt=1)
    queue_backlog_alert: int = Field(default=1000, ge=1)
    alert_for_minutes: int = Field(default=5, ge=1)
    hpa_max_alert_for_minutes: int = Field(default=15, ge=1)
    alert_rate_window_minutes: int = Field(default=5, ge=1)

    # ----------------------------------------------------------------------------------------------
    @model_validator(mode="before")
    @classmethod
    def _fill_derived_defaults(cls, data: Any) -> Any:
        """Defaults that depend on other fields (only when the caller left them out)."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        idle = data.get("lb_idle_timeout_s", cls.model_fields["lb_idle_timeout_s"].default)
        if data.get("keep_alive_timeout_ms") is None and _number(idle):
            data["keep_alive_timeout_ms"] = math.ceil(idle * 1000) + KEEP_ALIVE_MARGIN_MS
        if data.get("headers_timeout_ms") is None and isinstance(data.get("keep_alive_timeout_ms"), int):
            data["headers_timeout_ms"] = data["keep_alive_timeout_ms"] + KEEP_ALIVE_MARGIN_MS
        if data.get("api_timeout_s") is None and _number(data.get("proxy_read_timeout_s")):
            data["api_timeout_s"] = min(API_TIMEOUT_S, math.floor(data["proxy_read_timeout_s"]))
        if data.get("pdb_min_available") is None and isinstance(data.get("hpa_min_replicas"), int):
            data["pdb_min_available"] = max(data["hpa_min_replicas"] - 1, 0)
        if data.get("prestop_drain_s") is None and isinstance(data.get("longest_stream_s"), (int, float)):
            data["prestop_drain_s"] = math.ceil(data["longest_stream_s"])
        if data.get("termination_grace_period_s") is None and isinstance(data.get("prestop_drain_s"), int):
            data["termination_grace_period_s"] = data["prestop_drain_s"] + 30
        return data

    @field_validator("tier", "namespace", "app_name", "secret_name", "resource_group", "tls_secret_name")
    @classmethod
    def _dns_label(cls, value: str) -> str:
        if len(value) > 63 or not DNS_1123_LABEL.match(value):
            raise ValueError(f"{value!r} is not a DNS-1123 label (lower-case letters, digits, '-'; max 63)")
        return value

    @field_validator("image", "mongo_image", "redis_image", "nginx_image", "meili_image", "bull_board_image")
    @classmethod
    def _pinned_image(cls, value: str) -> str:
        last = value.rsplit("/", 1)[-1]
        if not value or any(c.isspace() for c in value) or (":" not in last and "@" not in last):
            raise ValueError(f"{value!r} needs an explicit tag or digest")
        return value

    @field_validator("kubernetes_version")
    @classmethod
    def _k8s_version(cls, value: str) -> str:
        m = _K8S_MINOR.match(value)
        if not m or not 30 <= int(m.group(1)) <= 37:
            # 1.30: first version with preStop sleep on by default; 1.37: newest packaged schema.
            raise ValueError(f"{value!r} must be a Kubernetes minor version 1.30 .. 1.37")
        return value

    @field_validator("stream_path_prefixes")
    @classmethod
    def _stream_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("list at least one streaming path prefix")
        for prefix in value:
            if not _PATH_PREFIX.match(prefix):
                raise ValueError(f"{prefix!r} is not a URL path prefix")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> RenderContext:
        def fail(field: str, message: str) -> None:
            raise ValueError(f"{field}: {message}")

        if not _REGION[self.provider].match(self.region):
            fail("region", f"{self.region!r} is not a {self.provider} region name")
        if len(set(self.zones)) != len(self.zones):
            fail("zones", "zones repeat")
        for zone in self.zones:
            ok = zone in {"1", "2", "3"} if self.provider == "azure" else zone.startswith(self.region + "-")
            if not ok and not (self.provider == "aws" and re.fullmatch(re.escape(self.region) + r"[a-z]", zone)):
                fail("zones", f"{zone!r} is not a zone of {self.provider} region {self.region}")
        if self.provider == "aws" and self.kubernetes and len(self.zones) < 2:
            fail("zones", "EKS needs subnets in at least two availability zones")
        if not self.hpa_min_replicas <= self.replicas <= self.hpa_max_replicas:
            fail("replicas", f"need hpa_min_replicas ({self.hpa_min_replicas}) <= replicas ({self.replicas})"
                 f" <= hpa_max_replicas ({self.hpa_max_replicas})")
        if self.cpu_request_millicores > self.cpu_limit_millicores:
            fail("cpu_request_millicores", "request exceeds cpu_limit_millicores")
        if self.memory_request_mib != self.memory_limit_mib:
            fail("memory_request_mib", f"must equal memory_limit_mib ({self.memory_limit_mib}): Node's heap grows"
                 " to its cap and rarely shrinks, so the scheduler must reserve the whole limit")
        assert self.pdb_min_available is not None  # filled by _fill_derived_defaults
        if self.pdb_min_available >= self.hpa_min_replicas:
            fail("pdb_min_available", f"must stay below hpa_min_replicas ({self.hpa_min_replicas}) or node"
                 " drains block")
        if self.proxy_read_timeout_s <= self.longest_stream_s:
            fail("proxy_read_timeout_s", f"must exceed the longest stream ({self.longest_stream_s:g} s)")
        if self.api_timeout_s is None or self.keep_alive_timeout_ms is None:  # only when their inputs were invalid
            fail("api_timeout_s" if self.api_timeout_s is None else "keep_alive_timeout_ms", "could not be derived")
        if self.api_timeout_s > self.proxy_read_timeout_s:
            fail("api_timeout_s", "exceeds proxy_read_timeout_s")
        if self.keep_alive_timeout_ms <= self.lb_idle_timeout_s * 1000:
            fail("keep_alive_timeout_ms", f"must exceed the LB idle timeout ({self.lb_idle_timeout_s} s) or"
                 " the LB reuses connections Node already closed (502s)")
        assert self.headers_timeout_ms is not None
        if self.headers_timeout_ms <= self.keep_alive_timeout_ms:
            fail("headers_timeout_ms", "must exceed keep_alive_timeout_ms (Node closes keep-alive sockets first)")
        assert self.prestop_drain_s is not None and self.termination_grace_period_s is not None
        if self.termination_grace_period_s <= self.prestop_drain_s:
            fail("termination_grace_period_s", "must exceed prestop_drain_s")
        if self.hpa_max_replicas > 1 and not self.redis_enabled:
            fail("redis_enabled", "more than one API replica needs Redis (streams, aborts, rate limits)")
        if self.queue_workers > 0 and not self.redis_enabled:
            fail("queue_workers", "a Bull queue needs Redis")
        if self.mongo_members % 2 == 0:
            fail("mongo_members", "use an odd replica-set size (elections need a majority)")
        if self.mongo_connection_limit is not None and self.mongo_connections_at_max > self.mongo_connection_limit:
            fail("mongo_max_pool_size", f"{self.hpa_max_replicas} replicas x {self.mongo_max_pool_size} ="
                 f" {self.mongo_connections_at_max} connections exceed mongo_connection_limit")
        if self.node_count_min > self.node_count_max:
            fail("node_count_min", "exceeds node_count_max")
        # The Gateway's load balancer keeps an idle stream open for proxy_read_timeout_s (k8s/gateway.yaml).
        if self.kubernetes and self.provider == "azure" and self.gateway_lb_idle_timeout_minutes > _AZURE_LB_IDLE_MIN[1]:
            fail("proxy_read_timeout_s", f"the Azure load balancer idle timeout stops at {_AZURE_LB_IDLE_MIN[1]}"
                 " minutes; streams cannot be held longer")
        if self.kubernetes and self.provider == "aws" and self.gateway_lb_idle_timeout_s > _AWS_NLB_IDLE_S[1]:
            fail("proxy_read_timeout_s", f"the AWS NLB TCP idle timeout stops at {_AWS_NLB_IDLE_S[1]} s;"
                 " streams cannot be held longer")
        return self

    # --- derived values (pure functions of the fields) -------------------------------------------
    @property
    def app_version(self) -> str:
        """Version label: the image tag (or the digest's first 12 hex digits)."""
        last = self.image.rsplit("/", 1)[-1]
        if "@" in last:
            return last.split("@", 1)[1].split(":", 1)[-1][:12]
        return last.split(":", 1)[1]

    @property
    def node_old_space_mib(self) -> int:
        return node_old_space_mib(self.memory_limit_mib)

    @property
    def mongo_connections_at_max(self) -> int:
        """Connections the API opens to each MongoDB member at full scale (pool is per process)."""
        return self.hpa_max_replicas * self.mongo_max_pool_size

    @property
    def lb_idle_timeout_minutes(self) -> int:
        return math.ceil(self.lb_idle_timeout_s / 60)

    @property
    def gateway_lb_idle_timeout_s(self) -> int:
        """AWS NLB TCP idle timeout in front of the Gateway: the stream timeout, at least the NLB's minimum."""
        return max(_AWS_NLB_IDLE_S[0], self.proxy_read_timeout_s)

    @property
    def gateway_lb_idle_timeout_minutes(self) -> int:
        """Azure LB TCP idle timeout in front of the Gateway (minutes), at least Azure's minimum."""
        return max(_AZURE_LB_IDLE_MIN[0], math.ceil(self.proxy_read_timeout_s / 60))

    @property
    def cluster_name(self) -> str:
        return f"{self.app_name}-{self.tier}"


# --- cluster files (templates/cluster/*, k8s/cluster-autoscaler.yaml) ---------------------------------
#: Node label every node group carries (its value: the group name); the data group is also tainted with it.
NODE_GROUP_LABEL = "capplan.io/node-group"

#: Cluster Autoscaler image per Kubernetes minor. CA's minor must equal the cluster's (upstream FAQ), so
#: the tag follows ctx.kubernetes_version: the newest patch seen in a release note or a pinned manifest:
#: 1.33.6 / 1.34.5 / 1.35.2 / 1.36.1 (kubernetes/autoscaler releases of 2026-07-23), 1.32.3 (kubermatic
#: kubeone image list), 1.31.1 and 1.30.3 (pinned by digest in edgelesssys/constellation). 1.37:
#: [assumption] v1.37.0, the first release of that minor (every CA minor ships a .0); not seen here.
CLUSTER_AUTOSCALER_TAGS: dict[str, str] = {
    "1.30": "v1.30.3", "1.31": "v1.31.1", "1.32": "v1.32.3", "1.33": "v1.33.6", "1.34": "v1.34.5",
    "1.35": "v1.35.2", "1.36": "v1.36.1", "1.37": "v1.37.0",
}
CLUSTER_AUTOSCALER_IMAGE = "registry.k8s.io/autoscaling/cluster-autoscaler"
#: uid ``nobody``: upstream's cluster-autoscaler-autodiscover.yaml runs the (distroless) image as 65534.
CLUSTER_AUTOSCALER_UID = 65534

#: Source ports one NAT IP offers (1024..65535), GCP Cloud NAT and Azure NAT Gateway alike.
NAT_PORTS_PER_IP = 64512
#: Floor of GCP Cloud NAT ports per VM for LibreChat: every open LLM call (an SSE stream of up to
#: ctx.longest_stream_s) holds one source port to the provider's IP for its whole length, plus Cloud NAT's
#: 120 s TCP TIME_WAIT after it closes. GCP's default of 64 ports per VM caps a node at ~64 concurrent
#: calls to one provider address; 1024 covers ~1,000 open streams or ~8 new calls/s per node.
NAT_SSE_MIN_PORTS_PER_VM = 1024
#: GCP Cloud NAT's default --tcp-established-idle-timeout (s); raised to the stream timeout when longer.
GCP_NAT_TCP_ESTABLISHED_IDLE_S = 1200
#: Azure NAT Gateway TCP idle timeout range (minutes).
_AZURE_NAT_IDLE_MIN = (4, 120)


def _pow2_floor(value: int) -> int:
    return 1 << (max(1, value).bit_length() - 1)


def cluster_node_groups(ctx: RenderContext) -> list[dict[str, Any]]:
    """Node groups as the cluster templates print them (an empty ``ctx.node_groups`` is one 'app' group
    of node_instance_type x node_count_min..node_count_max). Per-zone counts are for GKE, whose
    ``--num-nodes`` / ``--min-nodes`` / ``--max-nodes`` count nodes in EACH zone: the totals divided by
    the zone count, rounded up (capplan.deploy packs in multiples of the zones, so nothing is rounded)."""
    groups = ctx.node_groups or (NodeGroupSpec(name="app", instance_type=ctx.node_instance_type,
                                               min_nodes=ctx.node_count_min, max_nodes=ctx.node_count_max,
                                               disk_gib=ctx.node_disk_gib),)
    zones = len(ctx.zones)
    out = []
    for group in groups:
        data = group.role == "data"
        out.append(dict(
            name=group.name, role=group.role, instance_type=group.instance_type, min_nodes=group.min_nodes,
            max_nodes=max(group.max_nodes, group.min_nodes), disk_gib=group.disk_gib,
            autoscaled=group.max_nodes > group.min_nodes,
            labels={NODE_GROUP_LABEL: group.name},
            taints=[{"key": NODE_GROUP_LABEL, "value": group.name, "effect": "NoSchedule"}] if data else [],
            taint_strings=[f"{NODE_GROUP_LABEL}={group.name}:NoSchedule"] if data else [],
            per_zone_min=math.ceil(group.min_nodes / zones), per_zone_max=math.ceil(group.max_nodes / zones),
            aks_mode="User" if data else "System",
        ))
    return out


def _pod_resources(pod: PodSpec | None) -> dict[str, dict[str, str]]:
    """A container's ``resources`` (Kubernetes quantities) from a PodSpec; empty without one."""
    if pod is None:
        return {}
    return {"requests": {"cpu": pod.cpu_request, "memory": f"{pod.memory_request_mib}Mi"},
            "limits": {"cpu": pod.cpu_limit, "memory": f"{pod.memory_limit_mib}Mi"}}


def cluster_vars(ctx: RenderContext) -> dict[str, Any]:
    """Derived values of the cluster templates and the cluster autoscaler manifest."""
    groups = cluster_node_groups(ctx)
    # VMs at the node groups' maximum (GKE: the per-zone maximum, rounded up, in every zone)
    vms_max = sum(g["per_zone_max"] * len(ctx.zones) if ctx.provider == "gcp" else g["max_nodes"] for g in groups)
    ca_image = ""
    if ctx.cluster_autoscaler is not None:
        ca_image = ctx.cluster_autoscaler.image or CLUSTER_AUTOSCALER_IMAGE
        if ":" not in ca_image.rsplit("/", 1)[-1] and "@" not in ca_image:
            ca_image = f"{ca_image}:{CLUSTER_AUTOSCALER_TAGS[ctx.kubernetes_version]}"
    return dict(
        node_group_label=NODE_GROUP_LABEL,
        cluster_node_groups=groups,
        app_group=next((g for g in groups if g["role"] == "app"), groups[0]),
        data_groups=[g for g in groups if g["role"] == "data"],
        cluster_autoscaler_image=ca_image,
        cluster_autoscaler_resources=_pod_resources(ctx.cluster_autoscaler),
        cluster_autoscaler_uid=CLUSTER_AUTOSCALER_UID,
        cluster_autoscaler_discovery=("asg:tag=k8s.io/cluster-autoscaler/enabled,"
                                      f"k8s.io/cluster-autoscaler/{ctx.cluster_name}"),
        nat={
            # AWS: one NAT gateway per zone (eksctl HighlyAvailable); GCP / Azure: one gateway, one IP
            "aws_gateways": len(ctx.zones),
            "ips": 1,
            "vms_max": vms_max,
            # Cloud NAT ports per VM: the one IP's ports shared over the most VMs the node groups can
            # run, rounded down to a power of two (Cloud NAT allocates powers of two), at least the SSE floor
            "gcp_min_ports_per_vm": max(NAT_SSE_MIN_PORTS_PER_VM, _pow2_floor(NAT_PORTS_PER_IP // vms_max)),
            "gcp_tcp_established_idle_s": max(GCP_NAT_TCP_ESTABLISHED_IDLE_S, ctx.proxy_read_timeout_s),
            "azure_idle_timeout_minutes": min(_AZURE_NAT_IDLE_MIN[1], max(_AZURE_NAT_IDLE_MIN[0],
                                                                          math.ceil(ctx.proxy_read_timeout_s / 60))),
            "router": f"{ctx.cluster_name}-router",
            "name": f"{ctx.cluster_name}-nat",
        },
    )


def _alert_test_error_increment(threshold: float, ok_per_minute: int) -> int:
    """5xx responses per minute that put the error ratio just above ``threshold``."""
    return math.floor(ok_per_minute * threshold / (1 - threshold)) + 1


# --- monitoring: prometheus/alerts*.yml and k8s/exporters.yaml -------------------------------------------
#: Bucket bounds (ms) of Istio's istio_request_duration_milliseconds: Envoy's default histogram buckets.
ISTIO_DURATION_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
                             300000, 600000, 1800000, 3600000)
#: Istio's standard metrics carry no URL path, so a p95 over every gateway request mixes minutes-long SSE
#: streams into it. The latency alert reads this extra dimension, which an Istio Telemetry resource adds to
#: REQUEST_DURATION on the gateway (tagOverrides, value: ISTIO_ROUTE_EXPRESSION): "stream" for the stream
#: prefixes, "api" for the rest. Without it the latency family's absent() guard fires.
ISTIO_ROUTE_TAG = "route_class"
ISTIO_ROUTE_API, ISTIO_ROUTE_STREAM = "api", "stream"
#: Each exporter's documented default metrics port: redis_exporter :9121, mongodb_exporter :9216,
#: kube-state-metrics --port 8080 (metrics) and --telemetry-port 8081 (its own health).
EXPORTER_PORTS = {"redis-exporter": 9121, "mongodb-exporter": 9216, "kube-state-metrics": 8080}
KSM_TELEMETRY_PORT = 8081
#: The exporters are static binaries that write nothing: they run as "nobody".
EXPORTER_UID = 65534
#: kube-state-metrics --resources: only the objects the alerts read (and its ClusterRole's list/watch).
KSM_RESOURCES = {"apps": ("deployments", "statefulsets"), "autoscaling": ("horizontalpodautoscalers",),
                 "": ("pods",)}
MS_PER_S = 1000
MIB = 1024 * 1024


def _above(ratio: float) -> float:
    """Halfway between ``ratio`` and 1: a test value that crosses a ratio threshold."""
    return ratio + (1 - ratio) / 2


def _latency_buckets(slo_ms: float) -> dict[str, str | None]:
    """``le`` labels for the promtool latency test: the largest default bucket at or below the SLO (all
    requests there keep the p95 at or below it) and the two above it (all requests in the upper one put the
    p95 above the smallest bound that exceeds the SLO)."""
    below = max([b for b in ISTIO_DURATION_BUCKETS_MS if b <= slo_ms] or [ISTIO_DURATION_BUCKETS_MS[0]])
    above = [b for b in ISTIO_DURATION_BUCKETS_MS if b > slo_ms]
    slow = above[0] if above else ISTIO_DURATION_BUCKETS_MS[-1]
    upper = above[1] if len(above) > 1 else None
    return {"fast": f"{below:g}", "slow": f"{slow:g}", "upper": None if upper is None else f"{upper:g}"}


def _monitoring_vars(ctx: RenderContext) -> dict[str, Any]:
    """Names of prometheus/alerts.yml, its promtool tests and k8s/exporters.yaml."""
    ok_per_minute = 100
    # promtool evaluates after the rate window has filled and the longest `for:` has elapsed.
    settle_minutes = ctx.alert_rate_window_minutes + max(ctx.alert_for_minutes, ctx.hpa_max_alert_for_minutes)
    cpu_ratio, memory_ratio = ctx.cpu_alert_pct / 100, ctx.memory_alert_pct / 100
    cpu_cores = ctx.cpu_limit_millicores / 1000
    memory_bytes = ctx.memory_limit_mib * MIB
    redis_max = ctx.redis_maxmemory_mib * MIB
    prefixes = "|".join(re.escape(p) for p in ctx.stream_path_prefixes)
    exporters = {p.name: p for p in ctx.exporters}
    for name, pod in exporters.items():
        if name not in EXPORTER_PORTS or not pod.image:
            raise CapplanError(f"exporter {name!r} needs an image and must be one of {', '.join(EXPORTER_PORTS)}",
                               field="exporters")
    return dict(
        ms_per_s=MS_PER_S,
        istio_route={"tag": ISTIO_ROUTE_TAG, "api": ISTIO_ROUTE_API, "stream": ISTIO_ROUTE_STREAM,
                     "expression": f"request.url_path.matches('^({prefixes})') ? '{ISTIO_ROUTE_STREAM}'"
                                   f" : '{ISTIO_ROUTE_API}'"},
        # the gateway's Istio workload (source_workload of its reports); None: select on the destination only
        gateway_workload=ctx.ingress_gateway.name if ctx.ingress_gateway is not None else None,
        # StatefulSets rendered by k8s/meilisearch.yaml and k8s/mongodb.yaml (their readiness alert)
        has_statefulsets=ctx.search is not None or (ctx.mongo_mode == "self_hosted" and ctx.mongo_member is not None),
        mongo_sharded=ctx.mongo_shards > 1,
        # the API and its further services (microservices): the gateway's destinations and the Node containers
        # whose CPU and memory the API alerts watch (k8s/services.yaml names each container after its service)
        api_services=[ctx.app_name] + [s.name for s in ctx.services],
        api_containers=["api"] + [s.name.removeprefix(ctx.app_name + "-") for s in ctx.services],
        monitoring_namespace="monitoring",
        exporter_names=sorted(exporters),
        exporter_versions={name: _image_version(pod.image) for name, pod in exporters.items()},
        exporter_ports=EXPORTER_PORTS,
        ksm_telemetry_port=KSM_TELEMETRY_PORT,
        ksm_resources=KSM_RESOURCES,
        ksm_resource_names=sorted(r for kinds in KSM_RESOURCES.values() for r in kinds),
        exporter_uid=EXPORTER_UID,
        exporter_annotations=_sidecar_annotations(ctx),
        # promtool unit-test plan: series that cross each tested threshold, evaluated after `for:`.
        alert_test={
            "interval_minutes": 1,
            "minutes": settle_minutes + 10,
            "eval_minutes": settle_minutes + 5,
            "ok_per_minute": ok_per_minute,
            "ok_status": "200",
            "error_status": "500",
            "errors_per_minute": _alert_test_error_increment(ctx.error_rate_alert, ok_per_minute),
            "latency_le": _latency_buckets(ctx.p95_latency_slo_s * MS_PER_S),
            "below_max": ctx.hpa_max_replicas - 1,
            "pod": f"{ctx.app_name}-7c9f8b6d5-x2k4p",
            "cpu_limit_cores": cpu_cores,
            # CPU seconds per minute (the counter's slope): above and below the alert ratio of the limit
            "cpu_busy_s_per_minute": round(cpu_cores * _above(cpu_ratio) * 60, 6),
            "cpu_idle_s_per_minute": round(cpu_cores * cpu_ratio / 2 * 60, 6),
            "memory_limit_bytes": memory_bytes,
            "memory_high_bytes": int(memory_bytes * _above(memory_ratio)),
            "memory_ok_bytes": int(memory_bytes * memory_ratio / 2),
            "statefulset": ctx.search.name if ctx.search is not None else "mongodb-shard0",
            "statefulset_replicas": max(ctx.mongo_members, 2),
            "redis_max_bytes": redis_max,
            "redis_high_bytes": int(redis_max * _above(memory_ratio)),
            "redis_ok_bytes": int(redis_max * memory_ratio / 2),
            "mongo_available_low": max(ctx.mongo_connections_at_max - 1, 0),
            "mongo_available_ok": ctx.mongo_connections_at_max * 2,
            "mongo_current": ctx.mongo_max_pool_size * ctx.hpa_min_replicas,
            "mongo_member": f"mongodb-1:{ctx.mongo_port}",
            "up": 1,  # a healthy up/health gauge, and "true" of a kube-state-metrics state gauge
            "events_per_minute": 1,  # slope of a counter that keeps counting restarts or rejections
        },
    )


# --- data tier and the compose host (k8s/meilisearch.yaml, k8s/mongodb.yaml, compose/*) ----------------
#: MongoDB's default WiredTiger cache: 50 % of (RAM - 1 GiB), at least 0.25 GiB (MongoDB manual,
#: storage.wiredTiger.engineConfig.cacheSizeGB). The templates apply it to the container memory limit and
#: pass it explicitly: a mongod that sizes it from the node's RAM outgrows its limit and is OOM-killed.
WT_CACHE_SHARE = 0.5
WT_CACHE_RESERVED_GIB = 1.0
WT_CACHE_MIN_GIB = 0.25
#: Meilisearch indexes with up to 2/3 of the RAM it sees (meilisearch.com/docs ... ram_multithreading);
#: MEILI_MAX_INDEXING_MEMORY applies that share to the container limit instead of the node's RAM.
MEILI_INDEXING_SHARE = 2 / 3
#: uid/gid the pods run as: Meilisearch's image runs as root unless told otherwise (its official Helm chart
#: runs it as 1000 with fsGroup 1000); the official mongo image's `mongodb` user is 999.
MEILI_UID = 1000
MONGO_UID = 999
HTTPS_PORT = 443
HTTPS_REDIRECT_STATUS = 301
#: Strict-Transport-Security max-age (two years: Mozilla's server-side TLS guidelines).
HSTS_MAX_AGE_S = 63_072_000
#: The MongoDB init Job retries each connection this often, this far apart (members start in parallel).
MONGO_INIT_ATTEMPTS = 60
MONGO_INIT_RETRY_MS = 5000
#: LibreChat's database name (its default MONGO_URI ends in /LibreChat).
MONGO_DATABASE = "LibreChat"
CLUSTER_DOMAIN = "cluster.local"
#: Compose service -> the names a compose_services PodSpec may carry for it.
_COMPOSE_ALIASES = {"api": ("api", "librechat"), "meilisearch": ("librechat-meilisearch", "meilisearch")}


def wiredtiger_cache_gib(memory_limit_mib: int) -> float:
    """``--wiredTigerCacheSizeGB`` for a mongod limited to ``memory_limit_mib``: MongoDB's default formula
    (50 % of memory - 1 GiB, at least 0.25) on the container limit, rounded down to 0.01."""
    raw = max(WT_CACHE_MIN_GIB, WT_CACHE_SHARE * (memory_limit_mib / 1024 - WT_CACHE_RESERVED_GIB))
    return math.floor(raw * 100 + 1e-9) / 100


def _image_version(image: str) -> str:
    last = image.rsplit("/", 1)[-1]
    if "@" in last:
        return last.split("@", 1)[1].split(":", 1)[-1][:12]
    return last.split(":", 1)[1] if ":" in last else "latest"


def _k8s_resources(pod: PodSpec) -> dict[str, dict[str, str]]:
    return {"requests": {"cpu": pod.cpu_request, "memory": f"{pod.memory_request_mib}Mi"},
            "limits": {"cpu": pod.cpu_limit, "memory": f"{pod.memory_limit_mib}Mi"}}


def _compose_resources(pod: PodSpec) -> dict[str, dict[str, str]]:
    return {"limits": {"cpus": f"{pod.cpu_limit_millicores / 1000:g}", "memory": f"{pod.memory_limit_mib}M"},
            "reservations": {"cpus": f"{pod.cpu_request_millicores / 1000:g}", "memory": f"{pod.memory_request_mib}M"}}


def _sidecar_annotations(ctx: RenderContext) -> dict[str, str]:
    """Istio proxy sizes on an injected pod: what is rendered is what the packing counted."""
    if not ctx.mesh or ctx.sidecar is None:
        return {}
    s = ctx.sidecar
    return {"sidecar.istio.io/proxyCPU": s.cpu_request, "sidecar.istio.io/proxyCPULimit": s.cpu_limit,
            "sidecar.istio.io/proxyMemory": f"{s.memory_request_mib}Mi",
            "sidecar.istio.io/proxyMemoryLimit": f"{s.memory_limit_mib}Mi"}


def _workload_labels(ctx: RenderContext, name: str, instance: str, component: str, image: str) -> dict[str, Any]:
    selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}
    return {"selector": selector, "labels": {**selector, "app.kubernetes.io/version": _image_version(image),
                                             "app.kubernetes.io/component": component,
                                             "app.kubernetes.io/part-of": ctx.app_name,
                                             "app.kubernetes.io/managed-by": "capplan"}}


def _meili_vars(ctx: RenderContext) -> dict[str, Any] | None:
    s = ctx.search
    if s is None:
        return None
    image = s.image or ctx.meili_image
    return dict(
        name=s.name, image=image, replicas=s.replicas, node_group=s.node_group, resources=_k8s_resources(s),
        storage=f"{s.disk_gib}Gi" if s.disk_gib else None, annotations=_sidecar_annotations(ctx), uid=MEILI_UID,
        max_indexing_memory_bytes=str(int(s.memory_limit_mib * MEILI_INDEXING_SHARE) * 1024 * 1024),
        url=f"http://{s.name}:{ctx.meili_port}", **_workload_labels(ctx, "meilisearch", s.name, "search", image))


def _mongo_vars(ctx: RenderContext) -> dict[str, Any] | None:
    """The self-hosted MongoDB of k8s/mongodb.yaml: shard replica sets, config servers, routers, init plan."""
    m = ctx.mongo_member
    if ctx.mongo_mode != "self_hosted" or m is None:
        return None
    sharded = ctx.mongo_shards > 1
    if sharded and (ctx.mongo_config_server is None or ctx.mongos is None):
        raise CapplanError("a sharded MongoDB (mongo_shards > 1) needs mongo_config_server and mongos",
                           field="mongo_shards")
    port, ns = ctx.mongo_port, ctx.namespace

    def members(service: str, count: int) -> list[str]:
        return [f"{service}-{j}.{service}.{ns}.svc.{CLUSTER_DOMAIN}:{port}" for j in range(count)]

    def mongod(pod: PodSpec, name: str, replset: str, component: str) -> dict[str, Any]:
        image = pod.image or ctx.mongo_image
        # a data group is tainted capplan.io/node-group=<name>:NoSchedule: its pods tolerate it
        data = any(g.name == pod.node_group and g.role == "data" for g in ctx.node_groups) or pod.node_group == "data"
        return dict(name=name, replset=replset, replicas=pod.replicas, members=members(name, pod.replicas),
                    node_group=pod.node_group, tolerate=data, resources=_k8s_resources(pod), image=image,
                    storage=f"{pod.disk_gib}Gi" if pod.disk_gib else None,
                    cache_gb=f"{wiredtiger_cache_gib(pod.memory_limit_mib):g}",
                    **_workload_labels(ctx, "mongodb", name, component, image))

    shards = [mongod(m, f"mongodb-shard{i}", f"shard{i}" if sharded else "rs0", "shard")
              for i in range(ctx.mongo_shards)]
    configsvr = mongos = None
    if sharded:
        assert ctx.mongo_config_server is not None and ctx.mongos is not None
        configsvr = mongod(ctx.mongo_config_server, "mongodb-configsvr", "cfg", "configsvr")
        r = ctx.mongos
        image = r.image or ctx.mongo_image
        mongos = dict(name=r.name, replicas=r.replicas, node_group=r.node_group, resources=_k8s_resources(r),
                      image=image, annotations=_sidecar_annotations(ctx),
                      configdb="cfg/" + ",".join(configsvr["members"]),
                      host=f"{r.name}.{ns}.svc.{CLUSTER_DOMAIN}:{port}",
                      **_workload_labels(ctx, "mongodb", r.name, "router", image))
    sets = shards + ([configsvr] if configsvr else [])
    uri_hosts = mongos["host"] if mongos else ",".join(shards[0]["members"])
    uri_options = "authSource=admin" + ("" if mongos else f"&replicaSet={shards[0]['replset']}")
    return dict(
        sharded=sharded, shards=shards, configsvr=configsvr, mongos=mongos, uid=MONGO_UID, pdb_max_unavailable=1,
        # every shard member gets its own node of the data group (required anti-affinity across all shards)
        shard_anti_affinity={"app.kubernetes.io/name": "mongodb", "app.kubernetes.io/component": "shard"},
        keyfile_key="mongo-keyfile", username_key="mongo-username", password_key="mongo-password",
        uri_example=f"mongodb://<user>:<password>@{uri_hosts}/{MONGO_DATABASE}?{uri_options}",
        init={"sets": [{"_id": s["replset"], "configsvr": s is configsvr, "members": s["members"]} for s in sets],
              "shards": [{"name": s["replset"], "hosts": f"{s['replset']}/" + ",".join(s["members"])} for s in shards]
              if sharded else [],
              "router": mongos["host"] if mongos else None,
              "uri_options": "" if mongos else f"replicaSet={shards[0]['replset']}",
              "database": MONGO_DATABASE, "attempts": MONGO_INIT_ATTEMPTS, "retry_ms": MONGO_INIT_RETRY_MS},
    )


def _compose_vars(ctx: RenderContext, mongo_hosts: list[str]) -> dict[str, Any]:
    """compose/: which services run on the one Docker host, their limits, volumes and TLS files."""
    sized = {p.name: p for p in ctx.compose_services}
    mongo = ctx.mongo_mode == "self_hosted"
    redis = ctx.redis_enabled and ctx.redis_mode == "self_hosted"
    names = ["api", "nginx"] + (mongo_hosts if mongo else []) + (["redis"] if redis else []) + (
        ["meilisearch"] if ctx.search is not None else []) + (
        ["bull-board"] if ctx.redis_enabled and ctx.queue_workers > 0 else [])
    resources: dict[str, Any] = {}
    replicas = ctx.replicas
    for service in names:
        pod = next((sized[a] for a in _COMPOSE_ALIASES.get(service, (service,)) if a in sized), None)
        if pod is not None:
            resources[service] = _compose_resources(pod)
            if service == "api":
                replicas = max(pod.replicas, 1)
    resources.setdefault("api", {
        "limits": {"cpus": f"{ctx.cpu_limit_millicores / 1000:g}", "memory": f"{ctx.memory_limit_mib}M"},
        "reservations": {"cpus": f"{ctx.cpu_request_millicores / 1000:g}", "memory": f"{ctx.memory_request_mib}M"}})
    mongo_cache = {}
    for host in mongo_hosts if mongo else []:
        pod = sized.get(host)
        if pod is not None:
            mongo_cache[host] = f"{wiredtiger_cache_gib(pod.memory_limit_mib):g}"
    volumes = ([f"mongo_data_{i}" for i in range(len(mongo_hosts))] if mongo else []) + (
        ["redis_data"] if redis else []) + (["meili_data"] if ctx.search is not None else [])
    meili = sized.get("librechat-meilisearch") or sized.get("meilisearch") or ctx.search
    tls = ctx.tls_secret_name
    return dict(
        services=names, mongo=mongo, redis=redis, search=ctx.search is not None, resources=resources,
        meili_image=(ctx.search.image if ctx.search is not None and ctx.search.image else ctx.meili_image),
        api_replicas=replicas, mongo_cache_gb=mongo_cache, volumes=volumes,
        meili_max_indexing_memory_bytes=(str(int(meili.memory_limit_mib * MEILI_INDEXING_SHARE) * 1024 * 1024)
                                         if meili is not None else None),
        tls_cert_source=f"./tls/{tls}.crt", tls_key_source=f"./tls/{tls}.key",
        tls_cert=f"/etc/nginx/tls/{tls}.crt", tls_key=f"/etc/nginx/tls/{tls}.key",
        https_port=HTTPS_PORT, redirect_status=HTTPS_REDIRECT_STATUS, hsts_max_age_s=HSTS_MAX_AGE_S,
        tls_protocols="TLSv1.3",   # the seed asks for TLS 1.3 only
    )


def _data_tier_vars(ctx: RenderContext, mongo_hosts: list[str]) -> dict[str, Any]:
    return dict(meili=_meili_vars(ctx), mongo_k8s=_mongo_vars(ctx), compose=_compose_vars(ctx, mongo_hosts))


def _pod_vars(pod: PodSpec) -> dict[str, Any]:
    out = pod.model_dump(mode="json")
    out.update(cpu_request=pod.cpu_request, cpu_limit=pod.cpu_limit, memory_request=f"{pod.memory_request_mib}Mi",
               memory_limit=f"{pod.memory_limit_mib}Mi", node_old_space_mib=node_old_space_mib(pod.memory_limit_mib))
    return out


def _istio_image(ref: str) -> dict[str, str]:
    """``docker.io/istio/pilot:1.27.6`` -> hub ``docker.io/istio``, tag ``1.27.6`` (empty when not of that shape)."""
    name, _, tag = ref.rpartition(":")
    if "@" in ref or "/" not in name or "/" in tag or not tag:
        return {"istio_hub": "", "istio_tag": ""}
    return {"istio_hub": name.rsplit("/", 1)[0], "istio_tag": tag}


def template_vars(ctx: RenderContext) -> dict[str, Any]:
    """The names templates see: every field plus derived strings and numbers."""
    values: dict[str, Any] = ctx.model_dump(mode="json")
    # PodSpecs also carry their Kubernetes quantities (cpu_request "500m", memory_limit "2048Mi" ...)
    for name, field in type(ctx).model_fields.items():
        value = getattr(ctx, name)
        if isinstance(value, PodSpec):
            values[name] = _pod_vars(value)
        elif isinstance(value, tuple) and value and all(isinstance(v, PodSpec) for v in value):
            values[name] = [_pod_vars(v) for v in value]
    selector = {"app.kubernetes.io/name": ctx.app_name, "app.kubernetes.io/instance": f"{ctx.app_name}-{ctx.tier}"}
    labels = {
        **selector,
        "app.kubernetes.io/version": ctx.app_version,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/part-of": ctx.app_name,
        "app.kubernetes.io/managed-by": "capplan",
    }
    mongo_hosts = [f"mongodb-{i}" for i in range(ctx.mongo_members)]
    # the microservices' own labels: the API Deployment's selector (name + instance) must not match them
    service_meta = {}
    for svc in ctx.services:
        svc_selector = {"app.kubernetes.io/name": svc.name, "app.kubernetes.io/instance": f"{svc.name}-{ctx.tier}"}
        service_meta[svc.name] = {"selector": svc_selector, "labels": {
            **labels, **svc_selector, "app.kubernetes.io/component": svc.name.removeprefix(ctx.app_name + "-")}}
    values.update(
        service_meta=service_meta,
        app_version=ctx.app_version,
        cluster_name=ctx.cluster_name,
        selector_labels=selector,
        labels=labels,
        cpu_request=_cpu(ctx.cpu_request_millicores),
        cpu_limit=_cpu(ctx.cpu_limit_millicores),
        memory_request=f"{ctx.memory_request_mib}Mi",
        memory_limit=f"{ctx.memory_limit_mib}Mi",
        compose_cpus_limit=f"{ctx.cpu_limit_millicores / 1000:g}",
        compose_cpus_reservation=f"{ctx.cpu_request_millicores / 1000:g}",
        compose_memory_limit=f"{ctx.memory_limit_mib}M",
        compose_memory_reservation=f"{ctx.memory_request_mib}M",
        node_old_space_mib=ctx.node_old_space_mib,
        node_options=f"--max-old-space-size={ctx.node_old_space_mib}",
        mongo_connections_at_max=ctx.mongo_connections_at_max,
        mongo_hosts=mongo_hosts,
        mongo_replica_set="rs0",
        compose_mongo_uri="mongodb://" + ",".join(f"{h}:{ctx.mongo_port}" for h in mongo_hosts)
        + "/LibreChat?replicaSet=rs0",
        service_fqdn=f"{ctx.app_name}.{ctx.namespace}.svc.cluster.local",
        startup_budget_s=ctx.startup_period_s * ctx.startup_failure_threshold,
        stream_path_regex="(" + "|".join(ctx.stream_path_prefixes) + ").*",
        longest_stream_ceil_s=math.ceil(ctx.longest_stream_s),
        lb_idle_timeout_minutes=ctx.lb_idle_timeout_minutes,
        # k8s/gateway.yaml (Gateway API + Istio's gateway deployment) and istio/istiod-values.yaml
        gw={
            "name": f"{ctx.app_name}-gateway",
            "https_port": 443,
            "http_port": 80,
            "redirect_status": 301,
            "aws_idle_timeout_s": ctx.gateway_lb_idle_timeout_s,
            "azure_idle_timeout_minutes": ctx.gateway_lb_idle_timeout_minutes,
            # the HPA owns the replica count when the gateway can scale; a fixed count goes on the Deployment
            "autoscaled": ctx.ingress_gateway is not None and ctx.ingress_gateway.replicas_max > ctx.ingress_gateway.replicas,
            "pdb_min_available": max(ctx.ingress_gateway.replicas - 1, 0) if ctx.ingress_gateway else 0,
            "istiod_autoscaled": ctx.istiod is not None and ctx.istiod.replicas_max > ctx.istiod.replicas,
            "termination_drain": f"{ctx.prestop_drain_s}s",
            # istiod's image "<hub>/pilot:<tag>": the chart builds every Istio image (proxies too) from hub + tag
            **_istio_image(ctx.istiod.image if ctx.istiod else ""),
        },
        gke_nodes_per_zone=max(1, math.ceil(ctx.node_count_min / len(ctx.zones))),
        **cluster_vars(ctx),
        latency_quantile=P95,
        cpu_alert_ratio=ctx.cpu_alert_pct / 100,
        memory_alert_ratio=ctx.memory_alert_pct / 100,
        error_rate_alert_pct=f"{ctx.error_rate_alert * 100:g}",
    )
    values.update(_data_tier_vars(ctx, mongo_hosts))  # meili, mongo_k8s, compose
    values.update(_monitoring_vars(ctx))  # prometheus/alerts*.yml, k8s/exporters.yaml
    return values


# --- examples for tests and docs ------------------------------------------------------------------
# Sizes follow the community presets quoted in librechat.md (1 vCPU/2 GB x 2 for 20-100 users,
# 2 vCPU/4 GB x 3 for 100-500, 4 vCPU/8 GB x 5 for 500+) scaled up for the larger tiers. They are
# illustrations, not plans: the planner decides real sizings.
_TIERS: dict[str, dict[str, Any]] = {
    "tier0": dict(users=100, replicas=1, hpa_min_replicas=1, hpa_max_replicas=1, cpu_request_millicores=500,
                  cpu_limit_millicores=1000, memory_request_mib=2048, memory_limit_mib=2048,
                  mongo_max_pool_size=50, mongo_members=1, redis_enabled=False, queue_workers=0,
                  node_size="large", node_count_min=1, node_count_max=2, istio_max_connections=256),
    "tier1": dict(users=750, replicas=3, hpa_min_replicas=2, hpa_max_replicas=6, cpu_request_millicores=1000,
                  cpu_limit_millicores=2000, memory_request_mib=2048, memory_limit_mib=2048,
                  mongo_max_pool_size=50, mongo_members=3, redis_enabled=True, queue_workers=2,
                  node_size="large", node_count_min=2, node_count_max=4, istio_max_connections=512),
    "tier2": dict(users=3000, replicas=5, hpa_min_replicas=3, hpa_max_replicas=12, cpu_request_millicores=2000,
                  cpu_limit_millicores=2000, memory_request_mib=4096, memory_limit_mib=4096,
                  mongo_max_pool_size=50, mongo_members=3, redis_enabled=True, queue_workers=4,
                  node_size="xlarge", node_count_min=3, node_count_max=8, istio_max_connections=2048),
    "tier3": dict(users=10000, replicas=10, hpa_min_replicas=6, hpa_max_replicas=30, cpu_request_millicores=4000,
                  cpu_limit_millicores=4000, memory_request_mib=8192, memory_limit_mib=8192,
                  mongo_max_pool_size=40, mongo_members=5, redis_enabled=True, queue_workers=8,
                  node_size="2xlarge", node_count_min=6, node_count_max=20, istio_max_connections=8192),
    "microservices": dict(users=25000, replicas=20, hpa_min_replicas=12, hpa_max_replicas=80,
                          cpu_request_millicores=1500, cpu_limit_millicores=2000, memory_request_mib=4096,
                          memory_limit_mib=4096, mongo_max_pool_size=25, mongo_members=7, redis_enabled=True,
                          queue_workers=16, node_size="2xlarge", node_count_min=10, node_count_max=50,
                          istio_max_connections=16384,
                          mongo_connection_limit=5000),
}
_PROVIDERS: dict[str, dict[str, Any]] = {
    "aws": dict(region="us-east-1", zones=("us-east-1a", "us-east-1b", "us-east-1c"),
                types={"large": "m6i.large", "xlarge": "m6i.xlarge", "2xlarge": "m6i.2xlarge"}),
    "gcp": dict(region="us-central1", zones=("us-central1-a", "us-central1-b", "us-central1-c"),
                types={"large": "e2-standard-2", "xlarge": "e2-standard-4", "2xlarge": "e2-standard-8"}),
    "azure": dict(region="eastus", zones=("1", "2", "3"),
                  types={"large": "Standard_D2s_v5", "xlarge": "Standard_D4s_v5", "2xlarge": "Standard_D8s_v5"}),
}
EXAMPLE_TIERS: tuple[str, ...] = tuple(_TIERS)


def _example_pod(name: str, spec: dict, replicas: int, replicas_max: int, **extra: Any) -> PodSpec:
    req, lim = spec["requests"], spec.get("limits") or spec["requests"]
    return PodSpec(name=name, replicas=replicas, replicas_max=replicas_max, cpu_request_millicores=req["cpu_millicores"],
                   cpu_limit_millicores=lim["cpu_millicores"], memory_request_mib=req["memory_mib"],
                   memory_limit_mib=lim["memory_mib"], **extra)


def _example_components(tier: str, provider: str, sizing: dict[str, Any], instance_type: str) -> dict[str, Any]:
    """The deployment-model fields of an example: Istio, search, exporters, MongoDB, node groups."""
    from capplan.deploy import platform as plat

    istio = plat.component("istio")
    exporters = plat.component("exporters")
    mesh = tier == "tier2"
    shards = {"tier3": 2, "microservices": 3}.get(tier, 1)
    values: dict[str, Any] = dict(
        mesh=mesh,
        istiod=_example_pod("istiod", istio["istiod"], 2, 5, image="docker.io/istio/pilot:1.27.6"),
        ingress_gateway=_example_pod("librechat-gateway-istio", istio["ingress_gateway"], 2, 5),
        sidecar=_example_pod("istio-proxy", istio["sidecar"], 1, 1) if mesh else None,
        search=PodSpec(name="librechat-meilisearch", replicas=1, replicas_max=1, cpu_request_millicores=500,
                       cpu_limit_millicores=1000, memory_request_mib=2048, memory_limit_mib=2048, disk_gib=20,
                       image=plat.component("meilisearch")["image"]),
        exporters=tuple(_example_pod(key.replace("_", "-"), exporters[key], 1, 1, image=exporters[key]["image"])
                        for key in ("kube_state_metrics", "mongodb_exporter", "redis_exporter")
                        if key != "redis_exporter" or sizing.get("redis_enabled")),
        cluster_autoscaler=(_example_pod("cluster-autoscaler", plat.component("autoscaler", "cluster_autoscaler"), 1, 1)
                            if plat.autoscaler_kind(provider) == "cluster_autoscaler" else None),
        redis_mode="managed",
        mongo_mode="self_hosted" if shards > 1 else "managed",
        mongo_shards=shards,
        node_groups=(NodeGroupSpec(name="app", instance_type=instance_type, min_nodes=sizing["node_count_min"],
                                   max_nodes=sizing["node_count_max"]),),
        # the seed's microservice split beside the API that holds the streams
        services=tuple(PodSpec(name=f"librechat-{name}", replicas=2, replicas_max=6, cpu_request_millicores=500,
                               cpu_limit_millicores=1000, memory_request_mib=2048, memory_limit_mib=2048)
                       for name in (("auth", "agent", "files", "title") if tier == "microservices" else ())),
    )
    if shards > 1:
        sharding = plat.component("mongodb_sharding")
        cfg, mongos = sharding["config_servers"], sharding["mongos"]
        data_type = {"aws": "r6i.xlarge", "gcp": "e2-highmem-4", "azure": "Standard_E4s_v5"}[provider]
        values.update(
            mongo_member=PodSpec(name="mongodb-shard", replicas=3, replicas_max=3, cpu_request_millicores=3800,
                                 cpu_limit_millicores=3800, memory_request_mib=26624, memory_limit_mib=26624,
                                 disk_gib=120, node_group="data"),
            mongo_config_server=PodSpec(name="mongodb-configsvr", replicas=cfg["count"], replicas_max=cfg["count"],
                                        cpu_request_millicores=cfg["cpu_millicores"],
                                        cpu_limit_millicores=cfg["cpu_millicores"], memory_request_mib=cfg["memory_mib"],
                                        memory_limit_mib=cfg["memory_mib"], disk_gib=cfg["disk_gib"]),
            mongos=PodSpec(name="mongos", replicas=mongos["count"], replicas_max=mongos["count"],
                           cpu_request_millicores=mongos["cpu_millicores"], cpu_limit_millicores=mongos["cpu_millicores"],
                           memory_request_mib=mongos["memory_mib"], memory_limit_mib=mongos["memory_mib"]),
            node_groups=values["node_groups"] + (NodeGroupSpec(name="data", instance_type=data_type,
                                                               min_nodes=3 * shards, max_nodes=3 * shards, role="data"),),
        )
    return values


def example_context(tier: str = "tier2", provider: str = "aws", **overrides: Any) -> RenderContext:
    """A sensible, valid context for tests and docs (``overrides`` replace single fields)."""
    if tier not in _TIERS:
        raise CapplanError(f"unknown example tier {tier!r}; choose from {', '.join(_TIERS)}", field="tier")
    if provider not in _PROVIDERS:
        raise CapplanError(f"unknown provider {provider!r}; choose from {', '.join(_PROVIDERS)}", field="provider")
    sizing = dict(_TIERS[tier])
    cloud = _PROVIDERS[provider]
    node_size = sizing.pop("node_size")
    values: dict[str, Any] = dict(
        tier=tier,
        provider=provider,
        region=cloud["region"],
        zones=cloud["zones"],
        node_instance_type=cloud["types"][node_size],
        # Reasoning answers run minutes (librechat.md): streams up to 8 min, LB idle 4 min (Azure's
        # minimum), keep-alive 5 s above it; nginx / Istio stream timeouts 15 min.
        longest_stream_s=480.0,
        proxy_read_timeout_s=900,
        lb_idle_timeout_s=240,
        keep_alive_timeout_ms=245_000,
        **sizing,
    )
    values.update(_example_components(tier, provider, sizing, cloud["types"][node_size]))
    values.update(overrides)
    return RenderContext(**values)
