"""capplan's own manifest rules: what the JSON schemas accept but a cluster (or a stream) does not.

``lint(files, ctx=None)`` takes rendered (or hand-edited) files, relative path -> text, and returns
the issues sorted by path. Rules (``LintIssue.rule``):

- ``yaml``: a .yaml/.yml file does not parse.
- ``quantity``: container cpu/memory quantities ("500m", "1", "512Mi", "2Gi"; "2Gb" and "512m" of
  memory are wrong), and requests above limits.
- ``hpa-policy``: HPA behaviour policy type (Pods|Percent), selectPolicy, periods, windows.
- ``selector``: selectors (Deployment, Service, PDB, topology spread) must be a subset of the pod
  template labels and must not carry the version label (selectors are immutable); an HPA must target
  a Deployment that exists among the files.
- ``pdb``: not both minAvailable and maxUnavailable; minAvailable below the HPA's minReplicas.
- ``dns-1123``: object names, namespaces and container names (Service names: DNS-1035).
- ``deprecated``: Istio ``consecutiveErrors`` and pre-v1 ``networking.istio.io`` versions, pre-v1
  ``gateway.networking.k8s.io`` Gateway/HTTPRoute, removed Kubernetes API versions, the obsolete
  top-level ``version:`` of compose files.
- ``literal-secret``: env entries / ConfigMap keys named like a secret (*PASSWORD*, *SECRET*, *KEY*,
  *TOKEN*) with a literal value, and *_URI / *_URL values carrying ``user:password@``.
- ``stream-timeout``: nginx ``proxy_read_timeout`` (default 60 s), the HTTPRoute rule serving a
  streaming path (Gateway API precedence: exact, then the longest prefix), the Gateway's load
  balancer idle timeout (AWS NLB listener attribute, Azure minutes) and the proxies' drain on
  shutdown (istiod values ``terminationDrainDuration``) must outlast the longest stream.
- ``stream-retries``: the HTTPRoute rule serving a streaming path must not retry, and the istiod
  values must turn Istio's default retries off (``meshConfig.defaultHttpRetryPolicy.attempts: 0``):
  the standard HTTPRoute has no per-route retry setting and Istio retries twice, 503 included.
- ``sse-proxy``: nginx must proxy SSE unbuffered over HTTP/1.1 with an empty Connection header.
- ``duration``: Istio durations must parse and be at least 1 ms (the CRD rejects "0s"); HTTPRoute
  timeouts must be GEP-2257 durations and ``backendRequest`` <= ``request``.
- ``node-pool``: node-group min <= desired <= max (eksctl, AKS, GKE flags; GKE's per-zone
  --min-nodes <= --num-nodes <= --max-nodes), AKS pool names, unknown gcloud flags (clusters create,
  node-pools create, routers nats create: chosen by the file name); with a context, each rendered group
  (per-zone counts x zones on GKE) must hold the planned group's minimum and maximum.
- ``nat``: private nodes need their NAT: eksctl ``vpc.nat.gateway`` not Disable, AKS managedNATGateway
  with at least one IP and an idle timeout of 4..120 min, Cloud NAT with one IP source (auto-allocated
  or a pool) and ``--min-ports-per-vm`` x the VMs at the node groups' maximum within one IP's 64,512
  ports (the bill pays for one IP) and at least the SSE floor; NAT idle timeouts (AKS, Cloud NAT
  established TCP) must outlast the stream route timeout.

- ``gateway``: HTTPS listeners need a certificate Secret; nothing is served on a plain-HTTP listener
  (its routes redirect to https) and a Gateway with one has a redirect route; parentRefs, sectionNames
  and backendRefs (Service and port) resolve among the files; the infrastructure.parametersRef
  ConfigMap exists, has only the keys Istio accepts (deployment, service, serviceAccount,
  horizontalPodAutoscaler, podDisruptionBudget), each a YAML mapping, with a sane HPA range, valid
  container quantities and no Deployment replica count fighting the HPA; LB idle annotations in range
  (AWS NLB 60..6000 s, Azure 4..100 min).
- ``helm-values``: istiod chart values (no schema exists): known top-level keys, pilot
  autoscaleMin <= replicaCount <= autoscaleMax, pilot / sidecar quantities and requests <= limits,
  a valid ``tlsDefaults.minProtocolVersion`` on an Istio release that applies it correctly.
- ``sidecar``: ``sidecar.istio.io/proxy*`` annotations parse, request <= limit, equal the packed size
  (the istiod values' ``global.proxy.resources``, else the context's sidecar), and every pod injected
  in an ``istio-injection: enabled`` namespace carries them (unless it opts out).
- ``mongo-cache``: a mongod (k8s container or compose service) under a memory limit needs
  ``--wiredTigerCacheSizeGB`` (else it sizes the cache from the node's RAM and outgrows its limit), at
  most max(0.25, limit - 1 GiB).
- ``mongo-keyfile``: a ``--keyFile`` must be read from a Secret volume (or from an emptyDir an init
  container fills from a Secret volume), never from a ConfigMap, a host path or the image.
- ``alert-absent``: in a Prometheus rule file (``groups:``), every metric family an alert reads (the
  name up to its first ``_``: istio, container, kube, redis, mongodb ...) needs an ``absent()`` guard
  on one of its metrics, or a target that is not scraped leaves its alerts silent (promtool accepts it).

The longest stream comes from ``ctx.longest_stream_s`` or, when no context is given, from the
``capplan:longest-stream-s=N`` marker the templates write; without either the stream-timeout rule
only checks that a timeout is set.
"""

from __future__ import annotations

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterator

import yaml

from capplan.render.context import (
    DNS_1123_LABEL,
    NAT_PORTS_PER_IP,
    NAT_SSE_MIN_PORTS_PER_VM,
    NODE_GROUP_LABEL,
    RenderContext,
    cluster_node_groups,
    cluster_vars,
)
from capplan.render.context import WT_CACHE_MIN_GIB, WT_CACHE_RESERVED_GIB, wiredtiger_cache_gib


@dataclass(frozen=True, order=True)
class LintIssue:
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


RULES: tuple[str, ...] = (
    "yaml", "quantity", "hpa-policy", "selector", "pdb", "dns-1123", "deprecated", "literal-secret",
    "stream-timeout", "stream-retries", "sse-proxy", "duration", "node-pool", "nat", "gateway", "helm-values",
    "sidecar", "mongo-cache", "mongo-keyfile", "alert-absent",
)

