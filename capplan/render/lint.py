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
- ``deprecated``: Istio ``consecutiveErrors`` and pre-v1 ``networking.istio.io`` versions, removed
  Kubernetes API versions, the obsolete top-level ``version:`` of compose files.
- ``literal-secret``: env entries / ConfigMap keys named like a secret (*PASSWORD*, *SECRET*, *KEY*,
  *TOKEN*) with a literal value, and *_URI / *_URL values carrying ``user:password@``.
- ``stream-timeout``: nginx ``proxy_read_timeout`` (default 60 s) and the Istio route serving a
  streaming path must outlast the longest stream.
- ``stream-retries``: the Istio route serving a streaming path must not retry (Istio retries twice
  by default).
- ``sse-proxy``: nginx must proxy SSE unbuffered over HTTP/1.1 with an empty Connection header.
- ``duration``: Istio durations must parse and be at least 1 ms (the CRD rejects "0s").
- ``node-pool``: node-group min <= desired <= max (eksctl, AKS, GKE flags), AKS pool names.

The longest stream comes from ``ctx.longest_stream_s`` or, when no context is given, from the
``capplan:longest-stream-s=N`` marker the templates write; without either the stream-timeout rule
only checks that a timeout is set.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Iterator

import yaml

from capplan.render.context import DNS_1123_LABEL, RenderContext


@dataclass(frozen=True, order=True)
class LintIssue:
    path: str
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: [{self.rule}] {self.message}"


RULES: tuple[str, ...] = (
    "yaml", "quantity", "hpa-policy", "selector", "pdb", "dns-1123", "deprecated", "literal-secret",
    "stream-timeout", "stream-retries", "sse-proxy", "duration", "node-pool",
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
_GKE_FLAGS = {"--location", "--region", "--zone", "--node-locations", "--cluster-version", "--release-channel",
              "--machine-type", "--disk-size", "--disk-type", "--num-nodes", "--enable-autoscaling",
              "--total-min-nodes", "--total-max-nodes", "--min-nodes", "--max-nodes", "--location-policy",
              "--enable-ip-alias", "--labels", "--network", "--subnetwork", "--workload-pool"}
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


# --- per-document rules -----------------------------------------------------------------------------
class _Linter:
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
        if kind == "ClusterConfig":
            for group in (doc.get("managedNodeGroups") or []) + (doc.get("nodeGroups") or []):
                self.node_range(path, f"node group {group.get('name')!r}", group.get("minSize"),
                                group.get("desiredCapacity"), group.get("maxSize"))
        if kind == "ManagedCluster" and api.startswith("containerservice.azure.com/"):
            for pool in (doc.get("spec") or {}).get("agentPoolProfiles") or []:
                pool_name = str(pool.get("name"))
                if not _AKS_POOL_NAME.match(pool_name):
                    self.add(path, "node-pool", f"AKS pool name {pool_name!r}: 1-12 lower-case letters/digits")
                if pool.get("enableAutoScaling"):
                    self.node_range(path, f"pool {pool_name!r}", pool.get("minCount"), pool.get("count"),
                                    pool.get("maxCount"))

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
            for entry in container.get("env") or []:
                if isinstance(entry, dict) and "value" in entry:
                    why = _literal_secret(str(entry.get("name")), entry.get("value"))
                    if why:
                        self.add(path, "literal-secret", f"container {cname}: {why}")

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
        if doc.get("kind") == "VirtualService":
            self.stream_routes(path, doc)

    def stream_routes(self, path: str, doc: dict) -> None:
        routes = (doc.get("spec") or {}).get("http") or []
        prefixes = self.ctx.stream_path_prefixes if self.ctx is not None else _DEFAULT_STREAM_PREFIXES
        stream = _stream_seconds(self.ctx, self.text_of(path))
        seen: set[int] = set()
        for prefix in prefixes:
            for probe in (prefix, prefix.rstrip("/") + "/stream"):
                route = next((r for r in routes if _route_matches(r, probe)), None)
                if route is not None and id(route) not in seen:
                    seen.add(id(route))
                    self.stream_route(path, routes, route, prefix, stream)

    def stream_route(self, path: str, routes: list, route: dict, prefix: str, stream: float | None) -> None:
        label = f"route {route.get('name') or routes.index(route)!r} (serves {prefix})"
        attempts = (route.get("retries") or {}).get("attempts")
        if attempts != 0:
            shown = "unset (Istio retries twice)" if attempts is None else attempts
            self.add(path, "stream-retries", f"{label}: retries.attempts is {shown}; streaming routes need 0")
        timeout = route.get("timeout")
        seconds = parse_go_duration(timeout) if timeout is not None else None
        if stream is not None and seconds is not None and seconds < stream:
            self.add(path, "stream-timeout",
                     f"{label}: timeout {timeout} is shorter than the longest stream ({stream:g} s)")

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
        for key in doc:
            if key not in _GKE_FLAGS:
                self.add(path, "node-pool", f"unknown gcloud container clusters create flag {key}")
        total = "--total-min-nodes" in doc or "--total-max-nodes" in doc
        if total and ("--min-nodes" in doc or "--max-nodes" in doc):
            self.add(path, "node-pool", "--total-min/max-nodes and --min/max-nodes are mutually exclusive")
        self.node_range(path, "GKE node pool", doc.get("--total-min-nodes"), None, doc.get("--total-max-nodes"))

    # cross-document rules ----------------------------------------------------------------------------
    def cross(self) -> None:
        pods: dict[tuple[str | None, str], dict] = {}
        for _, doc, _ in self.docs:
            template = _pod_template(doc)
            if doc.get("kind") == "Deployment" and template is not None:
                meta = doc.get("metadata") or {}
                pods[(meta.get("namespace"), str(meta.get("name")))] = {
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
                self.add(path, "selector", f"{kind} selector {selector} matches no Deployment's pod labels")
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


def _route_matches(route: dict, path: str) -> bool:
    matches = route.get("match")
    if not matches:
        return True
    for match in matches:
        uri = (match or {}).get("uri")
        if uri is None:
            return True
        if "prefix" in uri and path.startswith(uri["prefix"]):
            return True
        if "exact" in uri and path == uri["exact"]:
            return True
        if "regex" in uri and re.fullmatch(uri["regex"], path):
            return True
    return False


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
        elif doc and all(isinstance(k, str) and k.startswith("--") for k in doc):
            linter.gke_flags(path, doc)
    linter.cross()
    return sorted(set(linter.issues))
