"""One plan: the planner's deployment is what the bill prices and what the files describe.

Recommendations are computed once per module for every tier at 300, 3,000 and 30,000 users on all
three providers. For each (tier, provider, users) the planner could serve, the bill and the rendered
files are compared both ways (every bill line names a resource that is in the files or is declared
managed; every billable thing in the files has a bill line), every rendered workload is packed again
FROM THE FILES onto the rendered node groups at minimum and maximum replicas, and every file goes
through the real validators.
"""

from __future__ import annotations

import copy
import datetime
import re
from pathlib import Path
from typing import Any

import pydantic
import pytest
import yaml

from capplan.cost.prices import load_price_book
from capplan.deploy import MANAGED
from capplan.deploy import platform as plat
from capplan.deploy.packing import PodShape, nodes_needed
from capplan.errors import CapplanError
from capplan.render import TARGETS, lint
from capplan.render import plan as plan_module
from capplan.render.lint import parse_quantity
from capplan.render.plan import context_from_deploy, instance_type, load_deploy, plan_targets, render_plan, zone_names
from validators import (
    COMPOSE_SECRETS_ENV,
    cluster_locator_exists,
    compose_config_errors,
    compose_schema_errors,
    draft7_errors,
    manifest_errors,
    nginx_errors,
    promtool_errors,
    rendered_node_groups,
    require_shared_schema,
    write_tree,
    yaml_docs,
)

PROVIDERS = ("aws", "gcp", "azure")
TIERS = ("current", "tier1", "tier2", "tier3", "microservices")
USERS = (300, 3000, 30000)
TODAY = datetime.date(2026, 11, 27)
COMPOSE_NAMES = {"api": "librechat", "meilisearch": "librechat-meilisearch"}   # compose service -> pod
CASES = [f"{tier}-{provider}-{users}" for tier in TIERS for users in USERS for provider in PROVIDERS]


def _settings():
    from capplan.forecast import RunSettings

    return RunSettings(duration=120, warmup=30, replications=2, seed=1, workers=2)


@pytest.fixture(scope="module")
def recommendations() -> dict:
    """(tier, users) -> Recommendation over all three providers, computed once."""
    from capplan.model.loader import load_tier, load_workload
    from capplan.planner import SLO, recommend

    workload = load_workload()
    return {(tier, users): recommend([load_tier(tier)], workload, users, list(PROVIDERS), SLO(),
                                     settings=_settings(), today=TODAY)
            for tier in TIERS for users in USERS}


@pytest.fixture(scope="module")
def plans(recommendations: dict) -> dict[str, tuple[dict, object, dict[str, str], object]]:
    """case -> (deploy block, RenderContext, every file render_plan produces, the option); only the
    cases the planner can serve."""
    out = {}
    for case in CASES:
        tier, provider, users = case.rsplit("-", 2)
        option = recommendations[(tier, int(users))].best_on(provider)
        if option is None:
            continue
        deploy = option.deploy
        out[case] = (deploy, context_from_deploy(deploy), render_plan(deploy), option)
    return out


def _case(plans: dict, case: str):
    if case not in plans:
        pytest.skip(f"{case}: the planner cannot serve it (see test_unserved_cases_are_explained)")
    deploy, ctx, files, option = plans[case]
    return copy.deepcopy(deploy), ctx, dict(files), option


def _docs(files: dict[str, str], prefix: str = "k8s/") -> list[tuple[str, dict]]:
    return [(path, doc) for path, text in sorted(files.items()) if path.startswith(prefix)
            for doc in yaml_docs(text) if isinstance(doc, dict)]


def _by_kind(files: dict[str, str], path: str, kind: str | None = None) -> dict:
    docs = [d for d in yaml_docs(files[path]) if isinstance(d, dict) and (kind is None or d.get("kind") == kind)]
    assert len(docs) == 1, (path, kind)
    return docs[0]


