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
# Service annotations: AWS classic LB idle timeout 1..4000 s; Azure LB TCP idle timeout 4..100 min.
_AWS_CLB_IDLE_S = (1, 4000)
_AZURE_LB_IDLE_MIN = (4, 100)


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
    hostname: str = Field(default="chat.example.com", description="public host name (Istio VirtualService)")
    kubernetes_version: str = Field(default="1.33", description="cluster minor version, e.g. 1.33")
    secret_name: str = Field(default="librechat-secrets", description="Kubernetes Secret holding credentials")

    # --- API pods and autoscaling ---------------------------------------------------------------
    replicas: int = Field(ge=1)
    hpa_min_replicas: int = Field(ge=1)
    hpa_max_replicas: int = Field(ge=1)
    hpa_cpu_target_pct: int = Field(default=70, ge=1, le=100)  # seed
    hpa_memory_target_pct: int = Field(default=80, ge=1, le=100)  # seed
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
    memory_limit_mib: int = Field(ge=1024, description="maintainers: 1 GB minimum per instance")
    rollout_max_surge_pct: int = Field(default=25, ge=1, le=100)
    rollout_max_unavailable: int = Field(default=0, ge=0)
    revision_history_limit: int = Field(default=5, ge=0)
    topology_max_skew: int = Field(default=1, ge=1)
    run_as_user: int = Field(default=1000, ge=1, description="uid of the image's node user")
    run_as_group: int = Field(default=1000, ge=1)
    service_type: Literal["ClusterIP", "LoadBalancer"] = "ClusterIP"

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
    istio_gateway: str = "istio-ingress/librechat-gateway"
    istio_max_connections: int = Field(default=1024, ge=1, description="open streams hold one each")
    istio_max_pending_requests: int = Field(default=256, ge=1)
    istio_connect_timeout_s: int = Field(default=5, ge=1)
    istio_consecutive_5xx: int = Field(default=5, ge=1)
    istio_outlier_interval_s: int = Field(default=30, ge=1)
    istio_base_ejection_s: int = Field(default=30, ge=1)
    istio_max_ejection_pct: int = Field(default=50, ge=1, le=100)
    retry_attempts: int = Field(default=2, ge=0, description="non-streaming routes only")
    retry_per_try_timeout_s: int = Field(default=30, ge=1)

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

    @field_validator("tier", "namespace", "app_name", "secret_name", "resource_group")
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
        if self.memory_request_mib > self.memory_limit_mib:
            fail("memory_request_mib", "request exceeds memory_limit_mib")
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
        if self.retry_per_try_timeout_s > self.api_timeout_s:
            fail("retry_per_try_timeout_s", "exceeds api_timeout_s")
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
        if self.provider == "azure" and self.service_type == "LoadBalancer":
            lo, hi = _AZURE_LB_IDLE_MIN
            if not lo <= self.lb_idle_timeout_minutes <= hi:
                fail("lb_idle_timeout_s", f"Azure LB idle timeout is {lo}..{hi} minutes")
        if self.provider == "aws" and self.service_type == "LoadBalancer":
            lo, hi = _AWS_CLB_IDLE_S
            if not lo <= self.lb_idle_timeout_s <= hi:
                fail("lb_idle_timeout_s", f"AWS load balancer idle timeout is {lo}..{hi} s")
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
    def cluster_name(self) -> str:
        return f"{self.app_name}-{self.tier}"


def _cpu(millicores: int) -> str:
    return f"{millicores // 1000}" if millicores % 1000 == 0 else f"{millicores}m"


def _alert_test_error_increment(threshold: float, ok_per_minute: int) -> int:
    """5xx responses per minute that put the error ratio just above ``threshold``."""
    return math.floor(ok_per_minute * threshold / (1 - threshold)) + 1


def template_vars(ctx: RenderContext) -> dict[str, Any]:
    """The names templates see: every field plus derived strings and numbers."""
    values: dict[str, Any] = ctx.model_dump(mode="json")
    selector = {"app.kubernetes.io/name": ctx.app_name, "app.kubernetes.io/instance": f"{ctx.app_name}-{ctx.tier}"}
    labels = {
        **selector,
        "app.kubernetes.io/version": ctx.app_version,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/part-of": ctx.app_name,
        "app.kubernetes.io/managed-by": "capplan",
    }
    mongo_hosts = [f"mongodb-{i}" for i in range(ctx.mongo_members)]
    ok_per_minute = 100
    # promtool evaluates after the rate window has filled and the longest `for:` has elapsed.
    settle_minutes = ctx.alert_rate_window_minutes + max(ctx.alert_for_minutes, ctx.hpa_max_alert_for_minutes)
    values.update(
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
        gke_nodes_per_zone=max(1, math.ceil(ctx.node_count_min / len(ctx.zones))),
        latency_quantile=P95,
        cpu_alert_ratio=ctx.cpu_alert_pct / 100,
        memory_alert_ratio=ctx.memory_alert_pct / 100,
        error_rate_alert_pct=f"{ctx.error_rate_alert * 100:g}",
        # promtool unit-test plan: series that cross each tested threshold, evaluated after `for:`.
        alert_test={
            "interval_minutes": 1,
            "minutes": settle_minutes + 10,
            "eval_minutes": settle_minutes + 5,
            "ok_per_minute": ok_per_minute,
            "ok_status": "200",
            "error_status": "500",
            "errors_per_minute": _alert_test_error_increment(ctx.error_rate_alert, ok_per_minute),
            "backlog": ctx.queue_backlog_alert + 1,
            "below_max": ctx.hpa_max_replicas - 1,
        },
    )
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
                          cpu_request_millicores=1500, cpu_limit_millicores=2000, memory_request_mib=3072,
                          memory_limit_mib=4096, mongo_max_pool_size=25, mongo_members=7, redis_enabled=True,
                          queue_workers=16, node_size="2xlarge", node_count_min=10, node_count_max=50,
                          istio_max_connections=16384, service_type="LoadBalancer",
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
    values.update(overrides)
    return RenderContext(**values)
