"""capplan's own lint rules: the clean render has no issue; each rule catches a deliberately broken file."""

from __future__ import annotations

import pytest

from capplan.render import LintIssue, lint
from capplan.render.lint import RULES, parse_go_duration, parse_quantity
from validators import case_context, case_ids, rendered

CASE = "tier2-aws"


def mutate(path: str, old: str, new: str, case: str = CASE) -> dict[str, str]:
    files = rendered(case)
    assert old in files[path], f"{old!r} not in {path}: the mutation would test nothing"
    files[path] = files[path].replace(old, new, 1)
    return files


def rules_hit(files: dict[str, str], with_ctx: bool = True, case: str = CASE) -> set[str]:
    return {issue.rule for issue in lint(files, case_context(case) if with_ctx else None)}


@pytest.mark.parametrize("case", case_ids())
def test_clean_render_has_no_issues(case: str) -> None:
    assert lint(rendered(case), case_context(case)) == []
    assert lint(rendered(case)) == []  # without a context the files' own markers are used


def test_issue_is_readable_and_sorted() -> None:
    files = mutate("k8s/deployment.yaml", 'memory: "4096Mi"', 'memory: "4Gb"')
    issues = lint(files)
    assert issues == sorted(issues) and all(isinstance(i, LintIssue) for i in issues)
    assert str(issues[0]).startswith("k8s/deployment.yaml: [quantity]")