# --- which cases exist ------------------------------------------------------------------------------------
def test_unserved_cases_are_explained(recommendations: dict, plans: dict) -> None:
    for (tier, users), rec in recommendations.items():
        for provider in PROVIDERS:
            if f"{tier}-{provider}-{users}" not in plans:
                (plan,) = rec.plans
                assert not plan.feasible or any(h.startswith(f"{provider}:") for h in plan.history), (tier, users)
    # every Kubernetes tier serves every user count on every provider
    for tier in ("tier2", "tier3", "microservices"):
        assert all(f"{tier}-{p}-{u}" in plans for p in PROVIDERS for u in USERS)
    assert all(f"tier1-{p}-{u}" in plans for p in PROVIDERS for u in (300, 3000))


# --- the bill pays for what is rendered, and nothing else ------------------------------------------------------
def _locator_exists(files: dict[str, str], provider: str, resource: str) -> bool:
    path, _, fragment = resource.partition("#")
    if path not in files:
        return False
    if path.startswith("cluster/"):
        return cluster_locator_exists(files, provider, resource)
    if path == "compose/docker-compose.yml":
        doc = yaml.safe_load(files[path])
        if fragment == "host":
            return bool(doc.get("services"))
        section, _, name = fragment.partition("/")
        return section in ("services", "volumes") and name in (doc.get(section) or {})
    if path == "istio/istiod-values.yaml":
        return fragment in (yaml.safe_load(files[path]) or {})
    kind, _, name = fragment.partition("/")
    return any(d.get("kind") == kind and (d.get("metadata") or {}).get("name") == name
               for d in yaml_docs(files[path]) if isinstance(d, dict))


@pytest.mark.parametrize("case", CASES)
def test_every_bill_line_pays_for_a_rendered_or_declared_managed_resource(plans: dict, case: str) -> None:
    deploy, ctx, files, option = _case(plans, case)
    for line in option.bill.lines:
        assert line.resource, line.component
        if line.resource.startswith(MANAGED):
            continue
        assert _locator_exists(files, ctx.provider, line.resource), (line.component, line.resource)
    # what is declared managed is really outside the files: no MongoDB/Redis workload rendered for it
    d = option.deployment
    kinds = {(doc.get("kind"), doc["metadata"]["name"]) for _, doc in _docs(files)}
    compose = yaml.safe_load(files["compose/docker-compose.yml"])["services"] if not ctx.kubernetes else {}
    if d.mongo_mode == "managed":
        mongod = re.compile(r"^(mongodb-shard|mongodb-configsvr|mongos$|mongodb-\d+$)")
        assert not any(mongod.match(n) for _, n in kinds) and not any(mongod.match(n) for n in compose)
    if d.redis_mode == "managed":
        assert "redis" not in compose


@pytest.mark.parametrize("case", CASES)
def test_everything_billable_in_the_files_has_a_bill_line(plans: dict, case: str) -> None:
    deploy, ctx, files, option = _case(plans, case)
    billed = {line.resource for line in option.bill.lines}
    if ctx.kubernetes:
        cluster_file = next(p for p in files if p.startswith("cluster/") and "nat" not in p and "nodepool" not in p)
        for group in rendered_node_groups(files, ctx.provider):
            assert any(r.endswith(f"#nodegroup/{group['name']}") for r in billed), group
        for nat in ("cluster/gke-nat-flags.yaml#nat", f"{cluster_file}#nat"):
            if _locator_exists(files, ctx.provider, nat):
                assert nat in billed
        assert f"{cluster_file}#cluster" in billed
        for path, doc in _docs(files):
            name = doc["metadata"]["name"]
            if doc["kind"] == "StatefulSet" and doc["spec"].get("volumeClaimTemplates"):
                assert f"{path}#StatefulSet/{name}" in billed, name       # its persistent volumes
            if doc["kind"] == "Gateway":
                assert f"{path}#Gateway/{name}" in billed                 # the load balancer it provisions
            if doc["kind"] == "Service":
                assert doc["spec"].get("type", "ClusterIP") != "LoadBalancer", name   # only the Gateway's is
    else:
        compose = yaml.safe_load(files["compose/docker-compose.yml"])
        assert "compose/docker-compose.yml#host" in billed
        for volume in compose.get("volumes") or {}:
            assert f"compose/docker-compose.yml#volumes/{volume}" in billed, volume
        components = {line.component for line in option.bill.lines}
        assert not components & {"load_balancer", "nat", "kubernetes"}      # neither rendered nor declared


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_workload_is_in_the_deployment(plans: dict, case: str) -> None:
    _, ctx, files, option = _case(plans, case)
    pods = {p.name for p in option.deployment.pods}
    if ctx.kubernetes:
        for _, doc in _docs(files):
            if doc["kind"] in ("Deployment", "StatefulSet"):
                assert doc["metadata"]["name"] in pods, doc["metadata"]["name"]
    else:
        for name in yaml.safe_load(files["compose/docker-compose.yml"])["services"]:
            assert COMPOSE_NAMES.get(name, name) in pods, name


