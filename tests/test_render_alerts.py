"""Alerts on series that exist (issue 10, item 10): prometheus/alerts.yml reads only metrics that the Istio
ingress gateway, cAdvisor, kube-state-metrics, redis_exporter and mongodb_exporter really expose, every
alert fires (and every family stays quiet) in the rendered promtool tests, and k8s/exporters.yaml renders
the exporters those alerts need.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from capplan.render import lint, render
from capplan.render.context import (
    EXPORTER_PORTS,
    ISTIO_ROUTE_API,
    ISTIO_ROUTE_STREAM,
    ISTIO_ROUTE_TAG,
    example_context,
    template_vars,
)
from capplan.render.engine import outputs
from capplan.render.lint import promql_metrics
from validators import case_context, case_ids, k8s_errors, promtool_errors, rendered, write_tree, yaml_docs

CASES = case_ids()

# --- the series the alerts may read: name -> (labels the source exposes, where that is documented) ---------
_ISTIO = {"reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
          "source_version", "source_cluster", "source_canonical_service", "source_canonical_revision",
          "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
          "destination_version", "destination_service", "destination_service_name",
          "destination_service_namespace", "destination_cluster", "destination_canonical_service",
          "destination_canonical_revision", "request_protocol", "response_code", "grpc_response_status",
          "response_flags", "connection_security_policy"}
_ISTIO_DOC = "https://istio.io/latest/docs/reference/config/metrics/"
# custom dimension added by an Istio Telemetry resource (tagOverrides) on the gateway's REQUEST_DURATION
_ISTIO_TAG_DOC = "https://istio.io/latest/docs/tasks/observability/metrics/customize-metrics/"
_CADVISOR = {"namespace", "pod", "container", "id", "image", "name"}
_CADVISOR_DOC = "https://github.com/google/cadvisor/blob/master/docs/storage/prometheus.md"
_KSM_DOC = "https://github.com/kubernetes/kube-state-metrics/blob/main/docs/metrics/workload/"
_REDIS_DOC = "https://github.com/oliver006/redis_exporter/blob/master/exporter/exporter.go"
_MONGO_DOC = "https://github.com/percona/mongodb_exporter/blob/main/exporter/"
# mongodb_exporter's topology labels on every metric (README "Cluster role labels")
_MONGO_TOPOLOGY = {"cl_role", "cl_id", "rs_nm", "rs_state"}

SERIES: dict[str, tuple[set[str], str]] = {
    "istio_requests_total": (_ISTIO, _ISTIO_DOC),
    "istio_request_duration_milliseconds_bucket": (_ISTIO | {"le", ISTIO_ROUTE_TAG}, f"{_ISTIO_DOC} + {_ISTIO_TAG_DOC}"),
    "container_cpu_usage_seconds_total": (_CADVISOR | {"cpu"}, _CADVISOR_DOC),
    "container_memory_working_set_bytes": (_CADVISOR, _CADVISOR_DOC),
    "kube_pod_container_resource_limits": ({"namespace", "pod", "uid", "container", "node", "resource", "unit"},
                                           _KSM_DOC + "pod-metrics.md"),
    "kube_pod_container_status_restarts_total": ({"namespace", "pod", "uid", "container"}, _KSM_DOC + "pod-metrics.md"),
    "kube_pod_status_phase": ({"namespace", "pod", "uid", "phase"}, _KSM_DOC + "pod-metrics.md"),
    "kube_deployment_status_replicas_unavailable": ({"namespace", "deployment"}, _KSM_DOC + "deployment-metrics.md"),
    "kube_statefulset_status_replicas_ready": ({"namespace", "statefulset"}, _KSM_DOC + "statefulset-metrics.md"),
    "kube_statefulset_replicas": ({"namespace", "statefulset"}, _KSM_DOC + "statefulset-metrics.md"),
    "kube_horizontalpodautoscaler_status_current_replicas": ({"namespace", "horizontalpodautoscaler"},
                                                             _KSM_DOC + "horizontalpodautoscaler-metrics.md"),
    "kube_horizontalpodautoscaler_spec_max_replicas": ({"namespace", "horizontalpodautoscaler"},
                                                       _KSM_DOC + "horizontalpodautoscaler-metrics.md"),
    # redis_exporter: "up" gauge; INFO used_memory / maxmemory (metricMapGauges), rejected_connections (Counters)
    "redis_up": (set(), _REDIS_DOC),
    "redis_memory_used_bytes": (set(), _REDIS_DOC),
    "redis_memory_max_bytes": (set(), _REDIS_DOC),
    "redis_rejected_connections_total": (set(), _REDIS_DOC),
    # mongodb_exporter v0.4x: general_collector.go (mongodb_up); metrics.go names getDiagnosticData's
    # serverStatus.connections.<type> mongodb_ss_connections{conn_type} and replSetGetStatus.members[].health
    # mongodb_rs_members_health{member_idx, member_state}
    "mongodb_up": (set(), _MONGO_DOC + "general_collector.go"),
    "mongodb_ss_connections": (_MONGO_TOPOLOGY | {"conn_type"}, _MONGO_DOC + "metrics.go"),
    "mongodb_rs_members_health": (_MONGO_TOPOLOGY | {"member_idx", "member_state"}, _MONGO_DOC + "metrics.go"),
}
#: What Prometheus' Kubernetes service discovery adds to an exporter's series (kube-state-metrics' and
#: cAdvisor's own namespace/pod labels are theirs: they are scraped with honor_labels).
TARGET_LABELS = {"namespace", "pod", "job", "instance", "service", "container", "endpoint"}
_SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)\{([^}]*)\}")
_MATCHER = re.compile(r"(\w+)\s*(?:=~|!~|!=|=)")


def _rules(files: dict[str, str]) -> dict[str, dict]:
    return {r["alert"]: r for g in yaml.safe_load(files["prometheus/alerts.yml"])["groups"] for r in g["rules"]}


def _tests(files: dict[str, str]) -> list[dict]:
    return yaml.safe_load(files["prometheus/alerts.test.yml"])["tests"]


def _allowed(metric: str) -> set[str]:
    own, _ = SERIES[metric]
    return own | TARGET_LABELS


def _promtool(files: dict[str, str], tmp_path: Path) -> list[str]:
    write_tree({p: t for p, t in files.items() if p.startswith("prometheus/")}, tmp_path)
    folder = tmp_path / "prometheus"
    return promtool_errors("check", "rules", "alerts.yml", cwd=folder) + promtool_errors(
        "test", "rules", "alerts.test.yml", cwd=folder)


# --- promtool -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_rules_pass_promtool_check_and_their_unit_tests(case: str, tmp_path: Path) -> None:
    assert _promtool(rendered(case), tmp_path) == []


@pytest.mark.parametrize("overrides", [
    dict(exporters=(), ingress_gateway=None),            # nothing rendered to scrape: the guards still hold
    dict(error_rate_alert=0.05, p95_latency_slo_s=0.4, cpu_alert_pct=60, memory_alert_pct=92, alert_for_minutes=3,
         alert_rate_window_minutes=2, hpa_max_alert_for_minutes=30, redis_maxmemory_mib=2048),
    dict(p95_latency_slo_s=2400.0),                      # SLO above the last finite Istio bucket but one
], ids=["no-exporters", "other-thresholds", "huge-slo"])
def test_promtool_tests_follow_the_thresholds(overrides: dict, tmp_path: Path) -> None:
    ctx = example_context("tier2", "gcp", **overrides)
    files = render(ctx, ["prometheus"])
    assert _promtool(files, tmp_path) == []
    rules = _rules(files)
    assert rules["LibreChatHighErrorRate"]["expr"].rstrip().endswith(f"> {ctx.error_rate_alert}")
    assert rules["LibreChatSlowResponses"]["expr"].rstrip().endswith(f"> {ctx.p95_latency_slo_s}")
    assert rules["LibreChatHighCPU"]["expr"].rstrip().endswith(f"> {ctx.cpu_alert_pct / 100}")
    assert rules["LibreChatRedisMemoryHigh"]["expr"].rstrip().endswith(f"> {ctx.memory_alert_pct / 100}")
    assert rules["LibreChatMongoConnectionsLow"]["expr"].rstrip().endswith(f"< {ctx.mongo_connections_at_max}")
    assert f"[{ctx.alert_rate_window_minutes}m]" in rules["LibreChatHighErrorRate"]["expr"]
    assert {r["for"] for a, r in rules.items() if a != "LibreChatHPAAtMax"} == {f"{ctx.alert_for_minutes}m"}
    assert rules["LibreChatHPAAtMax"]["for"] == f"{ctx.hpa_max_alert_for_minutes}m"


def test_the_unit_tests_catch_a_threshold_that_never_fires(tmp_path: Path) -> None:
    files = dict(rendered(CASES[0]))
    ctx = case_context(CASES[0])
    ratio = f"> {ctx.memory_alert_pct / 100}"
    assert ratio in files["prometheus/alerts.yml"]
    files["prometheus/alerts.yml"] = files["prometheus/alerts.yml"].replace(ratio, "> 0.999")
    errors = _promtool(files, tmp_path)
    assert errors and "LibreChatHighMemory" in errors[0]


# --- every alert fires, every family stays quiet ---------------------------------------------------------
@pytest.mark.parametrize("case", CASES)
def test_every_alert_fires_and_stays_quiet_in_the_unit_tests(case: str) -> None:
    files = rendered(case)
    names = set(_rules(files))
    checks = [c for t in _tests(files) for c in t["alert_rule_test"]]
    fired = {c["alertname"] for c in checks if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in checks if c.get("exp_alerts") == []}
    assert names - fired == set(), "alerts no promtool test makes fire"
    assert names - quiet == set(), "alerts no promtool test keeps quiet on healthy series"
    assert fired | quiet <= names


@pytest.mark.parametrize("case", CASES)
def test_each_family_has_an_absent_guard_and_lint_is_clean(case: str) -> None:
    files = {p: t for p, t in rendered(case).items() if p.startswith("prometheus/") or p == "k8s/exporters.yaml"}
    assert lint(files, case_context(case)) == []
    rules = _rules(files)
    families = {m.split("_", 1)[0] for r in rules.values() for m in promql_metrics(r["expr"])}
    assert families == {"istio", "container", "kube", "mongodb"} | ({"redis"} if case_context(case).redis_enabled else set())
    guards = {m.split("_", 1)[0] for r in rules.values() if r["expr"].lstrip().startswith("absent(")
              for m in promql_metrics(r["expr"])}
    assert guards == families


def test_lint_alert_absent_catches_an_unguarded_family() -> None:
    text = rendered(CASES[0])["prometheus/alerts.yml"].replace("absent(mongodb_up", "max(mongodb_up")
    issues = lint({"prometheus/alerts.yml": text})
    assert [i.rule for i in issues] == ["alert-absent"] and "mongodb_*" in issues[0].message


def test_promql_metrics_reads_names_not_labels_functions_or_keywords() -> None:
    expr = ('sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container="api", a=~"x.y"}[5m]))'
            ' / on (namespace) group_left max(kube_pod_info offset 5m) > 0.8 and absent(up{job="x"})')
    assert promql_metrics(expr) == {"container_cpu_usage_seconds_total", "kube_pod_info", "up"}


# --- only series that exist --------------------------------------------------------------------------------
def test_the_series_table_cites_a_source_for_every_metric() -> None:
    for metric, (_, url) in SERIES.items():
        assert url.startswith("https://"), metric


@pytest.mark.parametrize("case", CASES)
def test_alerts_read_only_series_the_exporters_expose(case: str) -> None:
    rules = _rules(rendered(case))
    for alert, rule in rules.items():
        for metric in promql_metrics(rule["expr"]):
            assert metric in SERIES, f"{alert} reads {metric}, which no rendered exporter exposes"
        for metric, matchers in _SELECTOR.findall(rule["expr"]):
            unknown = set(_MATCHER.findall(matchers)) - _allowed(metric)
            assert not unknown, f"{alert}: {metric} has no label {unknown}"
        assert "http_request_duration_seconds" not in rule["expr"] and "bull_queue" not in rule["expr"]


@pytest.mark.parametrize("case", CASES)
def test_unit_test_series_are_named_and_labelled_as_exposed(case: str) -> None:
    for test in _tests(rendered(case)):
        for item in test["input_series"]:
            metric, matchers = _SELECTOR.fullmatch(item["series"]).groups()
            assert metric in SERIES, f"{test['name']}: {metric}"
            assert set(_MATCHER.findall(matchers)) <= _allowed(metric), f"{test['name']}: {item['series']}"


@pytest.mark.parametrize("case", CASES)
def test_gateway_rules_select_the_api_behind_the_istio_gateway(case: str) -> None:
    ctx = case_context(case)
    rules = _rules(rendered(case))
    errors, latency = rules["LibreChatHighErrorRate"]["expr"], rules["LibreChatSlowResponses"]["expr"]
    for expr in (errors, latency):
        assert 'reporter="source"' in expr   # the gateway reports as the client proxy
        if ctx.services:   # microservices: the API and its further services behind the same gateway
            names = "|".join([ctx.app_name] + [svc.name for svc in ctx.services])
            assert f'destination_service_name=~"{names}"' in expr
        else:
            assert f'destination_service_name="{ctx.app_name}"' in expr
        assert f'destination_service_namespace="{ctx.namespace}"' in expr
        if ctx.ingress_gateway is not None:
            assert f'source_workload="{ctx.ingress_gateway.name}"' in expr
    assert 'response_code=~"5.."' in errors
    # Istio's metrics carry no path: the p95 reads only the non-stream route class
    assert f'{ISTIO_ROUTE_TAG}="{ISTIO_ROUTE_API}"' in latency


def test_the_route_class_expression_separates_streams_from_api_calls() -> None:
    ctx = example_context("tier2", "aws")
    expression = template_vars(ctx)["istio_route"]["expression"]
    m = re.fullmatch(r"request\.url_path\.matches\('(.+)'\) \? '(\w+)' : '(\w+)'", expression)
    assert m is not None and (m.group(2), m.group(3)) == (ISTIO_ROUTE_STREAM, ISTIO_ROUTE_API)
    pattern = re.compile(m.group(1))
    for prefix in ctx.stream_path_prefixes:
        assert pattern.search(prefix + "/stream/abc")
    for path in ("/api/convos", "/api/messages/123", "/health", "/api/user"):
        assert not pattern.search(path), path


# --- k8s/exporters.yaml ---------------------------------------------------------------------------------------
def _docs(case: str) -> list[dict]:
    return yaml_docs(rendered(case)["k8s/exporters.yaml"])


def _find(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


@pytest.mark.parametrize("case", CASES)
def test_exporters_pass_kubernetes_validate_strict(case: str) -> None:
    ctx = case_context(case)
    assert ("k8s/exporters.yaml" in rendered(case)) == bool(ctx.exporters)
    errors = [f"{d['kind']}/{d['metadata']['name']}: {e}" for d in _docs(case) for e in k8s_errors(d, ctx.kubernetes_version)]
    assert errors == []


@pytest.mark.parametrize("case", CASES)
def test_exporter_deployments_are_the_packed_pods(case: str) -> None:
    ctx = case_context(case)
    docs = _docs(case)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    # the bill's locators k8s/exporters.yaml#Deployment/<name> resolve; redis only when planned
    assert set(deployments) == {p.name for p in ctx.exporters}
    assert ("redis-exporter" in deployments) == ctx.redis_enabled
    for pod in ctx.exporters:
        d = deployments[pod.name]
        spec = d["spec"]["template"]["spec"]
        (container,) = spec["containers"]
        ns = "monitoring" if pod.name == "kube-state-metrics" else ctx.namespace
        assert d["metadata"]["namespace"] == ns and d["spec"]["replicas"] == pod.replicas
        assert container["image"] == pod.image
        assert container["resources"] == {"requests": {"cpu": pod.cpu_request, "memory": f"{pod.memory_request_mib}Mi"},
                                          "limits": {"cpu": pod.cpu_limit, "memory": f"{pod.memory_limit_mib}Mi"}}
        assert spec["nodeSelector"] == {"capplan.io/node-group": pod.node_group}
        # security like the API Deployment's
        assert spec["securityContext"]["runAsNonRoot"] and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        sc = container["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"] and sc["runAsNonRoot"]
        # scraped: annotations and a Service port named metrics on the exporter's port
        port = EXPORTER_PORTS[pod.name]
        annotations = d["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
        assert {"name": "metrics", "containerPort": port, "protocol": "TCP"} in container["ports"]
        service = _find(docs, "Service", pod.name)
        assert service["metadata"]["namespace"] == ns
        assert {"name": "metrics", "protocol": "TCP", "port": port, "targetPort": "metrics"} in service["spec"]["ports"]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= labels.items()
        assert d["spec"]["selector"]["matchLabels"].items() <= labels.items()
        # with the mesh, the injected exporters carry the packed sidecar size; kube-state-metrics is not injected
        sidecar = {k: v for k, v in annotations.items() if k.startswith("sidecar.istio.io/")}
        if ctx.mesh and ns == ctx.namespace:
            assert sidecar["sidecar.istio.io/proxyCPU"] == ctx.sidecar.cpu_request
        else:
            assert sidecar == {}


@pytest.mark.parametrize("case", CASES)
def test_exporters_read_their_uris_from_the_secret(case: str) -> None:
    ctx = case_context(case)
    wanted = {"redis-exporter": ("REDIS_ADDR", "redis-uri"), "mongodb-exporter": ("MONGODB_URI", "mongo-uri")}
    for d in _docs(case):
        if d["kind"] != "Deployment" or d["metadata"]["name"] not in wanted:
            continue
        (container,) = d["spec"]["template"]["spec"]["containers"]
        env_name, key = wanted[d["metadata"]["name"]]
        assert container["env"] == [{"name": env_name, "valueFrom": {"secretKeyRef": {"name": ctx.secret_name, "key": key}}}]
        assert d["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    mongo = _find(_docs(case), "Deployment", "mongodb-exporter")["spec"]["template"]["spec"]["containers"][0]
    # the collectors behind mongodb_ss_connections and mongodb_rs_members_health
    assert {"--collector.diagnosticdata", "--collector.replicasetstatus"} <= set(mongo["args"])


@pytest.mark.parametrize("case", CASES)
def test_kube_state_metrics_watches_what_the_alerts_read_and_nothing_else(case: str) -> None:
    ctx = case_context(case)
    docs = _docs(case)
    assert _find(docs, "Namespace", "monitoring")
    role = _find(docs, "ClusterRole", "kube-state-metrics")
    assert all(rule["verbs"] == ["list", "watch"] for rule in role["rules"])
    granted = {r for rule in role["rules"] for r in rule["resources"]}
    args = _find(docs, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]["containers"][0]["args"]
    resources = next(a for a in args if a.startswith("--resources=")).split("=", 1)[1].split(",")
    assert set(resources) == granted == {"deployments", "statefulsets", "horizontalpodautoscalers", "pods"}
    assert f"--namespaces={ctx.namespace}" in args
    binding = _find(docs, "ClusterRoleBinding", "kube-state-metrics")
    assert binding["roleRef"]["name"] == "kube-state-metrics"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "kube-state-metrics", "namespace": "monitoring"}]
    assert _find(docs, "ServiceAccount", "kube-state-metrics")["metadata"]["namespace"] == "monitoring"
    spec = _find(docs, "Deployment", "kube-state-metrics")["spec"]["template"]["spec"]
    assert spec["serviceAccountName"] == "kube-state-metrics"
    # every KSM metric the alerts read is of a watched kind
    kinds = {"kube_pod": "pods", "kube_deployment": "deployments", "kube_statefulset": "statefulsets",
             "kube_horizontalpodautoscaler": "horizontalpodautoscalers"}
    for rule in _rules(rendered(case)).values():
        for metric in promql_metrics(rule["expr"]):
            if metric.startswith("kube_"):
                assert next(v for k, v in kinds.items() if metric.startswith(k + "_")) in granted, metric


def test_no_exporters_no_exporters_file() -> None:
    ctx = example_context("tier1", "aws", exporters=())
    assert "k8s/exporters.yaml" not in outputs("k8s", ctx)
    assert "k8s/exporters.yaml" not in render(ctx, ["k8s"])


@pytest.mark.parametrize("provider", ["aws", "gcp", "azure"])
def test_the_route_class_label_the_latency_alert_reads_is_rendered(provider: str) -> None:
    """Istio's metrics carry no path: istio/telemetry.yaml adds the label the p95 rule filters on, on the
    Gateway the alert watches, classing exactly the streaming paths as streams."""
    from capplan.render import example_context, render

    ctx = example_context("tier3", provider)
    files = render(ctx, ["istio", "prometheus", "k8s"])
    telemetry = yaml.safe_load(files["istio/telemetry.yaml"])
    assert telemetry["apiVersion"] == "telemetry.istio.io/v1" and telemetry["kind"] == "Telemetry"
    gateway = next(d for d in yaml.safe_load_all(files["k8s/gateway.yaml"]) if d and d["kind"] == "Gateway")
    assert telemetry["spec"]["targetRefs"] == [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                                "name": gateway["metadata"]["name"]}]
    (override,) = telemetry["spec"]["metrics"][0]["overrides"]
    assert override["match"]["metric"] == "REQUEST_DURATION"
    (tag, spec), = override["tagOverrides"].items()
    for prefix in ctx.stream_path_prefixes:
        assert prefix in spec["value"]
    assert f'{tag}="api"' in files["prometheus/alerts.yml"]
