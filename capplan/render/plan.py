"""From the planner's ``deploy`` block to validated, linted files.

``capplan recommend --json`` (and ``capplan check --format json``) print option dicts whose
``deploy`` block holds the deployment (:class:`capplan.deploy.Deployment`: every pod, node group and
priced charge) and the stream timings the renderer needs (see :func:`capplan.planner.deploy_block`)::

    deploy = load_deploy(Path("recommendation.json"))   # chosen.deploy, an option's deploy, or a bare block
    ctx = context_from_deploy(deploy, hostname="chat.acme.org")
    files = render_plan(deploy)                          # {relative path: text}; lint-clean or CapplanError

The files describe the deployment the bill prices: the API Deployment and its HPA bounds come from the
pod holding the streams (``librechat``), the other services of the microservices tier from their own
pods, node groups from the deployment's node groups (the bin-packing's node counts at minimum and
maximum replicas), Meilisearch, MongoDB, exporters, Istio and the autoscaler from their pods. A compose
deployment (one Docker host) renders only ``compose``; a Kubernetes deployment renders every target
but ``compose`` (a compose file for a plan billed as a cluster would describe another deployment).
Zones are named from the deployment's zone count (``us-east-1a``, ``us-central1-a``, Azure ``"1"``).
Everything else (keep-alive = LB idle timeout + 5 s, API route timeout, probes, ports, images...) is a
documented default of :class:`RenderContext`; ``overrides`` replace single fields.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import pydantic

from capplan.deploy.platform import INSTANCE_ID as _INSTANCE_ID   # price-book row id -> type name
from capplan.errors import CapplanError
from capplan.files import parse_yaml, read_text
from capplan.render.context import NodeGroupSpec, PodSpec, RenderContext
from capplan.render.engine import TARGETS, render
from capplan.render.lint import lint

#: Targets that only make sense on Kubernetes (manifests, cluster definition, alerts on kube metrics).
KUBERNETES_TARGETS: tuple[str, ...] = ("k8s", "istio", "cluster", "prometheus")

# Zone suffixes per region; most regions name their first three zones a, b, c.
_ZONE_SUFFIXES_DEFAULT = {"aws": ("a", "b", "c"), "gcp": ("a", "b", "c"), "azure": ("1", "2", "3")}
_ZONE_SUFFIXES = {
    ("gcp", "us-east1"): ("b", "c", "d"),
    ("gcp", "europe-west1"): ("b", "c", "d"),
    ("aws", "ap-northeast-1"): ("a", "c", "d"),
}
_TIMINGS = ("mongo_max_pool_size", "queue_workers", "longest_stream_s", "proxy_read_timeout_s")
# deploy key -> RenderContext field, copied when present and not null (else the context default).
_COPIED = ("mongo_max_pool_size", "queue_workers", "longest_stream_s", "proxy_read_timeout_s", "lb_idle_timeout_s",
           "p95_latency_slo_s")


# --- reading a saved plan ------------------------------------------------------------------------------
def load_deploy(path: Path) -> dict:
    """The deploy block of a saved ``recommend --json`` / ``check --format json`` output (``chosen.deploy``),
    of one option dict (``deploy``), or a bare deploy block; JSON or YAML.

    A missing or unreadable file, malformed JSON/YAML, or no deploy block raise a one-line
    :class:`CapplanError` naming the file.
    """
    path = Path(path)
    name = str(path)
    text = read_text(path)
    doc = _parse(text, path.suffix.lower(), name)
    return _deploy_block(doc, name)


def _parse(text: str, suffix: str, name: str) -> Any:
    if suffix in (".yaml", ".yml"):
        return _parse_yaml(text, name)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        if suffix == ".json":
            raise CapplanError(f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}",
                               field=name) from None
        json_error = exc
    try:
        return _parse_yaml(text, name)
    except CapplanError:
        raise CapplanError(f"neither JSON nor YAML (JSON: line {json_error.lineno} column {json_error.colno}:"
                           f" {json_error.msg})", field=name) from None


def _parse_yaml(text: str, name: str) -> Any:
    return parse_yaml(text, name)


def _deploy_block(doc: Any, name: str) -> dict:
    if not isinstance(doc, dict):
        raise CapplanError(f"holds a {type(doc).__name__}, not an object with a deploy block", field=name)
    if "chosen" in doc:
        chosen = doc["chosen"]
        if chosen is None:
            raise CapplanError("chosen is null (no option met the SLO): no deploy block to render", field=name)
        if not isinstance(chosen, dict) or not isinstance(chosen.get("deploy"), dict):
            raise CapplanError("chosen has no deploy block (chosen.deploy); re-run `capplan recommend --json`"
                               " with this capplan version", field=name)
        return chosen["deploy"]
    if isinstance(doc.get("deploy"), dict):
        return doc["deploy"]
    if isinstance(doc.get("deployment"), dict):
        return doc
    if all(key in doc for key in ("tier", "provider", "services")):
        raise CapplanError("a deploy block from an older capplan (no deployment): re-run `capplan recommend --json`"
                           " with this version", field=name)
    raise CapplanError("no deploy block: expected chosen.deploy (recommend --json, check --format json),"
                       " an option's deploy, or a bare deploy block (deployment, timings)", field=name)


# --- deploy block -> RenderContext ------------------------------------------------------------------------
def deployment_of(deploy: dict) -> Any:
    """The :class:`capplan.deploy.Deployment` inside a deploy block (validated)."""
    from capplan.deploy.model import Deployment

    if not isinstance(deploy, dict):
        raise CapplanError(f"must be an object, got {type(deploy).__name__}", field="deploy")
    raw = deploy.get("deployment")
    if not isinstance(raw, dict):
        raise CapplanError("lacks the deployment (re-run `capplan recommend --json` with this version)",
                           field="deploy.deployment")
    try:
        return Deployment.model_validate(raw)
    except pydantic.ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CapplanError(err["msg"], field=f"deploy.deployment.{where}") from None


@lru_cache(maxsize=None)
def _price_book(provider: str) -> Any:
    from capplan.cost.prices import load_price_book

    return load_price_book(provider)


def instance_type(provider: str, row: str) -> str:
    """The provider's instance type name for price-book row ``row`` (``ec2.m6i.large`` -> ``m6i.large``)."""
    if provider not in _INSTANCE_ID:
        raise CapplanError(f"unknown provider {provider!r}; choose from {', '.join(_INSTANCE_ID)}",
                           field="deploy.provider")
    prefix, name_prefix = _INSTANCE_ID[provider]
    if not isinstance(row, str) or not row.startswith(prefix) or len(row) == len(prefix):
        raise CapplanError(f"unknown instance row {row!r}: {provider} instance rows are named {prefix}<type>",
                           field="deploy.node_instance_row")
    book = _price_book(provider)
    try:
        priced = book.get(row)
    except CapplanError:
        raise CapplanError(f"unknown instance row {row!r}: not in pricing/{provider}.yaml",
                           field="deploy.node_instance_row") from None
    if priced.category != "instance":
        raise CapplanError(f"row {row!r} is {('a ' + priced.category + ' row') if priced.category else 'not a category: instance row'}, not an instance type",
                           field="deploy.node_instance_row")
    return name_prefix + row[len(prefix):]