# --- every rendered workload fits its rendered node group, at min and max ----------------------------------
def _row_for(provider: str, instance: str):
    row_id = {"aws": "ec2." + instance, "gcp": "gce." + instance,
              "azure": "vm." + instance.removeprefix("Standard_")}[provider]
    return load_price_book(provider).get(row_id)


def _mib(quantity: Any) -> int:
    return round(parse_quantity(str(quantity)) / 2**20)


def _milli(quantity: Any) -> int:
    return round(parse_quantity(str(quantity)) * 1000)


def _pod_requests(spec: dict) -> tuple[int, int]:
    def total(containers: list) -> tuple[int, int]:
        req = [(c.get("resources") or {}).get("requests") or {} for c in containers]
        return sum(_milli(r.get("cpu", 0)) for r in req), sum(_mib(r.get("memory", 0)) for r in req)

    cpu, mem = total(spec.get("containers") or [])
    for init in spec.get("initContainers") or []:   # the scheduler takes the larger of the two
        icpu, imem = total([init])
        cpu, mem = max(cpu, icpu), max(mem, imem)
    return cpu, mem


def rendered_pods(files: dict[str, str], ctx) -> list[tuple[str, str, PodShape, PodShape]]:
    """(node group, name, shape at min, shape at max) for every pod the files put on nodes, read from
    the files alone: Deployments and StatefulSets (HPA bounds, sidecars from the namespace label), the
    Istio gateway (its parameters ConfigMap) and istiod (its Helm values)."""
    docs = _docs(files)
    hpas = {d["spec"]["scaleTargetRef"]["name"]: d["spec"] for _, d in docs if d["kind"] == "HorizontalPodAutoscaler"}
    injected = {d["metadata"]["name"] for _, d in docs if d["kind"] == "Namespace"
                and (d["metadata"].get("labels") or {}).get("istio-injection") == "enabled"}
    values = yaml.safe_load(files["istio/istiod-values.yaml"]) or {}
    default_proxy = ((values.get("global") or {}).get("proxy") or {}).get("resources", {}).get("requests", {})
    out = []

    def add(group: str, name: str, low: int, high: int, cpu: int, mem: int, spread: bool, alone: bool) -> None:
        out.append((group, name, PodShape(name, low, cpu, mem, spread, alone), PodShape(name, high, cpu, mem, spread,
                                                                                     alone)))

    for _, doc in docs:
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        name, spec = doc["metadata"]["name"], doc["spec"]
        pod = spec["template"]["spec"]
        annotations = spec["template"].get("metadata", {}).get("annotations") or {}
        cpu, mem = _pod_requests(pod)
        if doc["metadata"].get("namespace") in injected and annotations.get("sidecar.istio.io/inject") != "false":
            cpu += _milli(annotations.get("sidecar.istio.io/proxyCPU", default_proxy.get("cpu", 0)))
            mem += _mib(annotations.get("sidecar.istio.io/proxyMemory", default_proxy.get("memory", 0)))
        hpa = hpas.get(name)
        low = hpa["minReplicas"] if hpa else spec.get("replicas", 1)
        high = hpa["maxReplicas"] if hpa else spec.get("replicas", 1)
        group = (pod.get("nodeSelector") or {}).get("capplan.io/node-group", "app")
        spread = any(c["topologyKey"] == "topology.kubernetes.io/zone" and c["whenUnsatisfiable"] == "DoNotSchedule"
                     for c in pod.get("topologySpreadConstraints") or [])
        anti = ((pod.get("affinity") or {}).get("podAntiAffinity") or {})
        alone = any(t.get("topologyKey") == "kubernetes.io/hostname"
                    for t in anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        add(group, name, low, high, cpu, mem, spread, alone)
    for _, doc in docs:
        if doc["kind"] == "ConfigMap" and "deployment" in (doc.get("data") or {}) and doc["metadata"]["name"].endswith(
                "-params"):
            patch = yaml.safe_load(doc["data"]["deployment"])["spec"]
            (proxy,) = patch["template"]["spec"]["containers"]
            hpa = yaml.safe_load(doc["data"].get("horizontalPodAutoscaler", "") or "null")
            low = hpa["spec"]["minReplicas"] if hpa else patch["replicas"]
            high = hpa["spec"]["maxReplicas"] if hpa else patch["replicas"]
            add("app", doc["metadata"]["name"], low, high, _milli(proxy["resources"]["requests"]["cpu"]),
                _mib(proxy["resources"]["requests"]["memory"]), False, False)
    pilot = values.get("pilot") or {}
    if pilot.get("resources"):
        requests = pilot["resources"]["requests"]
        high = pilot["autoscaleMax"] if pilot.get("autoscaleEnabled") else pilot["replicaCount"]
        add("app", "istiod", pilot["replicaCount"], high, _milli(requests["cpu"]), _mib(requests["memory"]), False,
            False)
    for system in plat.system_pods(ctx.provider):            # the provider's own kube-system pods
        add("app", system.name, system.replicas, system.replicas, system.cpu_m, system.memory_mib, False, False)
    return out


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_every_rendered_workload_fits_its_node_group_at_min_and_max(plans: dict, case: str) -> None:
    _, ctx, files, _ = _case(plans, case)
    groups = {g["name"]: g for g in rendered_node_groups(files, ctx.provider)}
    pods = rendered_pods(files, ctx)
    assert {group for group, *_ in pods} <= set(groups)
    assert any(name == "librechat" for _, name, _, _ in pods)
    for name, group in groups.items():
        free = plat.schedulable(ctx.provider, _row_for(ctx.provider, group["instance_type"]))
        mine = [(low, high) for g, _, low, high in pods if g == name]
        for index, nodes in ((0, group["min_nodes"]), (1, group["max_nodes"])):
            shapes = [pair[index] for pair in mine]
            # a bound no scheduler can beat, independent of the packing order ...
            assert sum(s.count * s.cpu_m for s in shapes) <= nodes * free.cpu_m, (name, index)
            assert sum(s.count * s.memory_mib for s in shapes) <= nodes * free.memory_mib, (name, index)
            # ... and a placement that respects zones, one-per-node members and pod slots
            assert nodes_needed(shapes, free, len(ctx.zones)) <= nodes, (name, index)


# --- the planner's outputs render, lint clean and pass the real validators ------------------------------
@pytest.mark.parametrize("case", CASES)
def test_targets_follow_the_plan(plans: dict, case: str) -> None:
    _, ctx, files, option = _case(plans, case)
    assert lint(files, ctx) == []
    tops = {path.split("/")[0] for path in files}
    if option.deployment.platform == "kubernetes":
        assert tops == set(TARGETS) - {"compose"} and ctx.kubernetes
    else:
        assert tops == {"compose"} and not ctx.kubernetes
    assert all(text.startswith("# Generated by capplan") for text in files.values())


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_k8s_manifests_pass_kubernetes_validate_and_the_gateway_api_schemas(plans: dict, case: str) -> None:
    _, ctx, files, _ = _case(plans, case)
    docs = _docs(files)
    kinds = {d["kind"] for _, d in docs}
    assert {"Gateway", "HTTPRoute", "Deployment", "HorizontalPodAutoscaler"} <= kinds
    errors = [f"{path}: {e}" for path, doc in docs for e in manifest_errors(doc, ctx.kubernetes_version)]
    assert errors == []


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith(("current", "tier1"))])
def test_compose_passes_the_schema_compose_v2_and_nginx(plans: dict, case: str, tmp_path: Path) -> None:
    _, _, files, _ = _case(plans, case)
    assert compose_schema_errors(yaml.safe_load(files["compose/docker-compose.yml"])) == []
    write_tree({p: t for p, t in files.items() if p.startswith("compose/")}, tmp_path)
    assert compose_config_errors(tmp_path / "compose" / "docker-compose.yml", COMPOSE_SECRETS_ENV) == []
    assert nginx_errors(files["compose/nginx.conf"], tmp_path) == []


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_prometheus_rules_pass_promtool(plans: dict, case: str, tmp_path: Path) -> None:
    _, _, files, _ = _case(plans, case)
    write_tree({p: t for p, t in files.items() if p.startswith("prometheus/")}, tmp_path)
    folder = tmp_path / "prometheus"
    assert promtool_errors("check", "rules", "alerts.yml", cwd=folder) == []
    assert promtool_errors("test", "rules", "alerts.test.yml", cwd=folder) == []


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_istio_and_cluster_definitions_pass_their_schemas(plans: dict, case: str) -> None:
    _, ctx, files, option = _case(plans, case)
    rule = _by_kind(files, "istio/destinationrule.yaml")   # the gateway's pool to the API, mesh or not
    assert draft7_errors(require_shared_schema("destinationrule_v1.json"), rule) == []
    pool = rule["spec"]["trafficPolicy"]["connectionPool"]
    gateways = option.deployment.pod("librechat-gateway-istio").replicas_min
    assert pool["tcp"]["maxConnections"] * gateways >= option.deployment.peak_streams   # streams never wait on it
    if ctx.provider == "aws":
        assert draft7_errors(require_shared_schema("eksctl-schema.json"), _by_kind(files, "cluster/eksctl.yaml")) == []