BROKEN = [
    # (rule, path, old, new)
    ("yaml", "k8s/service.yaml", "  ports:\n", "  ports: [\n"),
    ("quantity", "k8s/deployment.yaml", 'memory: "4096Mi"', 'memory: "4Gb"'),
    ("quantity", "k8s/deployment.yaml", 'memory: "4096Mi"', 'memory: "512m"'),
    ("quantity", "k8s/deployment.yaml", 'cpu: "2"', 'cpu: "2 cores"'),
    ("quantity", "k8s/deployment.yaml", 'cpu: "2"\n              memory', 'cpu: "3"\n              memory'),
    ("hpa-policy", "k8s/hpa.yaml", "- type: Pods\n          value: 4", "- type: Pod\n          value: 4"),
    ("hpa-policy", "k8s/hpa.yaml", "selectPolicy: Max", "selectPolicy: Maximum"),
    ("hpa-policy", "k8s/hpa.yaml", "periodSeconds: 60", "periodSeconds: 3600"),
    ("selector", "k8s/deployment.yaml", 'matchLabels: {"app.kubernetes.io/instance"',
     'matchLabels: {"tier": "x", "app.kubernetes.io/instance"'),
    ("selector", "k8s/service.yaml", '"app.kubernetes.io/name": "librechat"}', '"app.kubernetes.io/name": "chat"}'),
    ("selector", "k8s/pdb.yaml", 'matchLabels: {', 'matchLabels: {"app.kubernetes.io/version": "v0.8.1", '),
    ("selector", "k8s/hpa.yaml", '    name: "librechat"\n  minReplicas', '    name: "libre"\n  minReplicas'),
    ("pdb", "k8s/pdb.yaml", "minAvailable: 2", "minAvailable: 2\n  maxUnavailable: 1"),
    ("pdb", "k8s/pdb.yaml", "minAvailable: 2", "minAvailable: 3"),
    ("pdb", "k8s/pdb.yaml", "minAvailable: 2", 'minAvailable: "100%"'),
    ("dns-1123", "k8s/configmap.yaml", 'name: "librechat"', 'name: "LibreChat"'),
    ("dns-1123", "k8s/service.yaml", 'name: "librechat"', 'name: "1chat"'),
    ("dns-1123", "k8s/hpa.yaml", 'namespace: "librechat"', 'namespace: "libre_chat"'),
    ("dns-1123", "k8s/deployment.yaml", "- name: api", "- name: API"),
    ("deprecated", "istio/destinationrule.yaml", "consecutive5xxErrors:", "consecutiveErrors:"),
    ("deprecated", "k8s/gateway.yaml", "gateway.networking.k8s.io/v1\nkind: HTTPRoute",
     "gateway.networking.k8s.io/v1beta1\nkind: HTTPRoute"),
    ("deprecated", "compose/docker-compose.yml", 'name: "librechat"\n', 'version: "3.8"\nname: "librechat"\n'),
    ("deprecated", "k8s/hpa.yaml", "autoscaling/v2\n", "autoscaling/v2beta2\n"),
    ("literal-secret", "k8s/deployment.yaml", "          env:\n",
     '          env:\n            - name: JWT_SECRET\n              value: "hunter2"\n'),
    ("literal-secret", "k8s/deployment.yaml", "          env:\n",
     '          env:\n            - name: MONGO_URI\n              value: "mongodb://app:pw@mongo:27017/db"\n'),
    ("literal-secret", "k8s/configmap.yaml", "  SEARCH:", '  OPENAI_API_KEY: "sk-live"\n  SEARCH:'),
    ("literal-secret", "compose/docker-compose.yml", '"${JWT_SECRET:?set JWT_SECRET}"', '"hunter2"'),
    ("literal-secret", "compose/docker-compose.yml", '"${REDIS_PASSWORD:?set REDIS_PASSWORD}"', '"pw"'),
    ("stream-timeout", "compose/nginx.conf", "proxy_read_timeout 900s;", "proxy_read_timeout 60s;"),
    ("stream-timeout", "compose/nginx.conf", "proxy_read_timeout 900s;", ""),
    ("stream-timeout", "k8s/gateway.yaml", 'request: "900s"', 'request: "300s"'),
    # a prefix the stream rule no longer takes is served by the catch-all rule and its 120 s timeout
    ("stream-timeout", "k8s/gateway.yaml", 'value: "/api/ask"\n', 'value: "/api/asks"\n'),
    ("stream-timeout", "k8s/gateway.yaml", "tcp.idle_timeout.seconds=900", "tcp.idle_timeout.seconds=350"),
    ("stream-timeout", "istio/istiod-values.yaml", 'terminationDrainDuration: "480s"',
     'terminationDrainDuration: "5s"'),
    ("stream-retries", "istio/istiod-values.yaml", "attempts: 0", "attempts: 2"),
    ("stream-retries", "istio/istiod-values.yaml", "  defaultHttpRetryPolicy:\n    attempts: 0\n", ""),
    ("stream-retries", "k8s/gateway.yaml", '        request: "900s"\n',
     '        request: "900s"\n      retry:\n        attempts: 2\n'),
    ("sse-proxy", "compose/nginx.conf", "proxy_buffering off;", "proxy_buffering on;"),
    ("sse-proxy", "compose/nginx.conf", "proxy_http_version 1.1;", ""),
    ("sse-proxy", "compose/nginx.conf", "proxy_set_header Connection '';", ""),
    ("duration", "k8s/gateway.yaml", 'request: "120s"', 'request: "120 s"'),
    ("duration", "k8s/gateway.yaml", 'request: "120s"', 'request: "120s"\n        backendRequest: "300s"'),
    ("duration", "istio/istiod-values.yaml", 'terminationDrainDuration: "480s"', 'terminationDrainDuration: "480"'),
    ("duration", "istio/destinationrule.yaml", 'interval: "30s"', 'interval: "30 seconds"'),
    ("node-pool", "cluster/eksctl.yaml", "desiredCapacity: 3", "desiredCapacity: 9"),
    ("gateway", "k8s/gateway.yaml", '        certificateRefs:\n          - group: ""\n            kind: "Secret"\n'
     '            name: "librechat-tls"\n', ""),
    ("gateway", "k8s/gateway.yaml", '      filters:\n        - type: "RequestRedirect"\n          requestRedirect:\n'
     '            scheme: "https"\n            statusCode: 301\n', '      backendRefs:\n        - name: "librechat"\n'
     '          port: 80\n'),
    ("gateway", "k8s/gateway.yaml", "  service: |", "  services: |"),
    ("gateway", "k8s/gateway.yaml", "      maxReplicas: 5", "      maxReplicas: 1"),
    ("gateway", "k8s/gateway.yaml", "    spec:\n      template:", "    spec:\n      replicas: 2\n      template:"),
    ("gateway", "k8s/gateway.yaml", 'name: "librechat-gateway-params"\n  listeners:',
     'name: "librechat-gw-params"\n  listeners:'),
    ("gateway", "k8s/gateway.yaml", "          port: 80\n      timeouts:", "          port: 8080\n      timeouts:"),
    ("gateway", "k8s/gateway.yaml", 'sectionName: "https"', 'sectionName: "tls"'),
    ("gateway", "k8s/gateway.yaml", "tcp.idle_timeout.seconds=900", "tcp.idle_timeout.seconds=9000"),
    ("quantity", "k8s/gateway.yaml", '"memory": "128Mi"}', '"memory": "128MB"}'),
    ("helm-values", "istio/istiod-values.yaml", "autoscaleMax: 5", "autoscaleMax: 1"),
    ("helm-values", "istio/istiod-values.yaml", 'tag: "1.27.6"', 'tag: "1.27.3"'),
    ("helm-values", "istio/istiod-values.yaml", 'minProtocolVersion: "TLSV1_3"', 'minProtocolVersion: "TLS1.3"'),
    ("helm-values", "istio/istiod-values.yaml", "gateways:\n", "gateway:\n"),
    ("quantity", "istio/istiod-values.yaml", '"memory": "2048Mi"}', '"memory": "2Gb"}'),
    ("sidecar", "k8s/deployment.yaml", 'sidecar.istio.io/proxyCPU: "100m"', 'sidecar.istio.io/proxyCPU: "200m"'),
    ("sidecar", "k8s/deployment.yaml", 'sidecar.istio.io/proxyMemory: "128Mi"', 'sidecar.istio.io/proxyMemory: "128 MiB"'),
    ("sidecar", "k8s/deployment.yaml", '        sidecar.istio.io/proxyCPU: "100m"\n', ""),
    ("nat", "cluster/eksctl.yaml", "  nat:\n    gateway: HighlyAvailable", "  nat:\n    gateway: Disable"),
    ("alert-absent", "prometheus/alerts.yml", "absent(redis_up{", "max(redis_up{"),
]


