"""The cluster files (templates/cluster/*) and the EKS Cluster Autoscaler describe the planned node groups
and the NAT the bill pays for: read back from the RENDERED files, for every example case and provider.

Only the `cluster` target and k8s/cluster-autoscaler.yaml are rendered here, so these tests do not depend
on the other k8s templates.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import yaml

from capplan.data import data_dir
from capplan.render import engine, lint, render
from capplan.render.context import (
    CLUSTER_AUTOSCALER_TAGS,
    NAT_PORTS_PER_IP,
    NAT_SSE_MIN_PORTS_PER_VM,
    RenderContext,
    example_context,
    template_vars,
)
from validators import (
    NODE_GROUP_LABEL,
    case_context,
    case_ids,
    cluster_locator_exists,
    draft7_errors,
    gcloud_flags_errors,
    k8s_errors,
    rendered_node_groups,
    require_shared_schema,
    write_tree,
    yaml_docs,
)

CASES = case_ids()
CLUSTER_FILE = {"aws": "cluster/eksctl.yaml", "gcp": "cluster/gke-flags.yaml", "azure": "cluster/aks-managedcluster.yaml"}
CA = "k8s/cluster-autoscaler.yaml"


def _cluster_files(ctx: RenderContext) -> dict[str, str]:
    """The cluster target plus, when the plan has one, the Cluster Autoscaler manifest."""
    files = render(ctx, ["cluster"])
    if ctx.cluster_autoscaler is not None:
        env = engine._environment(str(data_dir("templates")))
        body = env.get_template(f"{CA}.j2").render(template_vars(ctx))
        files[CA] = engine.header(CA, "k8s", ctx) + body.lstrip("\n")
    return files


def _files(case: str) -> dict[str, str]:
    return _cluster_files(case_context(case))


def _planned(ctx: RenderContext) -> list[dict]:
    """What the plan asks for, straight from the context's NodeGroupSpecs."""
    return [dict(name=g.name, instance_type=g.instance_type, min_nodes=g.min_nodes, max_nodes=g.max_nodes,
                 labels={NODE_GROUP_LABEL: g.name},
                 taints=[f"{NODE_GROUP_LABEL}={g.name}:NoSchedule"] if g.role == "data" else [])
            for g in ctx.node_groups]


def _doc(files: dict[str, str], path: str) -> dict:
    return yaml.safe_load(files[path])


# --- the node groups read back from the rendered files --------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_rendered_node_groups_are_the_planned_ones(case: str) -> None:
    ctx = case_context(case)
    got = rendered_node_groups(_files(case), ctx.provider)
    want = _planned(ctx)
    assert [g["name"] for g in got] == [g["name"] for g in want]
    zones = len(ctx.zones)
    for have, plan in zip(got, want):
        assert (have["instance_type"], have["labels"], have["taints"]) == (
            plan["instance_type"], plan["labels"], plan["taints"]), plan["name"]
        if ctx.provider == "gcp":
            # per-zone counts, rounded up, multiplied back: never below the plan, less than a zone above it
            for key in ("min_nodes", "max_nodes"):
                assert have[key] == math.ceil(plan[key] / zones) * zones, (plan["name"], key)
                assert plan[key] <= have[key] < plan[key] + zones
        else:
            assert (have["min_nodes"], have["max_nodes"]) == (plan["min_nodes"], plan["max_nodes"]), plan["name"]


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_without_node_groups_the_single_app_group_comes_from_the_node_fields(provider: str) -> None:
    ctx = example_context("tier1", provider, node_groups=())
    groups = rendered_node_groups(_cluster_files(ctx), provider)
    assert [(g["name"], g["instance_type"], g["labels"], g["taints"]) for g in groups] == [
        ("app", ctx.node_instance_type, {NODE_GROUP_LABEL: "app"}, [])]
    assert groups[0]["max_nodes"] >= ctx.node_count_max and groups[0]["min_nodes"] >= ctx.node_count_min