# --- the numbers flow from the deployment into the files ----------------------------------------------
@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_kubernetes_numbers_come_from_the_deployment(plans: dict, case: str) -> None:
    deploy, _, files, option = _case(plans, case)
    api = option.deployment.pod("librechat")
    deployment = _by_kind(files, "k8s/deployment.yaml", "Deployment")
    assert deployment["spec"]["replicas"] == api.replicas_min
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "api")
    res = container["resources"]
    assert _milli(res["requests"]["cpu"]) == api.cpu_request_m and _milli(res["limits"]["cpu"]) == api.cpu_limit_m
    assert _mib(res["requests"]["memory"]) == _mib(res["limits"]["memory"]) == api.memory_limit_mib >= 2048
    hpa = _by_kind(files, "k8s/hpa.yaml")["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (api.replicas_min, api.replicas_max)
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]        # memory scaling is opt-in
    config = _by_kind(files, "k8s/configmap.yaml")["data"]
    assert config["MONGO_MAX_POOL_SIZE"] == str(deploy["mongo_max_pool_size"])
    heap = int(config["NODE_OPTIONS"].split("=")[1])
    assert heap == int(api.memory_limit_mib * 0.75)
    assert config["SEARCH"] == ("true" if option.deployment.search else "false")
    routes = [d for d in yaml_docs(files["k8s/gateway.yaml"]) if isinstance(d, dict) and d.get("kind") == "HTTPRoute"]
    timeouts = [rule.get("timeouts", {}).get("request") for route in routes for rule in route["spec"]["rules"]]
    assert f"{deploy['proxy_read_timeout_s']}s" in timeouts
    assert deploy["proxy_read_timeout_s"] > deploy["longest_stream_s"]


