"""The ingress path, Istio and the API pods' memory as rendered (issue 10, items 4, 6 and 7).

k8s/gateway.yaml (Gateway API Gateway + HTTPRoutes + Istio's parametersRef ConfigMap), k8s/namespace.yaml,
istio/istiod-values.yaml, and the API Deployment/HPA/ConfigMap/Service: validated against the Gateway
API CRD schemas (closed to unknown fields) and kubernetes-validate, and traced back to the context.
"""

from __future__ import annotations

import math
import re

import pydantic
import pytest
import yaml

from capplan.render import lint, render
from capplan.render.context import MEMORY_FLOOR_MIB, example_context
from capplan.render.lint import parse_go_duration, parse_quantity
from validators import (
    case_context,
    case_ids,
    closed_schema,
    draft7_errors,
    gateway_api_errors,
    k8s_errors,
    rendered,
    require_shared_schema,
    yaml_docs,
)

CASES = case_ids()
ISTIO_OVERLAYS = {"deployment", "service", "serviceAccount", "horizontalPodAutoscaler", "podDisruptionBudget"}


def docs(case_or_files, path: str) -> dict[tuple[str, str], dict]:
    files = rendered(case_or_files) if isinstance(case_or_files, str) else case_or_files
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml_docs(files[path])}


def gateway_parts(case_or_files) -> tuple[dict, dict | None, dict, dict]:
    """(Gateway, parameters ConfigMap or None, redirect HTTPRoute, app HTTPRoute)."""
    found = docs(case_or_files, "k8s/gateway.yaml")
    (gateway,) = [d for (kind, _), d in found.items() if kind == "Gateway"]
    configmaps = [d for (kind, _), d in found.items() if kind == "ConfigMap"]
    routes = [d for (kind, _), d in found.items() if kind == "HTTPRoute"]
    redirect = next(r for r in routes if r["spec"]["parentRefs"][0]["sectionName"] == "http")
    app = next(r for r in routes if r["spec"]["parentRefs"][0]["sectionName"] == "https")
    return gateway, (configmaps[0] if configmaps else None), redirect, app


def seconds(duration: str) -> float:
    value = parse_go_duration(duration)
    assert value is not None, duration
    return value


# --- validators --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_gateway_and_routes_pass_the_gateway_api_schemas(case: str) -> None:
    ctx = case_context(case)
    errors = []
    for doc in yaml_docs(rendered(case)["k8s/gateway.yaml"]):
        if doc["apiVersion"].startswith("gateway.networking.k8s.io/"):
            errors += [f"{doc['kind']}/{doc['metadata']['name']}: {e}" for e in gateway_api_errors(doc)]
        else:
            errors += [f"{doc['kind']}/{doc['metadata']['name']}: {e}" for e in k8s_errors(doc, ctx.kubernetes_version)]
    assert errors == []


def test_the_closed_schemas_catch_a_misspelt_field() -> None:
    _, _, _, app = gateway_parts(CASES[0])
    app["spec"]["rules"][0]["timeout"] = app["spec"]["rules"][0].pop("timeouts")
    assert gateway_api_errors(app) != []
    assert draft7_errors(require_shared_schema("gateway_httproute_v1.json"), app) == []  # the CRD schema alone: silent
    gateway, _, _, _ = gateway_parts(CASES[0])
    gateway["spec"]["listeners"][0]["tls"]["minVersion"] = "1.3"
    assert gateway_api_errors(gateway) != []


def test_closed_schema_keeps_open_maps_open() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "additionalProperties": {"type": "string"}},
                                               "b": {"type": "object", "properties": {"c": {"type": "string"}}}}}
    closed = closed_schema(schema)
    assert closed["additionalProperties"] is False and closed["properties"]["b"]["additionalProperties"] is False
    assert closed["properties"]["a"]["additionalProperties"] == {"type": "string"}
    assert "additionalProperties" not in schema  # a copy


