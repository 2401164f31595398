"""Every rendered file, for every example sizing and provider, passes a real external validator.

Which validator covers which file is listed in VALIDATED; a test fails when a template renders a
file nobody validates. Tools that are missing skip locally and fail on CI (see validators.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from validators import (
    COMPOSE_SECRETS_ENV,
    case_context,
    case_ids,
    compose_config_errors,
    compose_schema_errors,
    crossplane_errors,
    draft7_errors,
    k8s_errors,
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
    "istio/virtualservice.yaml": "Istio VirtualService v1 JSON schema",
    "istio/destinationrule.yaml": "Istio DestinationRule v1 JSON schema",
    "cluster/eksctl.yaml": "eksctl ClusterConfig JSON schema",
    "cluster/gke-flags.yaml": "YAML parse + gcloud flag shape (no public schema)",
    "cluster/aks-managedcluster.yaml": "YAML parse + ASO ManagedCluster shape (no public schema)",
    "prometheus/alerts.yml": "promtool check rules",
    "prometheus/alerts.test.yml": "promtool test rules",
}


@pytest.mark.parametrize("case", CASES)
def test_every_rendered_file_has_a_validator(case: str) -> None:
    unvalidated = sorted(set(rendered(case)) - set(VALIDATED))
    assert not unvalidated, f"no validator for {unvalidated}"


@pytest.mark.parametrize("case", CASES)
def test_k8s_manifests_pass_kubernetes_validate_strict(case: str) -> None:
    ctx = case_context(case)
    files = {p: t for p, t in rendered(case).items() if p.startswith("k8s/")}
    assert len(files) == 5
    errors = []
    for path, text in files.items():
        docs = yaml_docs(text)
        assert docs, f"{path} is empty"
        for doc in docs:
            errors += [f"{path}: {e}" for e in k8s_errors(doc, ctx.kubernetes_version)]
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
    for path, schema_name, kind in (("istio/virtualservice.yaml", "virtualservice_v1.json", "VirtualService"),
                                    ("istio/destinationrule.yaml", "destinationrule_v1.json", "DestinationRule")):
        doc = yaml.safe_load(files[path])
        assert (doc["apiVersion"], doc["kind"]) == ("networking.istio.io/v1", kind)
        assert draft7_errors(require_shared_schema(schema_name), doc) == [], path


def test_istio_schema_rejects_unknown_fields() -> None:
    doc = yaml.safe_load(rendered(CASES[0])["istio/virtualservice.yaml"])
    doc["spec"]["http"][0]["retries"]["tries"] = 3
    assert draft7_errors(require_shared_schema("virtualservice_v1.json"), doc) != []


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
    assert doc["--node-locations"] == list(ctx.zones)
    assert (doc["--total-min-nodes"], doc["--total-max-nodes"]) == (ctx.node_count_min, ctx.node_count_max)
    assert doc["--enable-autoscaling"] is None  # a switch: no value in a flags file
    assert doc["--num-nodes"] * len(ctx.zones) >= ctx.node_count_min


@pytest.mark.parametrize("case", [c for c in CASES if case_context(c).provider == "azure"])
def test_aks_managed_cluster_has_the_aso_shape(case: str) -> None:
    ctx = case_context(case)
    doc = yaml.safe_load(rendered(case)["cluster/aks-managedcluster.yaml"])
    assert doc["apiVersion"].startswith("containerservice.azure.com/") and doc["kind"] == "ManagedCluster"
    pool = doc["spec"]["agentPoolProfiles"][0]
    assert (pool["vmSize"], pool["minCount"], pool["maxCount"]) == (
        ctx.node_instance_type, ctx.node_count_min, ctx.node_count_max)
    assert pool["availabilityZones"] == list(ctx.zones) and pool["mode"] == "System"