@pytest.mark.parametrize("case", [c for c in CASES if not c.startswith(("current", "tier1"))])
def test_cluster_node_groups_are_the_deployments(plans: dict, case: str) -> None:
    _, ctx, files, option = _case(plans, case)
    rendered = {g["name"]: g for g in rendered_node_groups(files, ctx.provider)}
    for group in option.deployment.node_groups:
        r = rendered[group.name]
        assert (r["instance_type"], r["min_nodes"], r["max_nodes"]) == (group.instance_type, group.nodes_min,
                                                                         group.nodes_max)
    assert set(rendered) == {g.name for g in option.deployment.node_groups}


@pytest.mark.parametrize("case", [c for c in CASES if c.startswith(("current", "tier1"))])
def test_compose_numbers_come_from_the_deployment(plans: dict, case: str) -> None:
    deploy, _, files, option = _case(plans, case)
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    for pod in option.deployment.pods:
        service = compose["services"][{v: k for k, v in COMPOSE_NAMES.items()}.get(pod.name, pod.name)]
        limits = service["deploy"]["resources"]["limits"]
        assert float(limits["cpus"]) == pod.cpu_limit_m / 1000
        assert limits["memory"] == f"{pod.memory_limit_mib}M"
    assert compose["services"]["api"]["deploy"]["replicas"] == option.deployment.pod("librechat").replicas_min
    nginx = files["compose/nginx.conf"]
    assert re.findall(r"(?m)^\s*proxy_read_timeout (\d+)s;", nginx) == [str(deploy["proxy_read_timeout_s"])]
    assert "ssl_protocols TLSv1.3;" in nginx