@pytest.mark.parametrize("case", CASES)
def test_the_gateway_files_lint_clean(case: str) -> None:
    files = {p: t for p, t in rendered(case).items() if p in (
        "k8s/gateway.yaml", "k8s/namespace.yaml", "k8s/service.yaml", "k8s/deployment.yaml", "istio/istiod-values.yaml")}
    assert lint(files, case_context(case)) == [] and lint(files) == []


# --- Gateway, listeners, TLS and redirects -------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_gateway_terminates_tls_by_secret_reference_and_redirects_http(case: str) -> None:
    ctx = case_context(case)
    gateway, _, redirect, app = gateway_parts(case)
    assert gateway["metadata"]["name"] == "librechat-gateway" and gateway["metadata"]["namespace"] == ctx.namespace
    assert gateway["spec"]["gatewayClassName"] == "istio"
    listeners = {listener["name"]: listener for listener in gateway["spec"]["listeners"]}
    assert (listeners["https"]["port"], listeners["https"]["protocol"]) == (443, "HTTPS")
    assert (listeners["http"]["port"], listeners["http"]["protocol"]) == (80, "HTTP")
    tls = listeners["https"]["tls"]
    assert tls["mode"] == "Terminate" and tls["certificateRefs"] == [
        {"group": "", "kind": "Secret", "name": ctx.tls_secret_name}]
    assert "tls" not in listeners["http"]
    assert {listener["hostname"] for listener in listeners.values()} == {ctx.hostname}
    (rule,) = redirect["spec"]["rules"]
    assert "backendRefs" not in rule
    assert rule["filters"] == [{"type": "RequestRedirect", "requestRedirect": {"scheme": "https", "statusCode": 301}}]
    assert app["spec"]["hostnames"] == [ctx.hostname] == redirect["spec"]["hostnames"]
    assert {p["name"] for r in (redirect, app) for p in r["spec"]["parentRefs"]} == {gateway["metadata"]["name"]}


@pytest.mark.parametrize("case", CASES)
def test_stream_rule_outlasts_the_longest_stream_and_the_rest_gets_the_api_timeout(case: str) -> None:
    ctx = case_context(case)
    _, _, _, app = gateway_parts(case)
    rules = {rule["name"]: rule for rule in app["spec"]["rules"]}
    assert set(rules) == {"streams", "api"}
    streams, api = rules["streams"], rules["api"]
    assert [(m["path"]["type"], m["path"]["value"]) for m in streams["matches"]] == [
        ("PathPrefix", prefix) for prefix in ctx.stream_path_prefixes]
    assert seconds(streams["timeouts"]["request"]) == ctx.proxy_read_timeout_s > ctx.longest_stream_s
    assert api["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert seconds(api["timeouts"]["request"]) == ctx.api_timeout_s <= ctx.proxy_read_timeout_s
    for rule in (streams, api):
        assert "retry" not in rule  # the standard channel has none; Istio's default is off (istiod values)
        assert rule["backendRefs"] == [{"name": ctx.app_name, "port": ctx.service_port}]
    service = docs(case, "k8s/service.yaml")[("Service", ctx.app_name)]
    assert service["spec"]["type"] == "ClusterIP"
    assert ctx.service_port in {p["port"] for p in service["spec"]["ports"]}


@pytest.mark.parametrize("case", CASES)
def test_load_balancer_annotations_per_provider(case: str) -> None:
    ctx = case_context(case)
    gateway, _, _, _ = gateway_parts(case)
    annotations = (gateway["spec"].get("infrastructure") or {}).get("annotations")
    if ctx.provider == "aws":
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-type"] == "external"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-nlb-target-type"] == "ip"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-scheme"] == "internet-facing"
        assert annotations["service.beta.kubernetes.io/aws-load-balancer-target-group-attributes"] == (
            "preserve_client_ip.enabled=true")
        idle = annotations["service.beta.kubernetes.io/aws-load-balancer-listener-attributes.TCP-443"]
        value = int(re.fullmatch(r"tcp\.idle_timeout\.seconds=(\d+)", idle).group(1))
        assert 60 <= value <= 6000 and value >= ctx.proxy_read_timeout_s > ctx.longest_stream_s
    elif ctx.provider == "azure":
        assert set(annotations) == {"service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"}
        minutes = int(annotations["service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout"])
        assert 4 <= minutes <= 100 and minutes == max(4, math.ceil(ctx.proxy_read_timeout_s / 60))
        assert minutes * 60 > ctx.longest_stream_s
    else:
        assert annotations is None  # a passthrough NLB: no proxy timer to raise