def test_gke_multiplies_per_zone_counts_back() -> None:
    ctx = case_context("tier3-gcp")  # app 6..20 over 3 zones: 2..7 per zone
    files = _cluster_files(ctx)
    flags = _doc(files, "cluster/gke-flags.yaml")
    assert (flags["--num-nodes"], flags["--min-nodes"], flags["--max-nodes"]) == (2, 2, 7)
    assert "--total-min-nodes" not in flags and "--total-max-nodes" not in flags
    app = next(g for g in rendered_node_groups(files, "gcp") if g["name"] == "app")
    assert (app["min_nodes"], app["max_nodes"]) == (6, 21)
    data = _doc(files, "cluster/gke-nodepool-data-flags.yaml")
    assert data["--num-nodes"] == 2 and data["--node-taints"] == {NODE_GROUP_LABEL: "data:NoSchedule"}


@pytest.mark.parametrize("case", CASES)
def test_the_app_group_can_grow_and_a_data_group_is_fixed(case: str) -> None:
    ctx = case_context(case)
    files = _files(case)
    cluster = _doc(files, CLUSTER_FILE[ctx.provider])
    if ctx.provider == "aws":
        for group in cluster["managedNodeGroups"]:
            assert group["desiredCapacity"] == group["minSize"] and group["privateNetworking"] is True
            assert group["availabilityZones"] == list(ctx.zones) and group["propagateASGTags"] is True
            assert group["tags"] == {"k8s.io/cluster-autoscaler/enabled": "true",
                                     f"k8s.io/cluster-autoscaler/{ctx.cluster_name}": "owned"}
            assert group["iam"]["withAddonPolicies"]["autoScaler"] is True
    elif ctx.provider == "gcp":
        assert cluster["--enable-autoscaling"] is None and cluster["--enable-private-nodes"] is None
        assert cluster["--enable-ip-alias"] is None and cluster["--node-locations"] == list(ctx.zones)
    else:
        pools = {p["name"]: p for p in cluster["spec"]["agentPoolProfiles"]}
        assert pools["app"]["mode"] == "System" and pools["app"]["enableAutoScaling"] is True
        if "data" in pools:
            assert pools["data"]["mode"] == "User" and pools["data"]["enableAutoScaling"] is False
        assert all(p["availabilityZones"] == list(ctx.zones) for p in pools.values())
        assert cluster["spec"]["sku"] == {"name": "Base", "tier": ctx.aks_tier}


def test_aks_tier_follows_the_plan() -> None:
    ctx = example_context("tier2", "azure", aks_tier="Standard")
    assert _doc(_cluster_files(ctx), "cluster/aks-managedcluster.yaml")["spec"]["sku"]["tier"] == "Standard"


# --- locators the bill names ------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_cluster_locators_resolve(case: str) -> None:
    ctx = case_context(case)
    files = _files(case)
    main = CLUSTER_FILE[ctx.provider]
    nat = "cluster/gke-nat-flags.yaml" if ctx.provider == "gcp" else main
    data_file = "cluster/gke-nodepool-data-flags.yaml" if ctx.provider == "gcp" else main
    wanted = [f"{main}#cluster", f"{nat}#nat", f"{main}#nodegroup/app"]
    wanted += [f"{data_file}#nodegroup/{g.name}" for g in ctx.node_groups if g.role == "data"]
    assert [loc for loc in wanted if not cluster_locator_exists(files, ctx.provider, loc)] == []
    for wrong in (f"{main}#nodegroup/nope", f"{main}#bogus", "cluster/missing.yaml#cluster", "k8s/hpa.yaml#nat"):
        assert not cluster_locator_exists(files, ctx.provider, wrong), wrong
    if ctx.provider == "gcp":  # each GKE file holds only its own part
        assert not cluster_locator_exists(files, "gcp", f"{main}#nat")
        assert not cluster_locator_exists(files, "gcp", f"{nat}#cluster")
        assert not cluster_locator_exists(files, "gcp", "cluster/gke-nodepool-data-flags.yaml#nodegroup/app")