# --- edge cases of real plans ---------------------------------------------------------------------------
def test_microservices_render_every_service_they_bill(plans: dict) -> None:
    _, ctx, files, option = _case(plans, "microservices-aws-3000")
    others = [p for p in option.deployment.pods if p.rendered.startswith("k8s/services.yaml")]
    assert len(others) >= 3
    names = {d["metadata"]["name"] for d in yaml_docs(files["k8s/services.yaml"]) if d and d["kind"] == "Deployment"}
    assert names == {p.name for p in others}
    api = _by_kind(files, "k8s/deployment.yaml", "Deployment")
    selector = api["spec"]["selector"]["matchLabels"]
    for doc in yaml_docs(files["k8s/services.yaml"]):
        if doc and doc["kind"] == "Deployment":   # the API's selector must not pick up another service's pods
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert not all(labels.get(k) == v for k, v in selector.items())


def test_compose_plan_refuses_kubernetes_targets_and_kubernetes_plan_refuses_compose(plans: dict) -> None:
    deploy, ctx, _, _ = _case(plans, "tier1-aws-300")
    assert ctx.zones == ("us-east-1a",) and ctx.hpa_min_replicas == ctx.hpa_max_replicas == ctx.replicas
    assert set(render_plan(deploy, list(TARGETS))) == {"compose/docker-compose.yml", "compose/nginx.conf"}
    for target in ("k8s", "istio", "cluster", "prometheus"):
        with pytest.raises(CapplanError, match=rf"target: {target}: tier tier1 runs on one Docker host"):
            render_plan(deploy, ["compose", target])
    assert plan_targets(deploy)["compose"] is None
    deploy, _, _, _ = _case(plans, "tier2-aws-3000")
    with pytest.raises(CapplanError, match="target: compose: tier tier2 is billed as a Kubernetes cluster"):
        render_plan(deploy, ["compose"])


def test_overrides_replace_single_fields(plans: dict) -> None:
    deploy, _, _, _ = _case(plans, "tier2-aws-3000")
    ctx = context_from_deploy(deploy, hostname="chat.acme.org", zones=("us-east-1a", "us-east-1d", "us-east-1f"))
    assert ctx.hostname == "chat.acme.org" and ctx.zones[1] == "us-east-1d"
    files = render_plan(deploy, ["k8s"], hostname="chat.acme.org")
    assert "chat.acme.org" in files["k8s/gateway.yaml"]
    with pytest.raises(pydantic.ValidationError, match="surprise"):
        context_from_deploy(deploy, surprise=1)


