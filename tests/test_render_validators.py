"""Every rendered file, for every example sizing and provider, passes a real external validator.

Which validator covers which file is listed in VALIDATED; a test fails when a template renders a
file nobody validates. Tools that are missing skip locally and fail on CI (see validators.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from capplan.render.engine import outputs
from validators import (
    COMPOSE_SECRETS_ENV,
    case_context,
    case_ids,
    compose_config_errors,
    compose_schema_errors,
    crossplane_errors,
    draft7_errors,
    manifest_errors,
    nginx_errors,
    promtool_errors,
    rendered,
    require_shared_schema,
    write_tree,
    yaml_docs,
)

CASES = case_ids()

#: rendered path -> what validates it (tests below); every rendered path must be listed.
VALIDATED = {
    "compose/docker-compose.yml": "compose-spec JSON schema + Compose v2 binary `config -q`",
    "compose/nginx.conf": "nginx -t (no [warn]) + crossplane",
    "k8s/configmap.yaml": "kubernetes-validate strict",
    "k8s/deployment.yaml": "kubernetes-validate strict",
    "k8s/hpa.yaml": "kubernetes-validate strict",
    "k8s/pdb.yaml": "kubernetes-validate strict",
    "k8s/service.yaml": "kubernetes-validate strict",
    "istio/telemetry.yaml": "YAML parse + tests/test_render_alerts.py (the route-class tag the p95 alert reads)",
    "k8s/services.yaml": "kubernetes-validate strict (+ tests/test_render_plan.py selector test)",
    "k8s/cluster-autoscaler.yaml": "kubernetes-validate strict",
    "k8s/meilisearch.yaml": "kubernetes-validate strict (+ tests/test_render_data.py)",
    "k8s/mongodb.yaml": "kubernetes-validate strict + lint mongo-cache/mongo-keyfile (+ tests/test_render_data.py)",
    "k8s/namespace.yaml": "kubernetes-validate strict",
    "k8s/gateway.yaml": "Gateway API v1 Gateway/HTTPRoute CRD schemas, closed to unknown fields; its ConfigMap:"
                        " kubernetes-validate strict; capplan lint gateway (+ tests/test_render_gateway.py)",
    "istio/istiod-values.yaml": "YAML parse + capplan lint helm-values/sidecar/stream-retries (Helm values have no"
                                " schema; + tests/test_render_gateway.py)",
    "istio/destinationrule.yaml": "Istio DestinationRule v1 JSON schema",
    "cluster/eksctl.yaml": "eksctl ClusterConfig JSON schema",
    "cluster/gke-flags.yaml": "YAML parse + gcloud flag shape (no public schema) + `gcloud --flags-file` parse"
                              " (test_render_cluster.py, when gcloud is installed) + capplan lint",
    "cluster/gke-nodepool-data-flags.yaml": "as cluster/gke-flags.yaml (gcloud container node-pools create)",
    "cluster/gke-nat-flags.yaml": "as cluster/gke-flags.yaml (gcloud compute routers nats create)",
    "cluster/aks-managedcluster.yaml": "YAML parse + ASO ManagedCluster shape (no public schema)",
    "k8s/exporters.yaml": "kubernetes-validate strict (+ tests/test_render_alerts.py)",
    "prometheus/alerts.yml": "promtool check rules + lint alert-absent (+ tests/test_render_alerts.py)",
    "prometheus/alerts.test.yml": "promtool test rules (fires every alert; tests/test_render_alerts.py)",
}


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_file_has_a_validator(case: str) -> None:
    unvalidated = sorted(set(rendered(case)) - set(VALIDATED))
    assert not unvalidated, f"no validator for {unvalidated}"


@pytest.mark.parametrize("case", CASES)
def test_k8s_manifests_pass_kubernetes_validate_strict(case: str) -> None:
    ctx = case_context(case)
    files = {p: t for p, t in rendered(case).items() if p.startswith("k8s/")}
    assert sorted(files) == sorted(outputs("k8s", ctx))
    errors = []
    for path, text in files.items():
        docs = yaml_docs(text)
        assert docs, f"{path} is empty"
        for doc in docs:
            errors += [f"{path}: {e}" for e in manifest_errors(doc, ctx.kubernetes_version)]
    assert errors == []


@pytest.mark.parametrize("case", CASES)
def test_compose_file_passes_the_compose_spec_schema(case: str) -> None:
    doc = yaml.safe_load(rendered(case)["compose/docker-compose.yml"])
    assert compose_schema_errors(doc) == []


@pytest.mark.parametrize("case", CASES)
def test_compose_file_passes_compose_v2_config(case: str, tmp_path: Path) -> None:
    write_tree({p: t for p, t in rendered(case).items() if p.startswith("compose/")}, tmp_path)
    assert compose_config_errors(tmp_path / "compose" / "docker-compose.yml", COMPOSE_SECRETS_ENV) == []


def test_compose_v2_refuses_to_run_without_the_secrets(tmp_path: Path) -> None:
    write_tree({p: t for p, t in rendered(CASES[0]).items() if p.startswith("compose/")}, tmp_path)
    errors = compose_config_errors(tmp_path / "compose" / "docker-compose.yml", {})
    assert errors and "is missing a value" in errors[0]


@pytest.mark.parametrize("case", CASES)
def test_nginx_conf_passes_nginx_t_without_warnings(case: str, tmp_path: Path) -> None:
    assert nginx_errors(rendered(case)["compose/nginx.conf"], tmp_path) == []


@pytest.mark.parametrize("case", CASES)
def test_nginx_conf_passes_crossplane(case: str, tmp_path: Path) -> None:
    write_tree({"nginx.conf": rendered(case)["compose/nginx.conf"]}, tmp_path)
    assert crossplane_errors(tmp_path / "nginx.conf") == []


def test_nginx_check_reports_warnings(tmp_path: Path) -> None:
    text = rendered(CASES[0])["compose/nginx.conf"]
    server = text[text.index("    server {"):text.rindex("}")]
    twice = text[:text.rindex("}")] + server + "}\n"  # same listen + server_name twice: a [warn]
    errors = nginx_errors(twice, tmp_path)
    assert errors and any("[warn]" in e for e in errors)


@pytest.mark.parametrize("case", CASES)
def test_prometheus_rules_pass_promtool_check_and_unit_tests(case: str, tmp_path: Path) -> None:
    write_tree({p: t for p, t in rendered(case).items() if p.startswith("prometheus/")}, tmp_path)
    folder = tmp_path / "prometheus"
    assert promtool_errors("check", "rules", "alerts.yml", cwd=folder) == []
    assert promtool_errors("test", "rules", "alerts.test.yml", cwd=folder) == []


def test_promtool_unit_tests_catch_a_wrong_threshold(tmp_path: Path) -> None:
    files = {p: t for p, t in rendered(CASES[3]).items() if p.startswith("prometheus/")}
    files["prometheus/alerts.yml"] = files["prometheus/alerts.yml"].replace("> 0.01", "> 0.5")
    write_tree(files, tmp_path)
    assert promtool_errors("test", "rules", "alerts.test.yml", cwd=tmp_path / "prometheus") != []


@pytest.mark.parametrize("case", CASES)
def test_istio_resources_pass_the_istio_v1_schemas(case: str) -> None:
    files = rendered(case)
    doc = yaml.safe_load(files["istio/destinationrule.yaml"])   # the gateway applies it, mesh or not
    assert (doc["apiVersion"], doc["kind"]) == ("networking.istio.io/v1", "DestinationRule")
    assert draft7_errors(require_shared_schema("destinationrule_v1.json"), doc) == []
    values = yaml.safe_load(files["istio/istiod-values.yaml"])  # Helm values: no schema, capplan lint checks them
    assert isinstance(values, dict) and {"pilot", "meshConfig"} <= set(values)


def test_istio_schema_rejects_unknown_fields() -> None:
    doc = yaml.safe_load(rendered("tier2-aws")["istio/destinationrule.yaml"])
    doc["spec"]["trafficPolicy"]["outlierDetection"]["consecutiveErrorz"] = 3
    assert draft7_errors(require_shared_schema("destinationrule_v1.json"), doc) != []
    route = next(d for d in yaml_docs(rendered(CASES[0])["k8s/gateway.yaml"]) if d["kind"] == "HTTPRoute")
    route["spec"]["rules"][0]["retries"] = {"attempts": 0}  # a VirtualService field, not Gateway API
    assert manifest_errors(route, "1.33") != []


@pytest.mark.parametrize("case", [c for c in CASES if case_context(c).provider == "aws"])
def test_eksctl_cluster_config_passes_the_eksctl_schema(case: str) -> None:
    doc = yaml.safe_load(rendered(case)["cluster/eksctl.yaml"])
    assert draft7_errors(require_shared_schema("eksctl-schema.json"), doc) == []
    ctx = case_context(case)
    group = doc["managedNodeGroups"][0]
    assert (group["instanceType"], group["minSize"], group["maxSize"]) == (
        ctx.node_instance_type, ctx.node_count_min, ctx.node_count_max)


@pytest.mark.parametrize("case", [c for c in CASES if case_context(c).provider == "gcp"])
def test_gke_flags_file_has_the_gcloud_flags_file_shape(case: str) -> None:
    ctx = case_context(case)
    doc = yaml.safe_load(rendered(case)["cluster/gke-flags.yaml"])
    assert all(key.startswith("--") for key in doc)
    assert doc["--machine-type"] == ctx.node_instance_type
    assert doc["--node-locations"] == list(ctx.zones) and doc["--location"] == ctx.region
    assert doc["--enable-autoscaling"] is None  # a switch: no value in a flags file
    assert doc["--enable-private-nodes"] is None and doc["--enable-ip-alias"] is None
    assert doc["--node-labels"] == {"capplan.io/node-group": "app"}
    # --num-nodes / --min-nodes / --max-nodes count nodes per zone: the totals / zones, rounded up
    zones = len(ctx.zones)
    assert "--total-min-nodes" not in doc and "--total-max-nodes" not in doc
    assert doc["--num-nodes"] == doc["--min-nodes"] == -(-ctx.node_count_min // zones)
    assert doc["--max-nodes"] == -(-ctx.node_count_max // zones)
    assert doc["--max-nodes"] * zones >= ctx.node_count_max
    files = rendered(case)
    data = [g for g in ctx.node_groups if g.role == "data"]
    assert ("cluster/gke-nodepool-data-flags.yaml" in files) == bool(data)
    if data:
        pool = yaml.safe_load(files["cluster/gke-nodepool-data-flags.yaml"])
        assert all(key.startswith("--") for key in pool) and pool["--cluster"] == ctx.cluster_name
        assert (pool["--machine-type"], pool["--num-nodes"] * zones) == (data[0].instance_type, data[0].min_nodes)
        assert pool["--node-taints"] == {"capplan.io/node-group": "data:NoSchedule"}
    nat = yaml.safe_load(files["cluster/gke-nat-flags.yaml"])
    assert all(key.startswith("--") for key in nat) and nat["--region"] == ctx.region
    assert nat["--nat-all-subnet-ip-ranges"] is None and isinstance(nat["--min-ports-per-vm"], int)


@pytest.mark.parametrize("case", [c for c in CASES if case_context(c).provider == "azure"])
def test_aks_managed_cluster_has_the_aso_shape(case: str) -> None:
    ctx = case_context(case)
    doc = yaml.safe_load(rendered(case)["cluster/aks-managedcluster.yaml"])
    assert doc["apiVersion"].startswith("containerservice.azure.com/") and doc["kind"] == "ManagedCluster"
    pool = doc["spec"]["agentPoolProfiles"][0]
    assert (pool["vmSize"], pool["minCount"], pool["maxCount"]) == (
        ctx.node_instance_type, ctx.node_count_min, ctx.node_count_max)
    assert pool["availabilityZones"] == list(ctx.zones) and pool["mode"] == "System"
    assert pool["enableAutoScaling"] is True and pool["count"] == pool["minCount"]
    assert pool["nodeLabels"] == {"capplan.io/node-group": "app"} and "nodeTaints" not in pool
    pools = doc["spec"]["agentPoolProfiles"]
    assert [p["name"] for p in pools] == [g.name for g in ctx.node_groups]
    for extra, group in zip(pools[1:], ctx.node_groups[1:]):
        assert (extra["mode"], extra["vmSize"], extra["count"]) == ("User", group.instance_type, group.min_nodes)
        assert extra["nodeTaints"] == [f"capplan.io/node-group={group.name}:NoSchedule"]
    spec = doc["spec"]
    assert spec["sku"] == {"name": "Base", "tier": ctx.aks_tier}
    network = spec["networkProfile"]
    assert (network["networkPlugin"], network["networkPluginMode"], network["outboundType"]) == (
        "azure", "overlay", "managedNATGateway")
    assert network["natGatewayProfile"]["managedOutboundIPProfile"]["count"] == 1