def test_short_streams_keep_the_load_balancers_minimum_idle_timeout() -> None:
    for provider, key, want in (("aws", "aws-load-balancer-listener-attributes.TCP-443", "tcp.idle_timeout.seconds=60"),
                                ("azure", "azure-load-balancer-tcp-idle-timeout", "4")):
        ctx = example_context("tier1", provider, longest_stream_s=20.0, proxy_read_timeout_s=30, lb_idle_timeout_s=20)
        files = render(ctx, ["k8s"])
        gateway, _, _, _ = gateway_parts(files)
        assert gateway["spec"]["infrastructure"]["annotations"][f"service.beta.kubernetes.io/{key}"] == want
        assert lint(files, ctx) == []


@pytest.mark.parametrize("provider", ["aws", "azure"])
def test_streams_longer_than_the_load_balancer_can_hold_are_refused(provider: str) -> None:
    with pytest.raises(pydantic.ValidationError, match="proxy_read_timeout_s"):
        example_context("tier2", provider, proxy_read_timeout_s=6060)
    example_context("tier2", "gcp", proxy_read_timeout_s=6060)  # no load balancer timer on GCP


# --- Istio's gateway deployment: the parametersRef ConfigMap -------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_parameters_configmap_sizes_the_gateway_as_packed(case: str) -> None:
    ctx = case_context(case)
    gw = ctx.ingress_gateway
    gateway, cm, _, _ = gateway_parts(case)
    ref = gateway["spec"]["infrastructure"]["parametersRef"]
    assert ref == {"group": "", "kind": "ConfigMap", "name": cm["metadata"]["name"]}
    assert cm["metadata"]["namespace"] == gateway["metadata"]["namespace"]
    assert gw.name == gateway["metadata"]["name"] + "-istio"  # the Deployment/Service Istio provisions
    data = {key: yaml.safe_load(value) for key, value in cm["data"].items()}
    assert set(data) <= ISTIO_OVERLAYS and {"deployment", "service"} <= set(data)
    pod = data["deployment"]["spec"]["template"]["spec"]
    (proxy,) = pod["containers"]
    assert proxy["name"] == "istio-proxy"
    assert proxy["resources"] == {"requests": {"cpu": gw.cpu_request, "memory": f"{gw.memory_request_mib}Mi"},
                                  "limits": {"cpu": gw.cpu_limit, "memory": f"{gw.memory_limit_mib}Mi"}}
    assert pod["nodeSelector"] == {"capplan.io/node-group": "app"}
    assert pod["terminationGracePeriodSeconds"] == ctx.termination_grace_period_s > ctx.longest_stream_s
    if gw.replicas_max > gw.replicas:
        hpa = data["horizontalPodAutoscaler"]["spec"]
        assert (hpa["minReplicas"], hpa["maxReplicas"]) == (gw.replicas, gw.replicas_max)
        assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
        assert "replicas" not in data["deployment"]["spec"]  # the HPA owns it
    else:
        assert "horizontalPodAutoscaler" not in data and data["deployment"]["spec"]["replicas"] == gw.replicas
    if gw.replicas >= 2:
        assert data["podDisruptionBudget"]["spec"]["minAvailable"] == gw.replicas - 1
    else:
        assert "podDisruptionBudget" not in data
    assert data["service"]["spec"] == {"externalTrafficPolicy": "Local"}