def test_a_saved_recommendation_round_trips(plans: dict, tmp_path: Path) -> None:
    import json

    deploy, _, files, _ = _case(plans, "tier3-gcp-3000")
    path = tmp_path / "rec.json"
    path.write_text(json.dumps({"chosen": {"deploy": deploy}}), encoding="utf-8")
    assert render_plan(load_deploy(path)) == files


# --- mapping helpers --------------------------------------------------------------------------------------
@pytest.mark.parametrize("provider,row,expected", [
    ("aws", "ec2.m6i.large", "m6i.large"),
    ("gcp", "gce.e2-standard-2", "e2-standard-2"),
    ("azure", "vm.D2s_v5", "Standard_D2s_v5"),
])
def test_instance_rows_map_to_the_provider_type_names(provider: str, row: str, expected: str) -> None:
    assert instance_type(provider, row) == expected


def test_zone_names() -> None:
    assert zone_names("aws", "us-east-1", 3) == ("us-east-1a", "us-east-1b", "us-east-1c")
    assert zone_names("gcp", "us-central1", 2) == ("us-central1-a", "us-central1-b")
    assert zone_names("gcp", "us-east1", 3) == ("us-east1-b", "us-east1-c", "us-east1-d")
    assert zone_names("azure", "eastus", 3) == ("1", "2", "3")
    for bad in (0, 4, "3", None):
        with pytest.raises(CapplanError, match="zones"):
            zone_names("aws", "us-east-1", bad)


# --- bad deploy blocks --------------------------------------------------------------------------------------
def test_missing_parts_are_named(plans: dict) -> None:
    deploy, _, _, _ = _case(plans, "tier2-aws-3000")
    for key in ("proxy_read_timeout_s", "longest_stream_s"):
        broken = {k: v for k, v in deploy.items() if k != key}
        with pytest.raises(CapplanError, match=f"deploy: lacks {key}"):
            context_from_deploy(broken)
    with pytest.raises(CapplanError, match="deploy.deployment: lacks the deployment"):
        context_from_deploy({k: v for k, v in deploy.items() if k != "deployment"})
    broken = copy.deepcopy(deploy)
    broken["deployment"]["pods"] = [p for p in broken["deployment"]["pods"] if p["name"] != "librechat"]
    with pytest.raises(CapplanError, match="no 'librechat' pod"):
        context_from_deploy(broken)
    broken = copy.deepcopy(deploy)
    broken["deployment"]["zones"] = "three"
    with pytest.raises(CapplanError, match="deploy.deployment.zones"):
        context_from_deploy(broken)
    with pytest.raises(CapplanError, match="deploy: must be an object"):
        render_plan(["not", "a", "block"])  # type: ignore[arg-type]


def test_an_older_deploy_block_asks_for_a_new_recommendation(tmp_path: Path) -> None:
    import json

    path = tmp_path / "old.json"
    path.write_text(json.dumps({"tier": "tier2", "provider": "aws", "services": []}), encoding="utf-8")
    with pytest.raises(CapplanError, match="older capplan"):
        load_deploy(path)


def test_inconsistent_numbers_fail_validation_naming_the_field(plans: dict) -> None:
    deploy, _, _, _ = _case(plans, "tier2-aws-3000")
    deploy["proxy_read_timeout_s"] = max(1, int(deploy["longest_stream_s"]) // 2)  # below the longest stream
    with pytest.raises(pydantic.ValidationError, match="proxy_read_timeout_s"):
        context_from_deploy(deploy)


def test_lint_issues_are_one_capplan_error(plans: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    deploy, _, _, _ = _case(plans, "tier1-aws-3000")
    real = plan_module.render

    def tampered(ctx, targets):
        files = real(ctx, targets)
        files["compose/nginx.conf"] = files["compose/nginx.conf"].replace("proxy_buffering off;", "")
        return files

    monkeypatch.setattr(plan_module, "render", tampered)
    with pytest.raises(CapplanError) as excinfo:
        render_plan(deploy, ["compose"])
    assert "rendered files fail capplan lint" in str(excinfo.value)