def test_locators_see_a_removed_nat() -> None:
    files = _files("tier2-aws")
    files["cluster/eksctl.yaml"] = files["cluster/eksctl.yaml"].replace("    gateway: HighlyAvailable", "    gateway: Disable")
    assert not cluster_locator_exists(files, "aws", "cluster/eksctl.yaml#nat")
    files = _files("tier2-azure")
    files["cluster/aks-managedcluster.yaml"] = files["cluster/aks-managedcluster.yaml"].replace(
        "outboundType: managedNATGateway", "outboundType: loadBalancer")
    assert not cluster_locator_exists(files, "azure", "cluster/aks-managedcluster.yaml#nat")


# --- NAT: what the bill pays for ------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_nat_is_the_one_the_bill_pays_for(case: str) -> None:
    ctx = case_context(case)
    files = _files(case)
    if ctx.provider == "aws":  # one NAT gateway per zone
        doc = _doc(files, "cluster/eksctl.yaml")
        assert doc["vpc"]["nat"]["gateway"] == "HighlyAvailable" and doc["availabilityZones"] == list(ctx.zones)
    elif ctx.provider == "gcp":  # one gateway, one IP: ports x VMs at the maximum fit one IP
        nat = _doc(files, "cluster/gke-nat-flags.yaml")
        assert nat["--auto-allocate-nat-external-ips"] is None and nat["--nat-all-subnet-ip-ranges"] is None
        assert "--nat-external-ip-pool" not in nat and nat["--region"] == ctx.region
        vms = sum(g["max_nodes"] for g in rendered_node_groups(files, "gcp"))
        ports = nat["--min-ports-per-vm"]
        assert ports >= NAT_SSE_MIN_PORTS_PER_VM and ports & (ports - 1) == 0
        assert ports * vms <= NAT_PORTS_PER_IP
        assert int(nat["--tcp-established-idle-timeout"].rstrip("s")) >= ctx.proxy_read_timeout_s
    else:  # one managed NAT gateway with one IP
        network = _doc(files, "cluster/aks-managedcluster.yaml")["spec"]["networkProfile"]
        assert (network["outboundType"], network["networkPlugin"], network["networkPluginMode"]) == (
            "managedNATGateway", "azure", "overlay")
        assert network["natGatewayProfile"]["managedOutboundIPProfile"] == {"count": 1}
        assert network["natGatewayProfile"]["idleTimeoutInMinutes"] * 60 >= ctx.proxy_read_timeout_s


# --- the EKS Cluster Autoscaler ----------------------------------------------------------------------------
AWS_CASES = [c for c in CASES if case_context(c).provider == "aws"]


@pytest.mark.parametrize("case", CASES)
def test_cluster_autoscaler_is_rendered_exactly_on_eks(case: str) -> None:
    ctx = case_context(case)
    assert (ctx.cluster_autoscaler is not None) == (ctx.provider == "aws")
    assert (CA in engine.outputs("k8s", ctx)) == (ctx.provider == "aws")


