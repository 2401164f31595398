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
    ("deprecated", "istio/virtualservice.yaml", "networking.istio.io/v1\n", "networking.istio.io/v1alpha3\n"),
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
    ("stream-timeout", "istio/virtualservice.yaml", 'timeout: "900s"', 'timeout: "300s"'),
    ("stream-retries", "istio/virtualservice.yaml", "attempts: 0", "attempts: 3"),
    ("stream-retries", "istio/virtualservice.yaml", "      retries:\n        attempts: 0\n", ""),
    ("stream-retries", "istio/virtualservice.yaml", 'prefix: "/api/ask"\n', 'prefix: "/api/asks"\n'),
    ("sse-proxy", "compose/nginx.conf", "proxy_buffering off;", "proxy_buffering on;"),
    ("sse-proxy", "compose/nginx.conf", "proxy_http_version 1.1;", ""),
    ("sse-proxy", "compose/nginx.conf", "proxy_set_header Connection '';", ""),
    ("duration", "istio/virtualservice.yaml", 'timeout: "120s"', 'timeout: "0s"'),
    ("duration", "istio/destinationrule.yaml", 'interval: "30s"', 'interval: "30 seconds"'),
    ("node-pool", "cluster/eksctl.yaml", "desiredCapacity: 3", "desiredCapacity: 9"),
]


@pytest.mark.parametrize("rule,path,old,new", BROKEN, ids=[f"{b[0]}:{b[1]}:{i}" for i, b in enumerate(BROKEN)])
def test_rule_catches_broken_file(rule: str, path: str, old: str, new: str) -> None:
    files = mutate(path, old, new)
    hit = lint(files, case_context(CASE))
    assert rule in {i.rule for i in hit}, hit
    assert {i.path for i in hit if i.rule == rule} == {path}


def test_every_rule_has_a_broken_example() -> None:
    covered = {b[0] for b in BROKEN}
    assert covered == set(RULES)


def test_stream_rules_work_from_the_file_marker_without_a_context() -> None:
    files = mutate("compose/nginx.conf", "proxy_read_timeout 900s;", "proxy_read_timeout 300s;")
    assert "stream-timeout" in rules_hit(files, with_ctx=False)
    files = mutate("istio/virtualservice.yaml", 'timeout: "900s"', 'timeout: "7m"')
    assert "stream-timeout" in rules_hit(files, with_ctx=False)


def test_catch_all_route_before_stream_route_is_caught() -> None:
    files = rendered(CASE)
    text = files["istio/virtualservice.yaml"]
    streams = text[text.index("    - name: streams"):text.index("    - name: api")]
    api = text[text.index("    - name: api"):]
    files["istio/virtualservice.yaml"] = text[:text.index("    - name: streams")] + api + streams
    assert "stream-retries" in rules_hit(files)


def test_non_secret_names_with_secret_words_are_allowed() -> None:
    files = mutate("k8s/configmap.yaml", "  SEARCH:", '  REDIS_KEY_PREFIX: "librechat"\n'
                   '  REFRESH_TOKEN_EXPIRY: "604800000"\n  SEARCH:')
    assert rules_hit(files) == set()


def test_aks_and_gke_node_pool_rules() -> None:
    azure = "tier2-azure"
    files = mutate("cluster/aks-managedcluster.yaml", "- name: apipool", "- name: api-pool-for-librechat", azure)
    assert rules_hit(files, case=azure) == {"node-pool"}
    files = mutate("cluster/aks-managedcluster.yaml", "maxCount: 8", "maxCount: 2", azure)
    assert rules_hit(files, case=azure) == {"node-pool"}
    gcp = "tier2-gcp"
    files = mutate("cluster/gke-flags.yaml", "--machine-type:", "--machine_type:", gcp)
    assert rules_hit(files, case=gcp) == {"node-pool"}
    files = mutate("cluster/gke-flags.yaml", "--total-max-nodes: 8", "--total-max-nodes: 2", gcp)
    assert rules_hit(files, case=gcp) == {"node-pool"}


@pytest.mark.parametrize("text,value", [("500m", 0.5), ("1", 1.0), ("1.5", 1.5), ("512Mi", 512 * 2**20),
                                        ("2Gi", 2 * 2**30), ("1e3", 1000.0), ("2Gb", None), ("", None)])
def test_parse_quantity(text: str, value: float | None) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text,value", [("30s", 30.0), ("1h30m", 5400.0), ("100ms", 0.1), ("0s", 0.0),
                                        ("30", None), ("30 s", None), ("", None)])
def test_parse_go_duration(text: str, value: float | None) -> None:
    assert parse_go_duration(text) == value