@pytest.mark.parametrize("rule,path,old,new", BROKEN, ids=[f"{b[0]}:{b[1]}:{i}" for i, b in enumerate(BROKEN)])
def test_rule_catches_broken_file(rule: str, path: str, old: str, new: str) -> None:
    files = mutate(path, old, new)
    hit = lint(files, case_context(CASE))
    assert rule in {i.rule for i in hit}, hit
    assert {i.path for i in hit if i.rule == rule} == {path}


def test_every_rule_has_a_broken_example() -> None:
    from test_render_data import DATA_BROKEN   # the data-tier rules' examples (other contexts than CASE)

    covered = {b[0] for b in BROKEN} | {b[0] for b in DATA_BROKEN}
    assert covered == set(RULES)


def test_stream_rules_work_from_the_file_marker_without_a_context() -> None:
    files = mutate("compose/nginx.conf", "proxy_read_timeout 900s;", "proxy_read_timeout 300s;")
    assert "stream-timeout" in rules_hit(files, with_ctx=False)
    files = mutate("k8s/gateway.yaml", 'request: "900s"', 'request: "7m"')
    assert "stream-timeout" in rules_hit(files, with_ctx=False)
    files = mutate("istio/istiod-values.yaml", 'terminationDrainDuration: "480s"', 'terminationDrainDuration: "7m"')
    assert "stream-timeout" in rules_hit(files, with_ctx=False)