@pytest.mark.parametrize("case", AWS_CASES)
def test_cluster_autoscaler_manifest(case: str) -> None:
    ctx = case_context(case)
    files = _files(case)
    docs = yaml_docs(files[CA])
    kinds = sorted((d["kind"], d["metadata"]["name"]) for d in docs)
    assert kinds == [("ClusterRole", "cluster-autoscaler"), ("ClusterRoleBinding", "cluster-autoscaler"),
                     ("Deployment", "cluster-autoscaler"), ("Role", "cluster-autoscaler"),
                     ("RoleBinding", "cluster-autoscaler")]
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["metadata"]["namespace"] == "kube-system"
    spec = deployment["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "cluster-autoscaler" and spec["nodeSelector"] == {NODE_GROUP_LABEL: "app"}
    (container,) = spec["containers"]
    repo, tag = container["image"].rsplit(":", 1)
    assert repo == "registry.k8s.io/autoscaling/cluster-autoscaler"
    assert re.fullmatch(r"v(\d+\.\d+)\.\d+", tag).group(1) == ctx.kubernetes_version  # minor = cluster minor
    args = container["command"]
    for arg in ("--cloud-provider=aws", "--balance-similar-node-groups", "--skip-nodes-with-system-pods=false",
                "--expander=least-waste",
                "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
                f"k8s.io/cluster-autoscaler/{ctx.cluster_name}"):
        assert arg in args
    pod = ctx.cluster_autoscaler
    assert container["resources"] == {
        "requests": {"cpu": pod.cpu_request, "memory": f"{pod.memory_request_mib}Mi"},
        "limits": {"cpu": pod.cpu_limit, "memory": f"{pod.memory_limit_mib}Mi"}}
    assert deployment["spec"]["replicas"] == pod.replicas
    # the ServiceAccount (IRSA) comes from eksctl, which also tags the groups the autoscaler discovers
    eksctl = _doc(files, "cluster/eksctl.yaml")
    accounts = [(a["metadata"]["namespace"], a["metadata"]["name"], a["wellKnownPolicies"])
                for a in eksctl["iam"]["serviceAccounts"]]
    assert ("kube-system", "cluster-autoscaler", {"autoScaler": True}) in accounts
    assert all(f"k8s.io/cluster-autoscaler/{ctx.cluster_name}" in g["tags"] for g in eksctl["managedNodeGroups"])


def test_every_supported_kubernetes_minor_has_an_autoscaler_release() -> None:
    assert sorted(CLUSTER_AUTOSCALER_TAGS) == [f"1.{m}" for m in range(30, 38)]
    for minor, tag in CLUSTER_AUTOSCALER_TAGS.items():
        assert tag.startswith(f"v{minor}.")
    ctx = example_context("tier1", "aws", kubernetes_version="1.37")
    assert ":v1.37." in _cluster_files(ctx)[CA]


@pytest.mark.parametrize("case", AWS_CASES)
def test_cluster_autoscaler_passes_kubernetes_validate_strict(case: str) -> None:
    ctx = case_context(case)
    errors = [e for doc in yaml_docs(_files(case)[CA]) for e in k8s_errors(doc, ctx.kubernetes_version)]
    assert errors == []


@pytest.mark.parametrize("case", AWS_CASES)
def test_eksctl_config_passes_the_eksctl_schema(case: str) -> None:
    assert draft7_errors(require_shared_schema("eksctl-schema.json"), _doc(_files(case), "cluster/eksctl.yaml")) == []


# --- gcloud parses the GKE flags files ---------------------------------------------------------------------
GCP_CASES = [c for c in CASES if case_context(c).provider == "gcp"]


@pytest.mark.parametrize("case", GCP_CASES)
def test_gcloud_parses_the_gke_flags_files(case: str, tmp_path: Path) -> None:
    ctx = case_context(case)
    files = _files(case)
    write_tree(files, tmp_path)
    commands = {"cluster/gke-flags.yaml": ["container", "clusters", "create", ctx.cluster_name],
                "cluster/gke-nodepool-data-flags.yaml": ["container", "node-pools", "create", "data"],
                "cluster/gke-nat-flags.yaml": ["compute", "routers", "nats", "create", f"{ctx.cluster_name}-nat"]}
    assert set(files) <= set(commands)
    errors = [e for path in files for e in gcloud_flags_errors(commands[path], tmp_path / path, tmp_path)]
    assert errors == []


def test_gcloud_rejects_an_unknown_flag(tmp_path: Path) -> None:
    files = _files("tier3-gcp")
    files["cluster/gke-nat-flags.yaml"] = files["cluster/gke-nat-flags.yaml"].replace(
        "--min-ports-per-vm:", "--min-port-per-vm:")
    write_tree(files, tmp_path)
    errors = gcloud_flags_errors(["compute", "routers", "nats", "create", "n"],
                                 tmp_path / "cluster/gke-nat-flags.yaml", tmp_path)
    assert errors and "min-port-per-vm" in errors[0]


# --- capplan lint on the cluster files --------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_cluster_files_lint_clean(case: str) -> None:
    files = _files(case)
    assert lint(files, case_context(case)) == []
    assert lint(files) == []


def _rules(files: dict[str, str], case: str) -> set[str]:
    return {(i.path, i.rule) for i in lint(files, case_context(case))}


@pytest.mark.parametrize("case,path,old,new,rule", [
    # GKE: per-zone max x 3 zones below the plan's 8 (the HPA maximum would not fit)
    ("tier2-gcp", "cluster/gke-flags.yaml", "--max-nodes: 3", "--max-nodes: 2", "node-pool"),
    ("tier2-gcp", "cluster/gke-flags.yaml", "--num-nodes: 1", "--num-nodes: 4", "node-pool"),
    ("tier2-gcp", "cluster/gke-flags.yaml", '--node-labels: {"capplan.io/node-group": "app"}', "", "node-pool"),
    ("tier3-gcp", "cluster/gke-nodepool-data-flags.yaml", "--num-nodes: 2", "--num-nodes: 1", "node-pool"),
    ("tier3-gcp", "cluster/gke-nodepool-data-flags.yaml", "--node-taints:", "--node-taint:", "node-pool"),
    ("tier2-aws", "cluster/eksctl.yaml", "maxSize: 8", "maxSize: 6", "node-pool"),
    ("tier2-azure", "cluster/aks-managedcluster.yaml", 'name: "app"', 'name: "apipool"', "node-pool"),
    # NAT
    ("tier2-aws", "cluster/eksctl.yaml", "  nat:\n    gateway: HighlyAvailable", "  nat:\n    gateway: Disable", "nat"),
    ("tier2-aws", "cluster/eksctl.yaml", "  nat:\n    gateway: HighlyAvailable", "  nat:\n    gateway: Single", "nat"),
    ("tier2-azure", "cluster/aks-managedcluster.yaml", "count: 1\n", "count: 0\n", "nat"),
    ("tier2-azure", "cluster/aks-managedcluster.yaml", "count: 1\n", "count: 2\n", "nat"),
    ("tier2-azure", "cluster/aks-managedcluster.yaml", "idleTimeoutInMinutes: 15", "idleTimeoutInMinutes: 4", "nat"),
    ("tier2-azure", "cluster/aks-managedcluster.yaml", "outboundType: managedNATGateway", "outboundType: loadBalancer",
     "nat"),
    ("tier2-gcp", "cluster/gke-nat-flags.yaml", "--min-ports-per-vm: 4096", "--min-ports-per-vm: 64", "nat"),
    ("tier2-gcp", "cluster/gke-nat-flags.yaml", "--min-ports-per-vm: 4096", "--min-ports-per-vm: 16384", "nat"),
    ("tier2-gcp", "cluster/gke-nat-flags.yaml", '--tcp-established-idle-timeout: "1200s"',
     '--tcp-established-idle-timeout: "300s"', "nat"),
    ("tier2-gcp", "cluster/gke-nat-flags.yaml", "--auto-allocate-nat-external-ips:\n", "", "nat"),
    ("tier2-gcp", "cluster/gke-nat-flags.yaml", "--router:", "--routers:", "nat"),
])
def test_lint_catches_a_broken_cluster_file(case: str, path: str, old: str, new: str, rule: str) -> None:
    files = _files(case)
    assert old in files[path], f"{old!r} not in {path}: the mutation would test nothing"
    files[path] = files[path].replace(old, new, 1)
    assert (path, rule) in _rules(files, case)


def test_nat_ports_are_shared_over_the_most_vms_the_groups_can_run() -> None:
    small = _doc(_cluster_files(case_context("tier0-gcp")), "cluster/gke-nat-flags.yaml")["--min-ports-per-vm"]
    large = _doc(_cluster_files(case_context("microservices-gcp")), "cluster/gke-nat-flags.yaml")["--min-ports-per-vm"]
    assert small > large >= NAT_SSE_MIN_PORTS_PER_VM