_CPU = re.compile(r"^(\d+m|\d+(\.\d+)?)$")
_MEMORY = re.compile(r"^\d+(\.\d+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
_SUFFIX = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60, "n": 1e-9, "u": 1e-6,
           "m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "E": 1e18}
_DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SECRET_NAME = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL|CREDS")
_NOT_SECRET_NAME = re.compile(r"_(PREFIX|EXPIRY|TIMEOUT|TIMEOUT_MS|MAX|WINDOW|ENABLED|FILE|PATH|LENGTH|LIMIT|COUNT|"
                              r"HEADER|NAME|ID|REF)$")
_URI_NAME = re.compile(r"_(URI|URL|DSN)$")
_URI_WITH_PASSWORD = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")
_STREAM_MARK = re.compile(r"capplan:longest-stream-s=(\d+(?:\.\d+)?)")
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|us|µs|ns|m|s)")
_DURATION_UNITS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_NGINX_TIME = re.compile(r"^(\d+)(ms|s|m|h|d)?$")
_NGINX_UNITS = {None: 1.0, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_POD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
_REMOVED_APIS = {"autoscaling/v2beta1", "autoscaling/v2beta2", "policy/v1beta1", "extensions/v1beta1",
                 "apps/v1beta1", "apps/v1beta2", "networking.k8s.io/v1beta1"}
_ISTIO_GROUP = "networking.istio.io/"
_ISTIO_DURATION_KEYS = {"timeout", "perTryTimeout", "interval", "baseEjectionTime", "connectTimeout",
                        "idleTimeout", "maxConnectionDuration"}
_VERSION_LABEL = "app.kubernetes.io/version"
_AKS_POOL_NAME = re.compile(r"^[a-z][a-z0-9]{0,11}$")
# gcloud container clusters create flags the GKE template may use (a typo is silently a new flag).
_GKE_FLAGS = {"--node-labels", "--enable-private-nodes", "--master-ipv4-cidr", "--enable-master-global-access",
              "--location", "--region", "--zone", "--node-locations", "--cluster-version", "--release-channel",
              "--machine-type", "--disk-size", "--disk-type", "--num-nodes", "--enable-autoscaling",
              "--total-min-nodes", "--total-max-nodes", "--min-nodes", "--max-nodes", "--location-policy",
              "--enable-ip-alias", "--labels", "--network", "--subnetwork", "--workload-pool"}
# gcloud container node-pools create / compute routers nats create flags (cluster/gke-nodepool-*,
# cluster/gke-nat-*); the `gcloud ... --flags-file` parse in tests/test_render_cluster.py is the real check.
_GKE_NODEPOOL_FLAGS = {"--cluster", "--location", "--region", "--zone", "--node-locations", "--machine-type",
                       "--disk-size", "--disk-type", "--num-nodes", "--enable-autoscaling", "--total-min-nodes",
                       "--total-max-nodes", "--min-nodes", "--max-nodes", "--location-policy", "--node-labels",
                       "--node-taints", "--labels"}
_GKE_NAT_FLAGS = {"--router", "--region", "--auto-allocate-nat-external-ips", "--nat-external-ip-pool",
                  "--nat-all-subnet-ip-ranges", "--min-ports-per-vm", "--max-ports-per-vm",
                  "--enable-dynamic-port-allocation", "--tcp-established-idle-timeout", "--tcp-time-wait-timeout",
                  "--enable-logging", "--log-filter"}
_GKE_DEFAULT_TCP_ESTABLISHED_IDLE_S = 1200
_AZURE_NAT_IDLE_MIN = (4, 120)
_AZURE_NAT_IDLE_DEFAULT_MIN = 4
_DEFAULT_STREAM_PREFIXES = RenderContext.model_fields["stream_path_prefixes"].default


# --- small parsers --------------------------------------------------------------------------------
def parse_quantity(text: str) -> float | None:
    """A Kubernetes quantity as a float (cores or bytes), None when it does not parse."""
    m = _QUANTITY.match(str(text))
    if not m:
        return None
    number = float(m.group(1))
    suffix = m.group(3)
    if suffix is None:
        return number
    if suffix[0] in "eE" and len(suffix) > 1:
        return number * 10 ** int(suffix[1:])
    return number * _SUFFIX[suffix]


def parse_go_duration(text: str) -> float | None:
    """Seconds in a Go/protobuf duration ("1h30m", "0.5s", "100ms"), None when it does not parse."""
    if not isinstance(text, str) or not text:
        return None
    pos, total = 0, 0.0
    for m in _GO_DURATION.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _DURATION_UNITS[m.group(2)]
        pos = m.end()
    return total if pos == len(text) else None


def _nginx_seconds(text: str) -> float | None:
    m = _NGINX_TIME.match(text)
    return None if not m else int(m.group(1)) * _NGINX_UNITS[m.group(2)]


# --- helpers --------------------------------------------------------------------------------------
def _walk(node: Any, trail: str = "") -> Iterator[tuple[str, str, Any]]:
    """(dotted path, key, value) of every mapping entry below ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            here = f"{trail}.{key}" if trail else str(key)
            yield here, str(key), value
            yield from _walk(value, here)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{trail}[{i}]")


def _pod_template(doc: dict) -> dict | None:
    if doc.get("kind") not in _POD_KINDS:
        return None
    template = (doc.get("spec") or {}).get("template")
    return template if isinstance(template, dict) else None


def _containers(pod_spec: dict) -> Iterator[dict]:
    for key in ("initContainers", "containers"):
        for container in pod_spec.get(key) or []:
            if isinstance(container, dict):
                yield container


def _is_secret_name(name: str) -> bool:
    upper = name.upper()
    return bool(_SECRET_NAME.search(upper)) and not _NOT_SECRET_NAME.search(upper)


def _literal_secret(name: str, value: Any) -> str | None:
    """Why ``name=value`` is a literal secret, or None."""
    if value is None or value == "" or (isinstance(value, str) and "${" in value):
        return None
    if _is_secret_name(name):
        return f"{name} has a literal value; reference a Secret (secretKeyRef / ${{VAR:?}})"
    if _URI_NAME.search(name.upper()) and isinstance(value, str) and _URI_WITH_PASSWORD.match(value):
        return f"{name} carries a password in its URI; reference a Secret instead"
    return None


def _stream_seconds(ctx: RenderContext | None, text: str) -> float | None:
    if ctx is not None:
        return ctx.longest_stream_s
    m = _STREAM_MARK.search(text)
    return float(m.group(1)) if m else None


def _int_or_pct(value: Any, total: int) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        return math.ceil(int(value[:-1]) * total / 100)
    return None


# --- Gateway API, Istio Helm values and sidecar sizes ----------------------------------------------------
_GATEWAY_GROUP = "gateway.networking.k8s.io/"
# GEP-2257 durations as the HTTPRoute CRD accepts them ("900s", "1h30m"; at most 5 digits per unit).
_GW_DURATION = re.compile(r"^([0-9]{1,5}(h|m|s|ms)){1,4}$")
# Keys Istio's gateway deployment controller accepts in an infrastructure.parametersRef ConfigMap
# (pilot/pkg/config/kube/gateway/deploymentcontroller.go, supportedOverlays); any other key fails the Gateway.
_GW_OVERLAYS = {"deployment", "service", "serviceAccount", "horizontalPodAutoscaler", "podDisruptionBudget"}
_AWS_LISTENER_ATTRS = "service.beta.kubernetes.io/aws-load-balancer-listener-attributes."
_AWS_NLB_IDLE = re.compile(r"(?:^|,)tcp\.idle_timeout\.seconds=(\d+)(?:,|$)")
_AZURE_IDLE = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"
# meshConfig.tlsDefaults.minProtocolVersion reaches the gateway's downstream TLS correctly from these
# releases on (earlier ones mis-map the enum: TLSV1_3 became TLS 1.1); 1.30+ has the fix from .0.
_ISTIO_TLS_DEFAULTS_FIXED = {(1, 27): 6, (1, 28): 4, (1, 29): 1}
_ISTIO_TLS_VERSIONS = {"TLS_AUTO", "TLSV1_2", "TLSV1_3"}
# Top-level values of the istiod Helm chart (manifests/charts/istio-control/istio-discovery/values.yaml,
# flattened 1.24+ keys and the legacy `pilot:` block): Helm silently ignores anything else.
_ISTIOD_VALUES = {
    "pilot", "global", "meshConfig", "gateways", "gatewayClasses", "revision", "revisionTags", "telemetry",
    "sidecarInjectorWebhook", "istiodRemote", "base", "experimental", "ownerName", "profile", "defaults",
    "compatibilityVersion", "autoscaleEnabled", "autoscaleMin", "autoscaleMax", "autoscaleBehavior", "replicaCount",
    "rollingMaxSurge", "rollingMaxUnavailable", "hub", "tag", "variant", "image", "traceSampling", "resources",
    "seccompProfile", "cni", "extraContainerArgs", "env", "envVarFrom", "taint", "affinity", "tolerations", "cpu",
    "memory", "volumeMounts", "volumes", "initContainers", "nodeSelector", "podAnnotations", "serviceAnnotations",
    "serviceAccountAnnotations", "sidecarInjectorWebhookAnnotations", "topologySpreadConstraints",
    "jwksResolverExtraRootCA", "keepaliveMaxServerConnectionAge", "deploymentLabels", "configMap", "podLabels",
    "ipFamilyPolicy", "ipFamilies", "trustedZtunnelNamespace", "trustedZtunnelName",
}
_SIDECAR_ANNOTATIONS = {  # pod annotation -> (resources section, resource)
    "sidecar.istio.io/proxyCPU": ("requests", "cpu"), "sidecar.istio.io/proxyCPULimit": ("limits", "cpu"),
    "sidecar.istio.io/proxyMemory": ("requests", "memory"), "sidecar.istio.io/proxyMemoryLimit": ("limits", "memory"),
}


def _gw_path_rank(match: dict, path: str) -> tuple[int, int] | None:
    """How specifically an HTTPRoute match takes ``path`` (higher wins, Gateway API precedence), None: not."""
    pm = (match or {}).get("path") or {"type": "PathPrefix", "value": "/"}
    kind, value = pm.get("type", "PathPrefix"), str(pm.get("value", "/"))
    if kind == "Exact":
        return (2, len(value)) if path == value else None
    if kind == "PathPrefix":  # whole path elements: /api/ask takes /api/ask and /api/ask/x, not /api/asks
        stem = value.rstrip("/")
        return (1, len(stem)) if not stem or path == stem or path.startswith(stem + "/") else None
    try:
        return (0, len(value)) if re.fullmatch(value, path) else None
    except re.error:
        return None


def _istio_version(tag: str) -> tuple[int, int, int] | None:
    m = re.match(r"^(\d+)\.(\d+)\.(\d+)", str(tag))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _overlay(value: Any) -> dict | None:
    """A parametersRef ConfigMap value as the mapping Istio merges (None: it does not parse to one)."""
    try:
        doc = yaml.safe_load(value) if isinstance(value, str) else None
    except yaml.YAMLError:
        return None
    return doc if isinstance(doc, dict) else None


def is_helm_values(path: str, doc: dict) -> bool:
    """A Helm values file capplan renders (``*values.yaml``, no apiVersion/kind)."""
    return PurePosixPath(path).name.endswith("values.yaml") and "apiVersion" not in doc and "kind" not in doc


class _GatewayRules:
    """Rules for k8s/gateway.yaml (Gateway, HTTPRoutes, Istio's parametersRef ConfigMap), the istiod Helm
    values and the sidecar sizes; mixed into :class:`_Linter`."""

    ctx: RenderContext | None
    docs: list[tuple[str, dict, str]]

    def add(self, path: str, rule: str, message: str) -> None:  # pragma: no cover - provided by _Linter
        raise NotImplementedError

    def resources(self, path: str, container: str, resources: dict) -> None:  # pragma: no cover
        raise NotImplementedError

    def stream_prefixes(self) -> tuple[str, ...]:
        return self.ctx.stream_path_prefixes if self.ctx is not None else _DEFAULT_STREAM_PREFIXES

    # per document -----------------------------------------------------------------------------------
    def gateway_api(self, path: str, doc: dict) -> None:
        api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        if api != _GATEWAY_GROUP + "v1" and kind in ("Gateway", "HTTPRoute", "GatewayClass"):
            self.add(path, "deprecated", f"{kind} uses {api}; use gateway.networking.k8s.io/v1 (GA since Gateway API 1.0)")
        spec = doc.get("spec") or {}
        if kind == "Gateway":
            self.gateway(path, spec)
        if kind == "HTTPRoute":
            for i, rule in enumerate(spec.get("rules") or []):
                timeouts = (rule or {}).get("timeouts") or {}
                where = f"rules[{i}].timeouts"
                seconds = {}
                for key in ("request", "backendRequest"):
                    if key not in timeouts:
                        continue
                    value = timeouts[key]
                    if not isinstance(value, str) or not _GW_DURATION.match(value):
                        self.add(path, "duration", f"{where}.{key} {value!r} is not a Gateway API duration"
                                                   " like '900s' or '1h' (GEP-2257)")
                    else:
                        seconds[key] = parse_go_duration(value)
                request, backend = seconds.get("request"), seconds.get("backendRequest")
                if request and backend and backend > request:
                    self.add(path, "duration", f"{where}.backendRequest exceeds {where}.request")

    def gateway(self, path: str, spec: dict) -> None:
        for listener in spec.get("listeners") or []:
            name, protocol = listener.get("name"), listener.get("protocol")
            tls = listener.get("tls") or {}
            if protocol == "HTTPS" and tls.get("mode", "Terminate") == "Terminate" and not tls.get("certificateRefs"):
                self.add(path, "gateway", f"listener {name!r}: HTTPS needs tls.certificateRefs (a TLS Secret)")
        annotations = (spec.get("infrastructure") or {}).get("annotations") or {}
        stream = _stream_seconds(self.ctx, self.text_of(path))
        for key, value in annotations.items():
            if key.startswith(_AWS_LISTENER_ATTRS):
                m = _AWS_NLB_IDLE.search(str(value))
                if m is None:
                    continue
                seconds = int(m.group(1))
                if not 60 <= seconds <= 6000:
                    self.add(path, "gateway", f"{key}: NLB TCP idle timeout {seconds} s is outside 60..6000 s")
                elif stream is not None and seconds < stream:
                    self.add(path, "stream-timeout", f"{key}: NLB idle timeout {seconds} s is shorter than the"
                                                     f" longest stream ({stream:g} s)")
            if key == _AZURE_IDLE:
                minutes = int(value) if str(value).isdigit() else None
                if minutes is None or not 4 <= minutes <= 100:
                    self.add(path, "gateway", f"{key} {value!r}: Azure's LB idle timeout is 4..100 minutes")
                elif stream is not None and minutes * 60 < stream:
                    self.add(path, "stream-timeout", f"{key}: {minutes} min is shorter than the longest stream"
                                                     f" ({stream:g} s)")

    def helm_values(self, path: str, doc: dict) -> None:
        """The istiod chart's values: no schema exists, so the shape and numbers are checked here."""
        for key in doc:
            if key not in _ISTIOD_VALUES:
                self.add(path, "helm-values", f"{key!r} is not a value of the istiod chart (Helm ignores it silently)")
        pilot = doc.get("pilot") or {}
        if not isinstance(pilot, dict):
            self.add(path, "helm-values", "pilot must be a mapping")
            pilot = {}
        low, count, high = pilot.get("autoscaleMin"), pilot.get("replicaCount"), pilot.get("autoscaleMax")
        if pilot.get("autoscaleEnabled", True) and any(v is not None for v in (low, high)):
            values = [v for v in (low, count, high) if v is not None]
            if any(not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in values) or values != sorted(values):
                self.add(path, "helm-values", f"pilot: need 1 <= autoscaleMin ({low}) <= replicaCount ({count})"
                                              f" <= autoscaleMax ({high})")
        self.resources(path, "pilot (istiod)", pilot.get("resources") or {})
        proxy = ((doc.get("global") or {}).get("proxy") or {})
        self.resources(path, "global.proxy (sidecar)", proxy.get("resources") or {})
        mesh = doc.get("meshConfig") or {}
        retry = mesh.get("defaultHttpRetryPolicy") or {}
        if retry.get("attempts") != 0:
            shown = "unset (Istio retries twice, 503 included)" if retry.get("attempts") is None else retry["attempts"]
            self.add(path, "stream-retries", f"meshConfig.defaultHttpRetryPolicy.attempts is {shown}: HTTPRoutes"
                                             " cannot opt out per route, so streaming chat POSTs would be retried")
        version = (mesh.get("tlsDefaults") or {}).get("minProtocolVersion")
        if version is not None and version not in _ISTIO_TLS_VERSIONS:
            self.add(path, "helm-values", f"meshConfig.tlsDefaults.minProtocolVersion {version!r}:"
                                          f" one of {', '.join(sorted(_ISTIO_TLS_VERSIONS))}")
        tag = _istio_version(str((doc.get("global") or {}).get("tag") or pilot.get("tag") or
                                 str(pilot.get("image") or "").rpartition(":")[2]))
        if version in ("TLSV1_2", "TLSV1_3") and tag is not None:
            fixed = _ISTIO_TLS_DEFAULTS_FIXED.get(tag[:2])
            if (tag[:2] < (1, 27)) or (fixed is not None and tag[2] < fixed):
                self.add(path, "helm-values", f"Istio {'.'.join(map(str, tag))} mis-maps"
                                              " meshConfig.tlsDefaults.minProtocolVersion (fixed in 1.27.6, 1.28.4,"
                                              " 1.29.1, 1.30): the gateway would accept older TLS")
        drain = (mesh.get("defaultConfig") or {}).get("terminationDrainDuration")
        if drain is not None:
            seconds = parse_go_duration(drain)
            stream = _stream_seconds(self.ctx, self.text_of(path))
            if seconds is None:
                self.add(path, "duration", f"meshConfig.defaultConfig.terminationDrainDuration {drain!r} is not a"
                                           " duration like '480s'")
            elif stream is not None and seconds < stream:
                self.add(path, "stream-timeout", f"terminationDrainDuration {drain} is shorter than the longest"
                                                 f" stream ({stream:g} s): a terminating proxy cuts open streams")

    # across documents ---------------------------------------------------------------------------------
    def gateway_cross(self) -> None:
        kinds: dict[str, list[tuple[str, dict]]] = {}
        for path, doc, _ in self.docs:
            if "apiVersion" in doc and "kind" in doc:
                kinds.setdefault(str(doc.get("kind")), []).append((path, doc))
        k8s_namespaces = {(d.get("metadata") or {}).get("namespace") for docs in kinds.values() for _, d in docs}
        configmaps = {((d.get("metadata") or {}).get("namespace"), (d.get("metadata") or {}).get("name")): (p, d)
                      for p, d in kinds.get("ConfigMap", [])}
        services = {((d.get("metadata") or {}).get("namespace"), (d.get("metadata") or {}).get("name")): d
                    for _, d in kinds.get("Service", [])}
        gateways = {}
        for path, doc in kinds.get("Gateway", []):
            meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
            ns = meta.get("namespace")
            gateways[(ns, meta.get("name"))] = {l.get("name"): l for l in spec.get("listeners") or []}
            ref = (spec.get("infrastructure") or {}).get("parametersRef")
            if ref:
                self.parameters(path, ns, ref, configmaps, ns in k8s_namespaces and len(kinds.get("ConfigMap", [])) > 0)
        redirected: set[tuple] = set()
        for path, doc in kinds.get("HTTPRoute", []):
            meta, spec = doc.get("metadata") or {}, doc.get("spec") or {}
            ns = meta.get("namespace")
            for parent in spec.get("parentRefs") or []:
                listeners = gateways.get((parent.get("namespace", ns), parent.get("name")))
                if listeners is None:
                    if gateways:
                        self.add(path, "gateway", f"parentRef {parent.get('name')!r}: no such Gateway among the files")
                    continue
                section = parent.get("sectionName")
                if section is not None and section not in listeners:
                    self.add(path, "gateway", f"parentRef sectionName {section!r}: the Gateway has no such listener")
                    continue
                attached = [listeners[section]] if section else list(listeners.values())
                if any(l.get("protocol") == "HTTP" for l in attached):
                    for i, rule in enumerate(spec.get("rules") or []):
                        to_https = any(f.get("type") == "RequestRedirect"
                                       and (f.get("requestRedirect") or {}).get("scheme") == "https"
                                       for f in rule.get("filters") or [])
                        if to_https:
                            redirected.add((parent.get("namespace", ns), parent.get("name")))
                        elif rule.get("backendRefs"):
                            self.add(path, "gateway", f"rules[{i}] serves the app over plain HTTP (a port-80 listener):"
                                                      " redirect to https instead")
            for i, rule in enumerate(spec.get("rules") or []):
                for ref in rule.get("backendRefs") or []:
                    if ref.get("kind", "Service") != "Service" or ref.get("group", "") != "" or not services:
                        continue
                    svc = services.get((ref.get("namespace", ns), ref.get("name")))
                    ports = {p.get("port") for p in ((svc or {}).get("spec") or {}).get("ports") or []}
                    if svc is None:
                        self.add(path, "gateway", f"rules[{i}] backendRef Service {ref.get('name')!r} is not among the files")
                    elif ref.get("port") not in ports:
                        self.add(path, "gateway", f"rules[{i}] backendRef port {ref.get('port')} is not a port of"
                                                  f" Service {ref.get('name')!r} {sorted(ports)}")
        if kinds.get("HTTPRoute"):
            for (ns, name), listeners in gateways.items():
                if any(l.get("protocol") == "HTTP" for l in listeners.values()) and (ns, name) not in redirected:
                    path = next(p for p, d in kinds["Gateway"] if (d.get("metadata") or {}).get("name") == name)
                    self.add(path, "gateway", f"Gateway {name!r} listens on plain HTTP but no HTTPRoute redirects it"
                                              " to https")
        self.http_routes(kinds.get("HTTPRoute", []))
        self.sidecars(kinds)

    def parameters(self, path: str, ns: Any, ref: dict, configmaps: dict, expect_present: bool) -> None:
        if ref.get("kind") != "ConfigMap" or ref.get("group", "") != "":
            self.add(path, "gateway", "infrastructure.parametersRef: Istio reads only a core ConfigMap")
            return
        found = configmaps.get((ns, ref.get("name")))
        if found is None:
            if expect_present:
                self.add(path, "gateway", f"infrastructure.parametersRef ConfigMap {ref.get('name')!r} is not among"
                                          " the files (Istio refuses the Gateway)")
            return
        cm_path, cm = found
        data = cm.get("data") or {}
        overlays = {}
        for key, value in data.items():
            if key not in _GW_OVERLAYS:
                self.add(cm_path, "gateway", f"ConfigMap key {key!r}: Istio accepts only {', '.join(sorted(_GW_OVERLAYS))}")
                continue
            parsed = _overlay(value)
            if parsed is None:
                self.add(cm_path, "gateway", f"ConfigMap {key!r} is not a YAML mapping (a strategic merge patch)")
            else:
                overlays[key] = parsed
        hpa = (overlays.get("horizontalPodAutoscaler") or {}).get("spec") or {}
        low, high = hpa.get("minReplicas", 1), hpa.get("maxReplicas")
        if hpa and (not isinstance(high, int) or not isinstance(low, int) or not 1 <= low <= high):
            self.add(cm_path, "gateway", f"horizontalPodAutoscaler: need 1 <= minReplicas ({low}) <= maxReplicas ({high})")
        deployment = (overlays.get("deployment") or {}).get("spec") or {}
        if hpa and "replicas" in deployment:
            self.add(cm_path, "gateway", "deployment.spec.replicas with a horizontalPodAutoscaler: Istio re-applies it on"
                                         " every reconcile and fights the HPA")
        pod = ((deployment.get("template") or {}).get("spec") or {})
        for container in pod.get("containers") or []:
            self.resources(cm_path, f"{container.get('name')} (gateway)", container.get("resources") or {})

    def http_routes(self, routes: list[tuple[str, dict]]) -> None:
        """The rule that serves each streaming path (Gateway API precedence: exact, then the longest prefix)
        must outlast the longest stream and must not retry."""
        serving = [(path, i, rule, match) for path, doc in routes
                   for i, rule in enumerate((doc.get("spec") or {}).get("rules") or []) if rule.get("backendRefs")
                   for match in (rule.get("matches") or [{}])]
        seen: set[tuple[str, int, int]] = set()
        for prefix in self.stream_prefixes():
            for probe in (prefix, prefix.rstrip("/") + "/stream"):
                ranked = [(rank, path, i, rule) for path, i, rule, match in serving
                          if (rank := _gw_path_rank(match, probe)) is not None]
                if not ranked:
                    continue
                _, path, i, rule = max(ranked, key=lambda r: r[0])
                key = (path, i, id(rule))
                if key in seen:
                    continue
                seen.add(key)
                self.stream_rule(path, i, rule, prefix)

    def stream_rule(self, path: str, index: int, rule: dict, prefix: str) -> None:
        label = f"HTTPRoute rule {rule.get('name') or index!r} (serves {prefix})"
        retry = rule.get("retry")  # experimental channel only
        if isinstance(retry, dict) and retry.get("attempts", 0) != 0:
            self.add(path, "stream-retries", f"{label}: retry.attempts is {retry.get('attempts')}; streaming routes need 0")
        stream = _stream_seconds(self.ctx, self.text_of(path))
        for key in ("request", "backendRequest"):
            value = (rule.get("timeouts") or {}).get(key)
            seconds = parse_go_duration(value) if isinstance(value, str) else None
            if stream is not None and seconds and seconds < stream:  # "0s" disables the timeout
                self.add(path, "stream-timeout",
                         f"{label}: timeouts.{key} {value} is shorter than the longest stream ({stream:g} s)")

    def sidecars(self, kinds: dict[str, list[tuple[str, dict]]]) -> None:
        """Sidecar sizes on injected pods: parseable, and equal to what was packed (the istiod values' default,
        and the context's sidecar)."""
        expected: dict[tuple[str, str], float] = {}
        for path, doc, _ in self.docs:
            if is_helm_values(path, doc):
                resources = (((doc.get("global") or {}).get("proxy") or {}).get("resources")) or {}
                for section in ("requests", "limits"):
                    for resource, raw in (resources.get(section) or {}).items():
                        if (value := parse_quantity(str(raw))) is not None:
                            expected[(section, resource)] = value
        if not expected and self.ctx is not None and self.ctx.mesh and self.ctx.sidecar is not None:
            s = self.ctx.sidecar
            expected = {("requests", "cpu"): s.cpu_request_millicores / 1000, ("limits", "cpu"): s.cpu_limit_millicores / 1000,
                        ("requests", "memory"): s.memory_request_mib * 2**20, ("limits", "memory"): s.memory_limit_mib * 2**20}
        injected = {(d.get("metadata") or {}).get("name") for _, d in kinds.get("Namespace", [])
                    if ((d.get("metadata") or {}).get("labels") or {}).get("istio-injection") == "enabled"}
        for path, doc in [pd for kind in sorted(_POD_KINDS) for pd in kinds.get(kind, [])]:
            template = _pod_template(doc) or {}
            meta = template.get("metadata") or {}
            annotations, labels = meta.get("annotations") or {}, meta.get("labels") or {}
            name = f"{doc.get('kind')} {(doc.get('metadata') or {}).get('name')!r}"
            opted_out = "false" in (str(annotations.get("sidecar.istio.io/inject")).lower(),
                                    str(labels.get("sidecar.istio.io/inject")).lower())
            present = {k: v for k, v in annotations.items() if k in _SIDECAR_ANNOTATIONS}
            parsed = {}
            for key, raw in present.items():
                value = parse_quantity(str(raw))
                if value is None:
                    self.add(path, "sidecar", f"{name}: {key} {raw!r} is not a Kubernetes quantity")
                else:
                    parsed[_SIDECAR_ANNOTATIONS[key]] = value
            for resource in ("cpu", "memory"):
                low, high = parsed.get(("requests", resource)), parsed.get(("limits", resource))
                if low is not None and high is not None and low > high:
                    self.add(path, "sidecar", f"{name}: sidecar {resource} request above its limit")
            in_mesh = (doc.get("metadata") or {}).get("namespace") in injected and not opted_out
            if in_mesh and expected and set(parsed) != set(_SIDECAR_ANNOTATIONS.values()):
                self.add(path, "sidecar", f"{name}: injected pod without the sidecar.istio.io/proxy* size annotations;"
                                          " the sidecar would get the mesh default, not what was packed")
            for key, value in parsed.items():
                want = expected.get(key)
                if want is not None and not math.isclose(value, want, rel_tol=1e-9):
                    self.add(path, "sidecar", f"{name}: sidecar {key[0]}.{key[1]} is not the packed size"
                                              " (istio/istiod-values.yaml global.proxy.resources)")


_COMPOSE_BYTES = re.compile(r"^(\d+(?:\.\d+)?)\s*([bkmg]?)b?$", re.IGNORECASE)


def _argv(command: Any) -> list[str]:
    """A command as tokens; ``sh -c "..."`` (and a leading ``exec``) unwrapped."""
    if isinstance(command, str):
        try:
            tokens = shlex.split(command)
        except ValueError:
            return []
    elif isinstance(command, list):
        tokens = [str(t) for t in command]
    else:
        return []
    if len(tokens) >= 3 and PurePosixPath(tokens[0]).name in ("sh", "bash", "dash", "ash") and tokens[1] == "-c":
        return _argv(tokens[2])
    while tokens and tokens[0] == "exec":
        tokens = tokens[1:]
    return tokens


def _flag(argv: list[str], name: str) -> str | None:
    """The value of ``--name value`` / ``--name=value`` in argv, None when absent."""
    for i, token in enumerate(argv):
        if token == name:
            return argv[i + 1] if i + 1 < len(argv) else ""
        if token.startswith(name + "="):
            return token.split("=", 1)[1]
    return None


def _is_mongod(argv: list[str]) -> bool:
    return bool(argv) and PurePosixPath(argv[0]).name == "mongod"


def _compose_bytes(value: Any) -> float | None:
    """A compose memory size ("4096M", "2g", "512mb", bytes) in bytes (Docker's units are binary)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _COMPOSE_BYTES.match(str(value).strip())
    if not m:
        return None
    return float(m.group(1)) * {"": 1, "b": 1, "k": 2**10, "m": 2**20, "g": 2**30}[m.group(2).lower()]


# --- per-document rules -----------------------------------------------------------------------------
class _Linter(_GatewayRules):
    def __init__(self, ctx: RenderContext | None):
        self.ctx = ctx
        self.issues: list[LintIssue] = []
        self.docs: list[tuple[str, dict, str]] = []

    def add(self, path: str, rule: str, message: str) -> None:
        self.issues.append(LintIssue(path, rule, message))

    # nginx ----------------------------------------------------------------------------------------
    def nginx(self, path: str, text: str) -> None:
        body = re.sub(r"(?m)(^|\s)#.*$", r"\1", text)
        directives = re.findall(r"(?m)^\s*([a-z_0-9]+)\s+([^;{]*);", body)
        values: dict[str, list[str]] = {}
        for name, args in directives:
            values.setdefault(name, []).append(args.strip())
        stream = _stream_seconds(self.ctx, text)
        timeouts = values.get("proxy_read_timeout", [])
        if "proxy_pass" in values and not timeouts:
            self.add(path, "stream-timeout", "no proxy_read_timeout: nginx's 60 s default cuts long streams")
        for raw in timeouts:
            seconds = _nginx_seconds(raw)
            if seconds is None:
                self.add(path, "stream-timeout", f"proxy_read_timeout {raw!r} does not parse")
            elif stream is not None and seconds < stream:
                self.add(path, "stream-timeout",
                         f"proxy_read_timeout {raw} is shorter than the longest stream ({stream:g} s)")
        if "proxy_pass" in values:
            if "off" not in values.get("proxy_buffering", []):
                self.add(path, "sse-proxy", "proxy_buffering off is missing: SSE tokens would be buffered")
            if "1.1" not in values.get("proxy_http_version", []):
                self.add(path, "sse-proxy", "proxy_http_version 1.1 is missing (upstream keepalive, streaming)")
            headers = [re.sub(r"\s+", " ", h) for h in values.get("proxy_set_header", [])]
            if not any(h in ("Connection ''", 'Connection ""') for h in headers):
                self.add(path, "sse-proxy", "proxy_set_header Connection '' is missing")

    # compose --------------------------------------------------------------------------------------
    def compose(self, path: str, doc: dict) -> None:
        if "version" in doc:
            self.add(path, "deprecated", "top-level 'version:' is obsolete in the Compose specification")
        for service, spec in (doc.get("services") or {}).items():
            env = (spec or {}).get("environment") or {}
            items = env.items() if isinstance(env, dict) else (
                (str(e).split("=", 1) + [None])[:2] for e in env)
            for name, value in items:
                why = _literal_secret(str(name), value)
                if why:
                    self.add(path, "literal-secret", f"services.{service}.environment: {why}")
            argv = _argv((spec or {}).get("command"))
            if _is_mongod(argv):
                limits = (((spec or {}).get("deploy") or {}).get("resources") or {}).get("limits") or {}
                raw = limits.get("memory", (spec or {}).get("mem_limit"))
                self.mongo_cache(path, f"services.{service}", argv, _compose_bytes(raw) if raw is not None else None)

    # Kubernetes-shaped documents ---------------------------------------------------------------------
    def k8s(self, path: str, doc: dict) -> None:
        api, kind = str(doc.get("apiVersion", "")), str(doc.get("kind", ""))
        meta = doc.get("metadata") or {}
        if api in _REMOVED_APIS:
            self.add(path, "deprecated", f"{kind} uses removed API version {api}")
        if api.startswith(_ISTIO_GROUP) and api != _ISTIO_GROUP + "v1":
            self.add(path, "deprecated", f"{kind} uses {api}; use networking.istio.io/v1 (GA since Istio 1.22)")
        name = meta.get("name")
        if name is not None:
            pattern, what = (_DNS_1035_LABEL, "DNS-1035 label") if kind == "Service" else (
                _DNS_1123_SUBDOMAIN, "DNS-1123 subdomain")
            if not isinstance(name, str) or len(name) > (63 if kind == "Service" else 253) or not pattern.match(name):
                self.add(path, "dns-1123", f"{kind} name {name!r} is not a {what}")
        namespace = meta.get("namespace")
        if namespace is not None and (not isinstance(namespace, str) or len(namespace) > 63
                                      or not DNS_1123_LABEL.match(namespace)):
            self.add(path, "dns-1123", f"namespace {namespace!r} is not a DNS-1123 label")
        template = _pod_template(doc)
        if template is not None:
            self.pod(path, kind, doc, template)
        if kind == "ConfigMap":
            for key, value in (doc.get("data") or {}).items():
                why = _literal_secret(str(key), value)
                if why:
                    self.add(path, "literal-secret", f"ConfigMap data: {why}")
        if kind == "HorizontalPodAutoscaler":
            self.hpa(path, doc)
        if kind == "PodDisruptionBudget":
            spec = doc.get("spec") or {}
            if "minAvailable" in spec and "maxUnavailable" in spec:
                self.add(path, "pdb", "set minAvailable or maxUnavailable, not both")
        if api.startswith(_ISTIO_GROUP):
            self.istio(path, doc)
        if api.startswith(_GATEWAY_GROUP):
            self.gateway_api(path, doc)
        if kind == "ClusterConfig":
            groups = (doc.get("managedNodeGroups") or []) + (doc.get("nodeGroups") or [])
            for group in groups:
                self.node_range(path, f"node group {group.get('name')!r}", group.get("minSize"),
                                group.get("desiredCapacity"), group.get("maxSize"))
                self.planned_group(path, str(group.get("name")), group.get("minSize"), group.get("maxSize"))
            self.eksctl_nat(path, doc, groups)
        if kind == "ManagedCluster" and api.startswith("containerservice.azure.com/"):
            for pool in (doc.get("spec") or {}).get("agentPoolProfiles") or []:
                pool_name = str(pool.get("name"))
                if not _AKS_POOL_NAME.match(pool_name):
                    self.add(path, "node-pool", f"AKS pool name {pool_name!r}: 1-12 lower-case letters/digits")
                if pool.get("enableAutoScaling"):
                    self.node_range(path, f"pool {pool_name!r}", pool.get("minCount"), pool.get("count"),
                                    pool.get("maxCount"))
                    self.planned_group(path, pool_name, pool.get("minCount"), pool.get("maxCount"))
                else:
                    self.planned_group(path, pool_name, pool.get("count"), pool.get("count"))
            self.aks_nat(path, (doc.get("spec") or {}).get("networkProfile") or {})

    def pod(self, path: str, kind: str, doc: dict, template: dict) -> None:
        spec = doc.get("spec") or {}
        labels = (template.get("metadata") or {}).get("labels") or {}
        selector = (spec.get("selector") or {}).get("matchLabels") or {}
        self.subset(path, f"{kind} spec.selector", selector, labels)
        pod_spec = template.get("spec") or {}
        for i, constraint in enumerate(pod_spec.get("topologySpreadConstraints") or []):
            match = (constraint.get("labelSelector") or {}).get("matchLabels") or {}
            self.subset(path, f"topologySpreadConstraints[{i}].labelSelector", match, labels)
        for container in _containers(pod_spec):
            cname = container.get("name")
            if not isinstance(cname, str) or len(cname) > 63 or not DNS_1123_LABEL.match(cname):
                self.add(path, "dns-1123", f"container name {cname!r} is not a DNS-1123 label")
            self.resources(path, str(cname), container.get("resources") or {})
            self.mongod(path, pod_spec, container)
            for entry in container.get("env") or []:
                if isinstance(entry, dict) and "value" in entry:
                    why = _literal_secret(str(entry.get("name")), entry.get("value"))
                    if why:
                        self.add(path, "literal-secret", f"container {cname}: {why}")

    def mongod(self, path: str, pod_spec: dict, container: dict) -> None:
        """mongo-cache and mongo-keyfile for one container."""
        cname = container.get("name")
        argv = _argv(container.get("command")) + [str(a) for a in container.get("args") or []]
        if not container.get("command") and argv and argv[0].startswith("-") and "mongo" in str(container.get("image")):
            argv = ["mongod"] + argv   # the mongo image's entrypoint runs mongod with leading-dash arguments
        if _is_mongod(argv):
            memory = ((container.get("resources") or {}).get("limits") or {}).get("memory")
            limit = parse_quantity(str(memory)) if memory is not None else None
            self.mongo_cache(path, f"container {cname}", argv, limit)
        keyfile = _flag(argv, "--keyFile")
        if keyfile is None:
            return
        volumes = {v.get("name"): v for v in pod_spec.get("volumes") or [] if isinstance(v, dict)}

        def volume_of(c: dict, file: str) -> dict | None:
            mounts = [m for m in c.get("volumeMounts") or [] if isinstance(m, dict)
                      and file.startswith(str(m.get("mountPath", "")).rstrip("/") + "/")]
            best = max(mounts, key=lambda m: len(str(m.get("mountPath"))), default=None)
            return None if best is None else volumes.get(best.get("name"), {"name": best.get("name")})

        source = volume_of(container, keyfile)
        if source is not None and "secret" in source:
            return
        if source is not None and "emptyDir" in source:
            for init in pod_spec.get("initContainers") or []:
                mounts = {m.get("name") for m in init.get("volumeMounts") or [] if isinstance(m, dict)}
                if source.get("name") in mounts and any("secret" in volumes.get(n, {}) for n in mounts):
                    return
        what = "the image" if source is None else next((f"a {k} volume" for k in source if k != "name"),
                                                        f"volume {source.get('name')!r} (a claim or undefined)")
        self.add(path, "mongo-keyfile", f"container {cname}: --keyFile {keyfile} comes from {what}, not a Secret"
                                        " volume (the cluster credential must stay a Secret reference)")

    def mongo_cache(self, path: str, where: str, argv: list[str], limit_bytes: float | None) -> None:
        if limit_bytes is None or _flag(argv, "--config") is not None or _flag(argv, "-f") is not None:
            return   # no limit: nothing to fit; a config file: the cache may be set there
        limit_gib = limit_bytes / 2**30
        raw = _flag(argv, "--wiredTigerCacheSizeGB")
        wanted = wiredtiger_cache_gib(int(limit_bytes / 2**20))
        if raw is None:
            self.add(path, "mongo-cache", f"{where}: mongod under a {limit_gib:g} GiB memory limit has no"
                                          " --wiredTigerCacheSizeGB: it sizes its cache from the node's RAM and"
                                          f" outgrows the limit (MongoDB's formula on the limit: {wanted:g})")
            return
        try:
            value = float(raw)
        except ValueError:
            self.add(path, "mongo-cache", f"{where}: --wiredTigerCacheSizeGB {raw!r} is not a number")
            return
        if value > max(WT_CACHE_MIN_GIB, limit_gib - WT_CACHE_RESERVED_GIB) + 1e-9:
            self.add(path, "mongo-cache", f"{where}: --wiredTigerCacheSizeGB {raw} leaves less than"
                                          f" {WT_CACHE_RESERVED_GIB:g} GiB of the {limit_gib:g} GiB limit for"
                                          f" everything else (MongoDB's formula: {wanted:g})")

    def resources(self, path: str, container: str, resources: dict) -> None:
        parsed: dict[tuple[str, str], float] = {}
        for section in ("requests", "limits"):
            for resource, raw in (resources.get(section) or {}).items():
                text = str(raw)
                if resource == "cpu":
                    ok = bool(_CPU.match(text))
                    hint = 'like "500m" or "1"'
                elif resource == "memory":
                    ok = bool(_MEMORY.match(text))
                    hint = 'like "512Mi" or "2Gi" (binary suffixes; "2Gb" and "m" are wrong)'
                else:
                    ok, hint = parse_quantity(text) is not None, "a Kubernetes quantity"
                if not ok:
                    self.add(path, "quantity", f"container {container} {section}.{resource} {text!r}: use {hint}")
                    continue
                value = parse_quantity(text)
                if value is not None:
                    parsed[(section, resource)] = value
        for resource in {r for _, r in parsed}:
            request, limit = parsed.get(("requests", resource)), parsed.get(("limits", resource))
            if request is not None and limit is not None and request > limit:
                self.add(path, "quantity", f"container {container} requests more {resource} than its limit")

    def hpa(self, path: str, doc: dict) -> None:
        behavior = (doc.get("spec") or {}).get("behavior") or {}
        for direction in ("scaleUp", "scaleDown"):
            rules = behavior.get(direction)
            if not isinstance(rules, dict):
                continue
            where = f"behavior.{direction}"
            if rules.get("selectPolicy", "Max") not in ("Max", "Min", "Disabled"):
                self.add(path, "hpa-policy", f"{where}.selectPolicy {rules.get('selectPolicy')!r}: Max|Min|Disabled")
            window = rules.get("stabilizationWindowSeconds", 0)
            if not isinstance(window, int) or not 0 <= window <= 3600:
                self.add(path, "hpa-policy", f"{where}.stabilizationWindowSeconds {window!r}: 0..3600")
            for i, policy in enumerate(rules.get("policies") or []):
                if policy.get("type") not in ("Pods", "Percent"):
                    self.add(path, "hpa-policy", f"{where}.policies[{i}].type {policy.get('type')!r}: Pods|Percent")
                value, period = policy.get("value"), policy.get("periodSeconds")
                if not isinstance(value, int) or value <= 0:
                    self.add(path, "hpa-policy", f"{where}.policies[{i}].value must be a positive integer")
                if not isinstance(period, int) or not 0 < period <= 1800:
                    self.add(path, "hpa-policy", f"{where}.policies[{i}].periodSeconds {period!r}: 1..1800")

    def istio(self, path: str, doc: dict) -> None:
        for trail, key, value in _walk(doc.get("spec") or {}):
            if key == "consecutiveErrors":
                self.add(path, "deprecated", f"{trail}: consecutiveErrors is deprecated; use consecutive5xxErrors")
            if key in _ISTIO_DURATION_KEYS and not isinstance(value, (dict, list)):
                seconds = parse_go_duration(value)
                if seconds is None:
                    self.add(path, "duration", f"{trail} {value!r} is not a duration like '30s' or '1h'")
                elif seconds < 1e-3:
                    self.add(path, "duration", f"{trail} {value!r}: Istio requires at least 1ms (omit to disable)")

    def text_of(self, path: str) -> str:
        return next((text for p, _, text in self.docs if p == path), "")

    def subset(self, path: str, where: str, selector: dict, labels: dict) -> None:
        missing = {k: v for k, v in selector.items() if labels.get(k) != v}
        if missing:
            self.add(path, "selector", f"{where} {missing} is not in the pod template labels")
        if _VERSION_LABEL in selector:
            self.add(path, "selector", f"{where} selects on {_VERSION_LABEL}: selectors are immutable, upgrades break")

    def node_range(self, path: str, what: str, low: Any, desired: Any, high: Any) -> None:
        values = [v for v in (low, desired, high) if v is not None]
        if any(not isinstance(v, int) for v in values) or values != sorted(values):
            self.add(path, "node-pool", f"{what}: need min ({low}) <= desired ({desired}) <= max ({high})")

    def gke_flags(self, path: str, doc: dict) -> None:
        name = PurePosixPath(path).name
        command, known = (("compute routers nats create", _GKE_NAT_FLAGS) if "nat" in name else
                          ("container node-pools create", _GKE_NODEPOOL_FLAGS) if "nodepool" in name else
                          ("container clusters create", _GKE_FLAGS))
        for key in doc:
            if key not in known:
                self.add(path, "nat" if known is _GKE_NAT_FLAGS else "node-pool",
                         f"unknown gcloud {command} flag {key}")
        if known is _GKE_NAT_FLAGS:
            self.gke_nat(path, doc)
            return
        total = "--total-min-nodes" in doc or "--total-max-nodes" in doc
        if total and ("--min-nodes" in doc or "--max-nodes" in doc):
            self.add(path, "node-pool", "--total-min/max-nodes and --min/max-nodes are mutually exclusive")
        self.node_range(path, "GKE node pool", doc.get("--total-min-nodes"), None, doc.get("--total-max-nodes"))
        # --num-nodes, --min-nodes and --max-nodes count nodes in EACH zone of --node-locations
        self.node_range(path, "GKE node pool (per zone)", doc.get("--min-nodes"), doc.get("--num-nodes"),
                        doc.get("--max-nodes"))
        if "--enable-autoscaling" in doc and not ({"--min-nodes", "--max-nodes", "--total-min-nodes",
                                                   "--total-max-nodes"} & set(doc)):
            self.add(path, "node-pool", "--enable-autoscaling without node bounds")
        labels = doc.get("--node-labels") or {}
        group = labels.get(NODE_GROUP_LABEL) if isinstance(labels, dict) else None
        if group is None:
            self.add(path, "node-pool", f"the node pool has no {NODE_GROUP_LABEL} label in --node-labels")
            return
        locations = doc.get("--node-locations")
        zones = len(locations) if isinstance(locations, list) and locations else (
            len(self.ctx.zones) if self.ctx is not None else 1)
        per_zone = doc.get("--num-nodes")
        low = doc.get("--total-min-nodes") or (doc.get("--min-nodes", per_zone), zones)
        high = doc.get("--total-max-nodes") or (doc.get("--max-nodes", per_zone), zones)
        self.planned_group(path, str(group), low, high)

    def planned_group(self, path: str, name: str, low: Any, high: Any) -> None:
        """With a context: the rendered group holds the planned group's minimum and maximum (a GKE
        per-zone count comes as (count, zones)), so the node group's maximum fits the HPA maximum."""
        if self.ctx is None:
            return
        planned = next((g for g in cluster_node_groups(self.ctx) if g["name"] == name), None)
        if planned is None:
            self.add(path, "node-pool", f"node group {name!r} is not in the plan")
            return

        def total(value: Any) -> int | None:
            if isinstance(value, tuple):
                count, zones = value
                return count * zones if isinstance(count, int) else None
            return value if isinstance(value, int) else None

        for what, value, want in (("minimum", total(low), planned["min_nodes"]),
                                  ("maximum", total(high), planned["max_nodes"])):
            if value is None or value < want:
                self.add(path, "node-pool", f"node group {name!r}: rendered {what} {value} nodes is below the"
                                            f" plan's {want}")

    def eksctl_nat(self, path: str, doc: dict, groups: list) -> None:
        gateway = ((doc.get("vpc") or {}).get("nat") or {}).get("gateway", "Single")
        if gateway == "Disable" and any(g.get("privateNetworking") for g in groups):
            self.add(path, "nat", "private node groups without a NAT gateway have no egress (LLM calls fail)")
        elif self.ctx is not None and gateway != "HighlyAvailable":
            self.add(path, "nat", f"vpc.nat.gateway {gateway!r}: the bill pays for one NAT gateway per zone"
                                  " (HighlyAvailable)")

    def aks_nat(self, path: str, network: dict) -> None:
        if network.get("outboundType") != "managedNATGateway":
            if self.ctx is not None:
                self.add(path, "nat", f"outboundType {network.get('outboundType')!r}: the bill pays for a managed"
                                      " NAT gateway (managedNATGateway)")
            return
        profile = network.get("natGatewayProfile") or {}
        count = (profile.get("managedOutboundIPProfile") or {}).get("count")
        if not isinstance(count, int) or count < 1:
            self.add(path, "nat", f"natGatewayProfile.managedOutboundIPProfile.count {count!r}: at least 1 IP")
        elif self.ctx is not None and count != cluster_vars(self.ctx)["nat"]["ips"]:
            self.add(path, "nat", f"{count} NAT IPs: the bill pays for {cluster_vars(self.ctx)['nat']['ips']}")
        idle = profile.get("idleTimeoutInMinutes", _AZURE_NAT_IDLE_DEFAULT_MIN)
        if not isinstance(idle, int) or not _AZURE_NAT_IDLE_MIN[0] <= idle <= _AZURE_NAT_IDLE_MIN[1]:
            self.add(path, "nat", f"natGatewayProfile.idleTimeoutInMinutes {idle!r}: 4..120")
        elif self.ctx is not None and idle * 60 < min(self.ctx.proxy_read_timeout_s, _AZURE_NAT_IDLE_MIN[1] * 60):
            self.add(path, "nat", f"NAT idle timeout {idle} min is shorter than the stream timeout"
                                  f" ({self.ctx.proxy_read_timeout_s} s): a silent LLM stream is cut")

    def gke_nat(self, path: str, doc: dict) -> None:
        sources = [f for f in ("--auto-allocate-nat-external-ips", "--nat-external-ip-pool") if f in doc]
        if len(sources) != 1:
            self.add(path, "nat", "set one of --auto-allocate-nat-external-ips or --nat-external-ip-pool")
        ports = doc.get("--min-ports-per-vm")
        if not isinstance(ports, int) or ports < NAT_SSE_MIN_PORTS_PER_VM:
            self.add(path, "nat", f"--min-ports-per-vm {ports!r}: at least {NAT_SSE_MIN_PORTS_PER_VM} (each open"
                                  " LLM stream holds a port to the provider for its whole length)")
        elif self.ctx is not None:
            nat = cluster_vars(self.ctx)["nat"]
            if ports * nat["vms_max"] > NAT_PORTS_PER_IP * nat["ips"]:
                self.add(path, "nat", f"--min-ports-per-vm {ports} x {nat['vms_max']} VMs at the node groups'"
                                      f" maximum needs more than the {nat['ips']} NAT IP(s) the bill pays for")
        idle = parse_go_duration(doc.get("--tcp-established-idle-timeout", f"{_GKE_DEFAULT_TCP_ESTABLISHED_IDLE_S}s"))
        if idle is None:
            self.add(path, "nat", "--tcp-established-idle-timeout is not a duration like '1200s'")
        elif self.ctx is not None and idle < self.ctx.proxy_read_timeout_s:
            self.add(path, "nat", f"--tcp-established-idle-timeout {idle:g} s is shorter than the stream timeout"
                                  f" ({self.ctx.proxy_read_timeout_s} s): a silent LLM stream is cut")

    # cross-document rules ----------------------------------------------------------------------------
    def cross(self) -> None:
        pods: dict[tuple[str | None, str], dict] = {}
        for _, doc, _ in self.docs:
            template = _pod_template(doc)
            if doc.get("kind") in ("Deployment", "StatefulSet") and template is not None:
                meta = doc.get("metadata") or {}
                # StatefulSets are keyed apart so an HPA's Deployment target never resolves to one
                name = str(meta.get("name")) if doc["kind"] == "Deployment" else f"StatefulSet/{meta.get('name')}"
                pods[(meta.get("namespace"), name)] = {
                    "labels": (template.get("metadata") or {}).get("labels") or {},
                    "replicas": (doc.get("spec") or {}).get("replicas", 1)}
        if not pods:
            return
        hpas: dict[tuple[str | None, str], int] = {}
        for path, doc, _ in self.docs:
            if doc.get("kind") != "HorizontalPodAutoscaler":
                continue
            spec, ns = doc.get("spec") or {}, (doc.get("metadata") or {}).get("namespace")
            target = spec.get("scaleTargetRef") or {}
            key = (ns, str(target.get("name")))
            if target.get("kind") == "Deployment" and key not in pods:
                self.add(path, "selector", f"HPA targets Deployment {target.get('name')!r}, not among the files")
            hpas[key] = spec.get("minReplicas", 1)
        for path, doc, _ in self.docs:
            kind, spec = doc.get("kind"), doc.get("spec") or {}
            ns = (doc.get("metadata") or {}).get("namespace")
            if kind == "Service":
                selector = spec.get("selector") or {}
            elif kind == "PodDisruptionBudget":
                selector = (spec.get("selector") or {}).get("matchLabels") or {}
            else:
                continue
            matched = [key for key, pod in pods.items() if key[0] == ns and selector
                       and all(pod["labels"].get(k) == v for k, v in selector.items())]
            if not matched:
                self.add(path, "selector",
                         f"{kind} selector {selector} matches no Deployment's or StatefulSet's pod labels")
            elif _VERSION_LABEL in selector:
                self.add(path, "selector", f"{kind} selects on {_VERSION_LABEL}: breaks on every upgrade")
            if kind != "PodDisruptionBudget" or "minAvailable" not in spec:
                continue
            for key in matched:
                floor = hpas.get(key, pods[key]["replicas"])
                wanted = _int_or_pct(spec["minAvailable"], floor)
                if wanted is not None and isinstance(floor, int) and wanted >= floor:
                    source = "HPA minReplicas" if key in hpas else "Deployment replicas"
                    self.add(path, "pdb", f"minAvailable {spec['minAvailable']} is not below the {source} ({floor}):"
                                          " node drains would block")


# PromQL words that are not metric names (functions are followed by "(" and dropped anyway).
_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool",
                 "offset", "inf", "nan"}