def test_fixed_gateway_replicas_go_on_the_deployment() -> None:
    base = example_context("tier2", "gcp")
    ctx = example_context("tier2", "gcp", ingress_gateway=base.ingress_gateway.model_copy(
        update={"replicas": 3, "replicas_max": 3}))
    files = render(ctx, ["k8s"])
    _, cm, _, _ = gateway_parts(files)
    assert yaml.safe_load(cm["data"]["deployment"])["spec"]["replicas"] == 3
    assert "horizontalPodAutoscaler" not in cm["data"]
    assert yaml.safe_load(cm["data"]["podDisruptionBudget"])["spec"]["minAvailable"] == 2
    assert lint(files, ctx) == []


def test_without_a_sized_gateway_istio_defaults_apply() -> None:
    ctx = example_context("tier1", "gcp", ingress_gateway=None)
    files = render(ctx, ["k8s"])
    gateway, cm, _, _ = gateway_parts(files)
    assert cm is None and "infrastructure" not in gateway["spec"]
    assert gateway_api_errors(gateway) == [] and lint(files, ctx) == []


# --- namespace, API pods -------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_namespace_injection_label_iff_mesh(case: str) -> None:
    ctx = case_context(case)
    ns = docs(case, "k8s/namespace.yaml")[("Namespace", ctx.namespace)]
    labels = ns["metadata"]["labels"]
    assert ("istio-injection" in labels) == ctx.mesh
    if ctx.mesh:
        assert labels["istio-injection"] == "enabled"
        # istio-init needs NET_ADMIN/NET_RAW: not even "baseline" could be enforced
        assert "pod-security.kubernetes.io/enforce" not in labels
    else:
        assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert labels["pod-security.kubernetes.io/warn"] == labels["pod-security.kubernetes.io/audit"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn-version"] == f"v{ctx.kubernetes_version}"
    assert k8s_errors(ns, ctx.kubernetes_version) == []


def _restricted_violations(pod_spec: dict) -> list[str]:
    """The Pod Security Standards "restricted" checks that apply to a pod template (not the volume list)."""
    out = []
    pod_sc = pod_spec.get("securityContext") or {}
    for c in (pod_spec.get("initContainers") or []) + pod_spec.get("containers", []):
        sc = c.get("securityContext") or {}
        if sc.get("allowPrivilegeEscalation") is not False:
            out.append(f"{c['name']}: allowPrivilegeEscalation must be false")
        if "ALL" not in ((sc.get("capabilities") or {}).get("drop") or []):
            out.append(f"{c['name']}: capabilities.drop must hold ALL")
        if set((sc.get("capabilities") or {}).get("add") or []) - {"NET_BIND_SERVICE"}:
            out.append(f"{c['name']}: adds capabilities")
        if not (sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True):
            out.append(f"{c['name']}: runAsNonRoot")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            out.append(f"{c['name']}: runAsUser 0")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in ("RuntimeDefault", "Localhost"):
            out.append(f"{c['name']}: seccompProfile RuntimeDefault")
        if sc.get("privileged"):
            out.append(f"{c['name']}: privileged")
    for key in ("hostNetwork", "hostPID", "hostIPC"):
        if pod_spec.get(key):
            out.append(key)
    if any("hostPath" in v for v in pod_spec.get("volumes") or []):
        out.append("hostPath volume")
    return out


@pytest.mark.parametrize("case", CASES)
def test_every_pod_in_the_app_namespace_meets_restricted(case: str) -> None:
    """What the namespace comment promises: "restricted" is only warned about, yet nothing rendered trips it."""
    ctx = case_context(case)
    found = {}
    for path, text in rendered(case).items():
        if path.startswith("k8s/"):
            for doc in yaml_docs(text):
                template = (doc.get("spec") or {}).get("template")
                if doc["metadata"].get("namespace") == ctx.namespace and isinstance(template, dict):
                    found[f"{path}#{doc['kind']}/{doc['metadata']['name']}"] = _restricted_violations(template["spec"])
    assert f"k8s/deployment.yaml#Deployment/{ctx.app_name}" in found
    assert {name: v for name, v in found.items() if v} == {}


@pytest.mark.parametrize("case", CASES)
def test_api_memory_request_equals_limit_with_the_heap_at_three_quarters(case: str) -> None:
    ctx = case_context(case)
    dep = docs(case, "k8s/deployment.yaml")[("Deployment", ctx.app_name)]
    pod = dep["spec"]["template"]["spec"]
    (api,) = pod["containers"]
    res = api["resources"]
    assert res["requests"]["memory"] == res["limits"]["memory"] == f"{ctx.memory_limit_mib}Mi"
    assert parse_quantity(res["limits"]["memory"]) >= MEMORY_FLOOR_MIB * 2**20
    config = docs(case, "k8s/configmap.yaml")[("ConfigMap", ctx.app_name)]["data"]
    assert config["NODE_OPTIONS"] == f"--max-old-space-size={int(ctx.memory_limit_mib * 0.75)}"
    assert pod["nodeSelector"] == {"capplan.io/node-group": "app"}


def test_memory_floor_and_request_equal_to_limit_are_enforced() -> None:
    assert MEMORY_FLOOR_MIB == 2048  # LibreChat's maintainers prefer 2 GB per instance (librechat.md)
    with pytest.raises(pydantic.ValidationError, match="memory_limit_mib"):
        example_context("tier1", memory_limit_mib=1536, memory_request_mib=1536)
    with pytest.raises(pydantic.ValidationError, match="memory_request_mib"):
        example_context("tier1", memory_limit_mib=4096, memory_request_mib=2048)


@pytest.mark.parametrize("case", CASES)
def test_hpa_scales_on_cpu_and_on_memory_only_when_asked(case: str) -> None:
    ctx = case_context(case)
    text = rendered(case)["k8s/hpa.yaml"]
    metrics = yaml.safe_load(text)["spec"]["metrics"]
    names = [m["resource"]["name"] for m in metrics]
    if ctx.hpa_memory:
        assert names == ["cpu", "memory"] and "seldom back in" in text
        assert metrics[1]["resource"]["target"]["averageUtilization"] == ctx.hpa_memory_target_pct
    else:
        assert names == ["cpu"] and "memory" not in text.split("metrics:", 1)[1]


def test_the_memory_metric_is_opt_in() -> None:
    off, on = (yaml.safe_load(render(example_context("tier2", hpa_memory=flag), ["k8s"])["k8s/hpa.yaml"])
               for flag in (False, True))
    assert [m["resource"]["name"] for m in off["spec"]["metrics"]] == ["cpu"]
    assert [m["resource"]["name"] for m in on["spec"]["metrics"]] == ["cpu", "memory"]


@pytest.mark.parametrize("case", CASES)
def test_search_settings_only_with_search(case: str) -> None:
    ctx = case_context(case)
    data = docs(case, "k8s/configmap.yaml")[("ConfigMap", ctx.app_name)]["data"]
    env = {e["name"] for e in docs(case, "k8s/deployment.yaml")[("Deployment", ctx.app_name)]["spec"]["template"][
        "spec"]["containers"][0]["env"]}
    if ctx.search is None:
        assert data["SEARCH"] == "false" and "MEILI_HOST" not in data and "MEILI_MASTER_KEY" not in env
        assert "k8s/meilisearch.yaml" not in rendered(case)
    else:
        assert data["SEARCH"] == "true" and data["MEILI_HOST"] == f"http://{ctx.search.name}:{ctx.meili_port}"
        assert "MEILI_MASTER_KEY" in env


@pytest.mark.parametrize("case", CASES)
def test_sidecar_annotations_iff_mesh_and_equal_to_the_packed_sidecar(case: str) -> None:
    ctx = case_context(case)
    annotations = docs(case, "k8s/deployment.yaml")[("Deployment", ctx.app_name)]["spec"]["template"][
        "metadata"].get("annotations", {})
    if ctx.mesh:
        s = ctx.sidecar
        assert annotations == {"sidecar.istio.io/proxyCPU": s.cpu_request, "sidecar.istio.io/proxyCPULimit": s.cpu_limit,
                               "sidecar.istio.io/proxyMemory": f"{s.memory_request_mib}Mi",
                               "sidecar.istio.io/proxyMemoryLimit": f"{s.memory_limit_mib}Mi"}
    else:
        assert not any(k.startswith("sidecar.istio.io/") for k in annotations)


# --- istiod Helm values -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_istiod_values(case: str) -> None:
    ctx = case_context(case)
    values = yaml.safe_load(rendered(case)["istio/istiod-values.yaml"])
    pilot, d = values["pilot"], ctx.istiod
    assert (pilot["replicaCount"], pilot["autoscaleMin"], pilot["autoscaleMax"]) == (d.replicas, d.replicas, d.replicas_max)
    assert pilot["autoscaleEnabled"] is (d.replicas_max > d.replicas)
    assert pilot["resources"] == {"requests": {"cpu": d.cpu_request, "memory": f"{d.memory_request_mib}Mi"},
                                  "limits": {"cpu": d.cpu_limit, "memory": f"{d.memory_limit_mib}Mi"}}
    assert pilot["nodeSelector"] == {"capplan.io/node-group": "app"}
    hub, tag = d.image.rsplit(":", 1)
    assert (values["global"]["hub"], values["global"]["tag"]) == (hub.rsplit("/", 1)[0], tag)
    proxy = values["global"].get("proxy")
    if ctx.mesh:
        s = ctx.sidecar
        assert proxy["resources"] == {"requests": {"cpu": s.cpu_request, "memory": f"{s.memory_request_mib}Mi"},
                                      "limits": {"cpu": s.cpu_limit, "memory": f"{s.memory_limit_mib}Mi"}}
        assert values["meshConfig"]["defaultConfig"]["holdApplicationUntilProxyStarts"] is True
    else:
        assert proxy is None
    mesh = values["meshConfig"]
    assert mesh["defaultHttpRetryPolicy"] == {"attempts": 0}
    assert mesh["tlsDefaults"] == {"minProtocolVersion": "TLSV1_3"}
    drain = seconds(mesh["defaultConfig"]["terminationDrainDuration"])
    assert ctx.longest_stream_s <= drain < ctx.termination_grace_period_s
    assert values["gateways"]["seccompProfile"] == {"type": "RuntimeDefault"}


@pytest.mark.parametrize("case", CASES)
def test_destination_rule_on_the_api_service_mesh_or_not(case: str) -> None:
    """The gateway's Envoy applies the DestinationRule's pool, idle timeout (below Node's keep-alive)
    and outlier detection to its connections to the API whether or not the app has sidecars."""
    ctx = case_context(case)
    files = rendered(case)
    dr = yaml.safe_load(files["istio/destinationrule.yaml"])
    service = docs(case, "k8s/service.yaml")[("Service", ctx.app_name)]
    assert dr["spec"]["host"] == f"{service['metadata']['name']}.{service['metadata']['namespace']}.svc.cluster.local"
    assert draft7_errors(require_shared_schema("destinationrule_v1.json"), dr) == []
    idle = dr["spec"]["trafficPolicy"]["connectionPool"]["http"]["idleTimeout"]
    assert int(idle.rstrip("s")) * 1000 < ctx.keep_alive_timeout_ms
    assert "istio/virtualservice.yaml" not in files  # replaced by the HTTPRoutes