def zone_names(provider: str, region: str, count: int) -> tuple[str, ...]:
    """``count`` zone names of ``region`` (``us-east-1a``, ``us-central1-a``, Azure ``"1"``...)."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise CapplanError(f"must be a positive number of zones, got {count!r}", field="deploy.zones")
    if provider not in _ZONE_SUFFIXES_DEFAULT:
        raise CapplanError(f"unknown provider {provider!r}", field="deploy.provider")
    suffixes = _ZONE_SUFFIXES.get((provider, region), _ZONE_SUFFIXES_DEFAULT[provider])
    if count > len(suffixes):
        raise CapplanError(f"{count} zones: capplan names at most {len(suffixes)} in {provider} {region};"
                           " pass the zone names explicitly (zones=...)", field="deploy.zones")
    if provider == "aws":
        return tuple(f"{region}{s}" for s in suffixes[:count])
    if provider == "gcp":
        return tuple(f"{region}-{s}" for s in suffixes[:count])
    return tuple(suffixes[:count])


STREAM_POD = "librechat"


def _pod_spec(pod: Any, name: str | None = None) -> PodSpec:
    return PodSpec(name=name or pod.name, replicas=pod.replicas_min, replicas_max=pod.replicas_max,
                   cpu_request_millicores=pod.cpu_request_m, cpu_limit_millicores=pod.cpu_limit_m,
                   memory_request_mib=pod.memory_request_mib, memory_limit_mib=pod.memory_limit_mib,
                   disk_gib=pod.disk_gib, node_group=pod.node_group, image=pod.image)


def _sidecar_spec(spec: dict) -> PodSpec:
    req, lim = spec["requests"], spec["limits"]
    return PodSpec(name="istio-proxy", replicas=1, replicas_max=1, cpu_request_millicores=req["cpu_millicores"],
                   cpu_limit_millicores=lim["cpu_millicores"], memory_request_mib=req["memory_mib"],
                   memory_limit_mib=lim["memory_mib"])


def deployment_fields(deployment: Any) -> dict[str, Any]:
    """RenderContext fields that describe the deployment's components (not its timings)."""
    from capplan.deploy import platform as plat

    d = deployment
    api = d.pod(STREAM_POD)
    if api is None:
        raise CapplanError(f"has no {STREAM_POD!r} pod (the service holding the streams)", field="deploy.deployment")
    kubernetes = d.platform == "kubernetes"
    pods = {p.name: p for p in d.pods}
    groups = {g.role: g for g in d.node_groups}
    main = groups.get("app") or groups.get("host")
    values: dict[str, Any] = dict(
        tier=d.tier, provider=d.provider, region=d.region, users=d.users, kubernetes=kubernetes,
        replicas=api.replicas_min, hpa_min_replicas=api.replicas_min, hpa_max_replicas=api.replicas_max,
        cpu_request_millicores=api.cpu_request_m, cpu_limit_millicores=api.cpu_limit_m,
        memory_request_mib=api.memory_request_mib, memory_limit_mib=api.memory_limit_mib,
        mongo_members=d.mongo_members, mongo_mode=d.mongo_mode, mongo_shards=d.mongo_shards,
        redis_enabled=d.redis_mode != "none", redis_mode="managed" if d.redis_mode == "managed" else "self_hosted",
        mesh=d.mesh, hpa_memory=d.hpa_memory, aks_tier=d.aks_tier or "Free",
        node_instance_type=main.instance_type, node_count_min=main.nodes_min, node_count_max=main.nodes_max,
        zones=zone_names(d.provider, d.region, d.zones),
        search=_pod_spec(pods["librechat-meilisearch"]) if "librechat-meilisearch" in pods else None,
    )
    if kubernetes:
        shard = pods.get("mongodb-shard0")
        values.update(
            node_groups=tuple(NodeGroupSpec(name=g.name, instance_type=g.instance_type, min_nodes=g.nodes_min,
                                            max_nodes=g.nodes_max, disk_gib=g.disk_gib, role=g.role)
                              for g in d.node_groups),
            istiod=_pod_spec(pods["istiod"]) if "istiod" in pods else None,
            ingress_gateway=_pod_spec(pods["librechat-gateway-istio"]) if "librechat-gateway-istio" in pods else None,
            sidecar=_sidecar_spec(plat.component("istio", "sidecar")) if d.mesh else None,
            # Envoy's connection pool to the API (DestinationRule): every open stream holds a connection, so
            # each gateway pod may open twice its share of the simulated peak (never below Istio's 1,024)
            istio_max_connections=max(1024, 2 * -(-d.peak_streams // max(1, pods["librechat-gateway-istio"].replicas_min)))
            if "librechat-gateway-istio" in pods else 1024,
            mongo_member=_pod_spec(shard, "mongodb-shard") if shard is not None else None,
            mongo_config_server=_pod_spec(pods["mongodb-configsvr"]) if "mongodb-configsvr" in pods else None,
            mongos=_pod_spec(pods["mongos"]) if "mongos" in pods else None,
            exporters=tuple(_pod_spec(p) for p in d.pods if p.rendered.startswith("k8s/exporters.yaml")),
            cluster_autoscaler=_pod_spec(pods["cluster-autoscaler"]) if "cluster-autoscaler" in pods else None,
            services=tuple(_pod_spec(p) for p in d.pods
                           if p.rendered.startswith("k8s/services.yaml")),
        )
    else:
        values.update(
            compose_services=tuple(_pod_spec(p, "api" if p.name == STREAM_POD else None) for p in d.pods),
            host_instance_type=main.instance_type,
        )
    return values


def context_from_deploy(deploy: dict, **overrides: Any) -> RenderContext:
    """A :class:`RenderContext` for the deploy block's deployment (``overrides`` replace single fields).

    Bad or missing input raises :class:`CapplanError` (structure: missing keys, a malformed deployment,
    zone count) or pydantic's ``ValidationError`` naming the context field (inconsistent numbers).
    """
    deployment = deployment_of(deploy)
    missing = [key for key in _TIMINGS if deploy.get(key) is None]
    if missing:
        raise CapplanError(f"lacks {', '.join(missing)}", field="deploy")
    values: dict[str, Any] = {key: deploy[key] for key in _COPIED if deploy.get(key) is not None}
    values.update(deployment_fields(deployment))
    values.update(overrides)
    return RenderContext(**values)


# --- deploy block -> files ------------------------------------------------------------------------------
def plan_targets(deploy: dict) -> dict[str, str | None]:
    """Every target -> None if it applies to this plan, else why not."""
    deployment = deployment_of(deploy)
    why: dict[str, str | None] = dict.fromkeys(TARGETS)
    if deployment.platform == "compose":
        for target in KUBERNETES_TARGETS:
            why[target] = f"tier {deployment.tier} runs on one Docker host (compose), not Kubernetes"
    else:
        why["compose"] = (f"tier {deployment.tier} is billed as a Kubernetes cluster; a compose file would describe"
                          " another deployment")
    return why


def _chosen_targets(deploy: dict, targets: Iterable[str] | None) -> list[str]:
    why = plan_targets(deploy)
    applicable = [t for t in TARGETS if why[t] is None]
    if targets is None or (not isinstance(targets, str) and set(targets) == set(TARGETS)):
        # "all targets" means every target this plan can use
        if not applicable:
            raise CapplanError("no target applies: " + "; ".join(f"{t}: {w}" for t, w in why.items()),
                               field="--target")
        return applicable
    chosen = [targets] if isinstance(targets, str) else list(dict.fromkeys(targets))
    unknown = [t for t in chosen if t not in why]
    if unknown:
        raise CapplanError(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}", field="--target")
    refused = [f"{t}: {why[t]}" for t in chosen if why[t] is not None]
    if refused:
        raise CapplanError("; ".join(refused) + f" (targets for this plan: {', '.join(applicable) or 'none'})",
                           field="--target")
    return chosen


def render_plan(deploy: dict, targets: Iterable[str] | None = None, **overrides: Any) -> dict[str, str]:
    """Render ``targets`` for the deploy block and lint them: relative path -> text.

    ``targets`` None (or every target) renders all targets that apply to the plan (see
    :func:`plan_targets`); naming one that does not apply is an error. Lint issues raise one
    :class:`CapplanError` listing them as ``path: rule: message; ...``.
    """
    ctx = context_from_deploy(deploy, **overrides)
    chosen = _chosen_targets(deploy, targets)
    files = render(ctx, chosen)
    issues = lint(files, ctx)
    if issues:
        listed = "; ".join(f"{i.path}: {i.rule}: {i.message}" for i in issues)
        raise CapplanError(" ".join(f"rendered files fail capplan lint: {listed}".split()), field="render")
    return files