def promql_metrics(expr: str) -> set[str]:
    """Metric names a PromQL expression reads (label matchers, ranges, strings and grouping lists dropped)."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    text = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = re.findall(r"(?<![\w.])([A-Za-z_:][\w:]*)\b(?!\s*\()", text)
    return {n for n in names if n.lower() not in _PROMQL_WORDS}


def _alert_absent(linter: Any, path: str, doc: dict) -> None:
    """alert-absent: every metric family read by an alert has an absent() guard in the file."""
    read: dict[str, str] = {}
    guarded: set[str] = set()
    for group in doc.get("groups") or []:
        for rule in (group or {}).get("rules") or []:
            if not isinstance(rule, dict) or "alert" not in rule:
                continue
            expr = str(rule.get("expr", ""))
            for m in re.finditer(r"\babsent(?:_over_time)?\s*\(", expr):
                depth, end = 1, m.end()
                while end < len(expr) and depth:
                    depth += {"(": 1, ")": -1}.get(expr[end], 0)
                    end += 1
                guarded |= {name.split("_", 1)[0] for name in promql_metrics(expr[m.end():end - 1])}
            for name in promql_metrics(expr):
                read.setdefault(name.split("_", 1)[0], f"{rule['alert']} reads {name}")
    for family, where in sorted(read.items()):
        if family not in guarded:
            linter.add(path, "alert-absent", f"{where}, but no alert guards the {family}_* family with absent():"
                                             " an unscraped target leaves it silent")


def _is_compose(path: str, doc: dict) -> bool:
    name = PurePosixPath(path).name
    return "apiVersion" not in doc and (
        bool(re.match(r"^(docker-)?compose([.-].*)?\.ya?ml$", name)) or isinstance(doc.get("services"), dict))


def lint(files: dict[str, str], ctx: RenderContext | None = None) -> list[LintIssue]:
    """Check rendered files with capplan's rules; an empty list means clean."""
    linter = _Linter(ctx)
    for path, text in sorted(files.items()):
        suffix = PurePosixPath(path).suffix
        if suffix == ".conf":
            linter.nginx(path, text)
        elif suffix in (".yaml", ".yml"):
            try:
                parsed = [d for d in yaml.safe_load_all(text) if d is not None]
            except yaml.YAMLError as exc:
                linter.add(path, "yaml", f"does not parse: {exc}".replace("\n", " "))
                continue
            for doc in parsed:
                if isinstance(doc, dict):
                    linter.docs.append((path, doc, text))
    for path, doc, _ in linter.docs:
        if _is_compose(path, doc):
            linter.compose(path, doc)
        elif "apiVersion" in doc and "kind" in doc:
            linter.k8s(path, doc)
        elif is_helm_values(path, doc):
            linter.helm_values(path, doc)
        elif isinstance(doc.get("groups"), list):
            _alert_absent(linter, path, doc)
        elif doc and all(isinstance(k, str) and k.startswith("--") for k in doc):
            linter.gke_flags(path, doc)
    linter.cross()
    linter.gateway_cross()
    return sorted(set(linter.issues))