def test_http_route_precedence_not_rule_order_decides_which_rule_serves_a_stream() -> None:
    # Gateway API: the longest matching prefix wins, so the catch-all first is harmless...
    files = rendered(CASE)
    text = files["k8s/gateway.yaml"]
    streams = text[text.index('    - name: "streams"'):text.index('    - name: "api"')]
    api = text[text.index('    - name: "api"'):]
    files["k8s/gateway.yaml"] = text[:text.index('    - name: "streams"')] + api + streams
    assert rules_hit(files) == set()
    # ...but an exact match on a stream path beats the stream rule's prefix
    files["k8s/gateway.yaml"] = files["k8s/gateway.yaml"].replace(
        '            type: "PathPrefix"\n            value: "/"', '            type: "Exact"\n            value: "/api/ask"')
    assert "stream-timeout" in rules_hit(files)


def test_azure_load_balancer_idle_timeout_rules() -> None:
    azure = "tier2-azure"
    key = "service.beta.kubernetes.io/azure-load-balancer-tcp-idle-timeout: "
    assert rules_hit(mutate("k8s/gateway.yaml", key + '"15"', key + '"5"', azure), case=azure) == {"stream-timeout"}
    assert rules_hit(mutate("k8s/gateway.yaml", key + '"15"', key + '"200"', azure), case=azure) == {"gateway"}


def test_sidecar_rule_without_the_istiod_values_compares_with_the_context() -> None:
    files = {p: t for p, t in mutate("k8s/deployment.yaml", 'sidecar.istio.io/proxyMemoryLimit: "1024Mi"',
                                     'sidecar.istio.io/proxyMemoryLimit: "512Mi"').items() if p.startswith("k8s/")}
    assert rules_hit(files) == {"sidecar"}
    assert rules_hit(files, with_ctx=False) == set()  # nothing to compare with


def test_a_pod_may_opt_out_of_injection() -> None:
    files = mutate("k8s/deployment.yaml", "      annotations:\n        sidecar.istio.io/proxyCPU",
                   '      annotations:\n        sidecar.istio.io/inject: "false"\n        sidecar.istio.io/proxyCPU')
    files["k8s/deployment.yaml"] = "\n".join(line for line in files["k8s/deployment.yaml"].splitlines()
                                              if "sidecar.istio.io/proxy" not in line) + "\n"
    assert rules_hit(files) == set()


def test_non_secret_names_with_secret_words_are_allowed() -> None:
    files = mutate("k8s/configmap.yaml", "  SEARCH:", '  REDIS_KEY_PREFIX: "librechat"\n'
                   '  REFRESH_TOKEN_EXPIRY: "604800000"\n  SEARCH:')
    assert rules_hit(files) == set()


def test_aks_and_gke_node_pool_rules() -> None:
    azure = "tier2-azure"
    files = mutate("cluster/aks-managedcluster.yaml", '- name: "app"', '- name: "api-pool-for-librechat"', azure)
    assert rules_hit(files, case=azure) == {"node-pool"}
    files = mutate("cluster/aks-managedcluster.yaml", "maxCount: 8", "maxCount: 2", azure)
    assert rules_hit(files, case=azure) == {"node-pool"}
    gcp = "tier2-gcp"
    files = mutate("cluster/gke-flags.yaml", "--machine-type:", "--machine_type:", gcp)
    assert rules_hit(files, case=gcp) == {"node-pool"}
    files = mutate("cluster/gke-flags.yaml", "--max-nodes: 3", "--max-nodes: 2", gcp)  # x 3 zones < 8
    assert rules_hit(files, case=gcp) == {"node-pool"}


@pytest.mark.parametrize("text,value", [("500m", 0.5), ("1", 1.0), ("1.5", 1.5), ("512Mi", 512 * 2**20),
                                        ("2Gi", 2 * 2**30), ("1e3", 1000.0), ("2Gb", None), ("", None)])
def test_parse_quantity(text: str, value: float | None) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text,value", [("30s", 30.0), ("1h30m", 5400.0), ("100ms", 0.1), ("0s", 0.0),
                                        ("30", None), ("30 s", None), ("", None)])
def test_parse_go_duration(text: str, value: float | None) -> None:
    assert parse_go_duration(text) == value
