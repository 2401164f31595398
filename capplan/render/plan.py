"""From the planner's ``deploy`` block to validated, linted files.

``capplan recommend --json`` (and ``capplan check --format json``) print option dicts whose
``deploy`` block holds every number the renderer needs (see :func:`capplan.planner.deploy_block`)::

    deploy = load_deploy(Path("recommendation.json"))   # chosen.deploy, an option's deploy, or a bare block
    ctx = context_from_deploy(deploy, hostname="chat.acme.org")
    files = render_plan(deploy)                          # {relative path: text}; lint-clean or CapplanError

How the block maps onto :class:`~capplan.render.context.RenderContext`:

- ``services``: the templates describe one LibreChat API Deployment, so its replicas, HPA bounds and
  container resources come from the service that holds the SSE streams: ``api`` (monolith tiers) or
  ``chat`` (the microservices tier). The other microservices (auth, agent, files, model) are sized
  and priced by the planner but **not rendered**; their Deployments are not part of the templates.
- ``node_instance_row`` is a price-book row id; the provider's instance type name follows the books'
  id convention: ``ec2.<type>`` (AWS), ``gce.<machine type>`` (GCP), ``vm.<size>`` -> ``Standard_<size>``
  (Azure). The row must be an instance row of the bundled price book.
- ``zones`` is a count; names follow the region (``us-east-1a``, ``us-central1-a``, Azure ``"1"``), at
  most three; override ``zones=`` for regions whose zones are named otherwise.
- ``kubernetes: false`` (the Docker Compose tiers) renders only ``compose``: the other targets are
  Kubernetes manifests, a cluster definition, and alerts on Kubernetes metrics, none of which the plan
  (priced as plain VMs) uses. Compose has no autoscaler, so the HPA bounds are pinned to ``replicas``.
- ``compose`` runs one MongoDB replica set and one Redis, so it does not apply to a plan with
  ``mongo_shards`` > 1 or ``redis_nodes`` > 1.
- ``hpa_min_replicas`` 1 gives a PDB with ``minAvailable: 0``: it never blocks a drain (capplan lint's
  rule: minAvailable below minReplicas) and, like no PDB at all, it is Kubernetes' advice for a single
  stateless instance; the rendered file says so.
- ``mongo_shards``, ``redis_nodes`` and ``users`` beyond the header are not printed by any template.

Everything else (keep-alive = LB idle timeout + 5 s, API route timeout, probes, ports, images...) is a
documented default of :class:`RenderContext`; ``overrides`` replace single fields.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

import yaml

from capplan.errors import CapplanError
from capplan.render.context import RenderContext
from capplan.render.engine import TARGETS, render
from capplan.render.lint import lint

#: Targets that only make sense on Kubernetes (manifests, cluster definition, alerts on kube metrics).
KUBERNETES_TARGETS: tuple[str, ...] = ("k8s", "istio", "cluster", "prometheus")

#: Service whose numbers drive the API Deployment, in order of preference.
STREAM_SERVICES: tuple[str, ...] = ("api", "chat")

# Price-book id prefix -> (prefix of the provider's own type name); see pricing/<provider>.yaml.
_INSTANCE_ID = {"aws": ("ec2.", ""), "gcp": ("gce.", ""), "azure": ("vm.", "Standard_")}
# Zone suffixes per region; most regions name their first three zones a, b, c.
_ZONE_SUFFIXES_DEFAULT = {"aws": ("a", "b", "c"), "gcp": ("a", "b", "c"), "azure": ("1", "2", "3")}
_ZONE_SUFFIXES = {
    ("gcp", "us-east1"): ("b", "c", "d"),
    ("gcp", "europe-west1"): ("b", "c", "d"),
    ("aws", "ap-northeast-1"): ("a", "c", "d"),
}
_REQUIRED = ("tier", "provider", "region", "users", "services", "mongo_max_pool_size", "redis_enabled",
             "queue_workers", "longest_stream_s", "proxy_read_timeout_s", "node_instance_row", "node_count_min",
             "node_count_max", "zones")
# deploy key -> RenderContext field, copied when present and not null (else the context default).
_COPIED = ("tier", "provider", "region", "users", "mongo_max_pool_size", "mongo_members", "redis_enabled",
           "queue_workers", "longest_stream_s", "proxy_read_timeout_s", "lb_idle_timeout_s", "node_count_min",
           "node_count_max", "p95_latency_slo_s", "kubernetes")
_SERVICE_KEYS = ("replicas", "hpa_min_replicas", "hpa_max_replicas", "cpu_request_millicores",
                 "cpu_limit_millicores", "memory_request_mib", "memory_limit_mib")


# --- reading a saved plan ------------------------------------------------------------------------------
def load_deploy(path: Path) -> dict:
    """The deploy block of a saved ``recommend --json`` / ``check --format json`` output (``chosen.deploy``),
    of one option dict (``deploy``), or a bare deploy block; JSON or YAML.

    A missing or unreadable file, malformed JSON/YAML, or no deploy block raise a one-line
    :class:`CapplanError` naming the file.
    """
    path = Path(path)
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CapplanError("no such file", field=name) from None
    except IsADirectoryError:
        raise CapplanError("is a directory, not a saved plan", field=name) from None
    except UnicodeDecodeError:
        raise CapplanError("is not UTF-8 text", field=name) from None
    except OSError as exc:
        raise CapplanError(f"cannot read: {exc.strerror or exc}", field=name) from None
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
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CapplanError(f"malformed YAML{where}: {problem}", field=name) from None


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
    if all(key in doc for key in ("tier", "provider", "services")):
        return doc
    raise CapplanError("no deploy block: expected chosen.deploy (recommend --json, check --format json),"
                       " an option's deploy, or a bare deploy block (tier, provider, services, ...)", field=name)


# --- deploy block -> RenderContext ------------------------------------------------------------------------
def stream_service(deploy: dict) -> dict:
    """The service entry whose numbers drive the API Deployment/HPA/PDB (``api``, else ``chat``)."""
    services = deploy.get("services")
    if not isinstance(services, list) or not services or not all(isinstance(s, dict) for s in services):
        raise CapplanError("must be a non-empty list of service objects", field="deploy.services")
    by_name = {s.get("name"): s for s in services}
    for name in STREAM_SERVICES:
        if name in by_name:
            service = by_name[name]
            missing = [key for key in _SERVICE_KEYS if service.get(key) is None]
            if missing:
                raise CapplanError(f"service {name!r} lacks {', '.join(missing)}", field="deploy.services")
            return service
    found = ", ".join(repr(n) for n in by_name)
    raise CapplanError(f"no service holding the streams ({' or '.join(STREAM_SERVICES)}); found {found}",
                       field="deploy.services")


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
        raise CapplanError(f"row {row!r} is a {priced.category or 'non-instance'} row, not an instance type",
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


def context_from_deploy(deploy: dict, **overrides: Any) -> RenderContext:
    """A :class:`RenderContext` carrying the deploy block's numbers (``overrides`` replace single fields).

    Bad or missing input raises :class:`CapplanError` (structure: missing keys, unknown instance row,
    zone count) or pydantic's ``ValidationError`` naming the context field (inconsistent numbers).
    """
    if not isinstance(deploy, dict):
        raise CapplanError(f"must be an object, got {type(deploy).__name__}", field="deploy")
    missing = [key for key in _REQUIRED if deploy.get(key) is None]
    if missing:
        raise CapplanError(f"lacks {', '.join(missing)}", field="deploy")
    values: dict[str, Any] = {key: deploy[key] for key in _COPIED if deploy.get(key) is not None}
    service = stream_service(deploy)
    values.update({key: service[key] for key in _SERVICE_KEYS})
    if not values.get("kubernetes", True):
        # Docker Compose has no autoscaler: the API runs exactly `replicas` containers.
        values["hpa_min_replicas"] = values["hpa_max_replicas"] = values["replicas"]
    provider, region = str(deploy["provider"]), str(deploy["region"])
    if "node_instance_type" not in overrides:
        values["node_instance_type"] = instance_type(provider, deploy["node_instance_row"])
    if "zones" not in overrides:
        values["zones"] = zone_names(provider, region, deploy["zones"])
    values.update(overrides)
    return RenderContext(**values)


# --- deploy block -> files ------------------------------------------------------------------------------
def plan_targets(deploy: dict) -> dict[str, str | None]:
    """Every target -> None if it applies to this plan, else why not."""
    why: dict[str, str | None] = dict.fromkeys(TARGETS)
    if deploy.get("kubernetes") is False:
        for target in KUBERNETES_TARGETS:
            why[target] = f"tier {deploy.get('tier')} runs on Docker Compose (deploy.kubernetes is false)"
    shards, redis_nodes = deploy.get("mongo_shards") or 1, deploy.get("redis_nodes") or 0
    if isinstance(shards, int) and shards > 1:
        why["compose"] = f"compose runs one MongoDB replica set; the plan needs {shards} shards"
    elif isinstance(redis_nodes, int) and redis_nodes > 1:
        why["compose"] = f"compose runs one Redis; the plan needs {redis_nodes} Redis nodes"
    return why


def _chosen_targets(deploy: dict, targets: Iterable[str] | None) -> list[str]:
    why = plan_targets(deploy)
    applicable = [t for t in TARGETS if why[t] is None]
    if targets is None or (not isinstance(targets, str) and set(targets) == set(TARGETS)):
        # "all targets" means every target this plan can use
        if not applicable:
            raise CapplanError("no target applies: " + "; ".join(f"{t}: {w}" for t, w in why.items()),
                               field="target")
        return applicable
    chosen = [targets] if isinstance(targets, str) else list(dict.fromkeys(targets))
    unknown = [t for t in chosen if t not in why]
    if unknown:
        raise CapplanError(f"unknown target {unknown[0]!r}; choose from {', '.join(TARGETS)}", field="target")
    refused = [f"{t}: {why[t]}" for t in chosen if why[t] is not None]
    if refused:
        raise CapplanError("; ".join(refused) + f" (targets for this plan: {', '.join(applicable) or 'none'})",
                           field="target")
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
