"""What the rendered files say: the settings the brief and the research ask for, taken from the context."""

from __future__ import annotations

import re

import pytest
import yaml

from validators import case_context, case_ids, rendered

CASES = case_ids()


def load(case: str, path: str) -> dict:
    return yaml.safe_load(rendered(case)[path])


@pytest.mark.parametrize("case", CASES)
def test_deployment(case: str) -> None:
    ctx = case_context(case)
    dep = load(case, "k8s/deployment.yaml")
    spec, pod = dep["spec"], dep["spec"]["template"]["spec"]
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert set(labels) == {f"app.kubernetes.io/{k}" for k in
                           ("name", "instance", "version", "component", "part-of", "managed-by")}
    assert set(spec["selector"]["matchLabels"]) == {"app.kubernetes.io/name", "app.kubernetes.io/instance"}
    assert spec["replicas"] == ctx.replicas
    assert pod["terminationGracePeriodSeconds"] == ctx.termination_grace_period_s
    # Pod Security Standards "restricted"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    sc = container["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False and sc["capabilities"]["drop"] == ["ALL"]
    assert sc["seccompProfile"]["type"] == "RuntimeDefault"
    assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    # probes on /health, port 3080
    (port,) = container["ports"]
    assert port["containerPort"] == ctx.api_port == 3080
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/health", "port": port["name"]}
    res = container["resources"]
    assert res["requests"]["memory"] == f"{ctx.memory_request_mib}Mi" == res["limits"]["memory"]  # request = limit
    assert res["limits"]["memory"] == f"{ctx.memory_limit_mib}Mi"
    assert container["lifecycle"]["preStop"]["sleep"]["seconds"] == ctx.prestop_drain_s
    # credentials only via secretKeyRef
    env = {e["name"]: e for e in container["env"]}
    wanted = {"MONGO_URI", "JWT_SECRET", "JWT_REFRESH_SECRET", "CREDS_KEY", "CREDS_IV"}
    wanted |= {"REDIS_URI"} if ctx.redis_enabled else set()
    wanted |= {"MEILI_MASTER_KEY"} if ctx.search else set()
    assert set(env) == wanted
    assert all("value" not in e and e["valueFrom"]["secretKeyRef"]["name"] == ctx.secret_name for e in env.values())


@pytest.mark.parametrize("case", CASES)
def test_configmap(case: str) -> None:
    ctx = case_context(case)
    data = load(case, "k8s/configmap.yaml")["data"]
    assert data["USE_REDIS"] == ("true" if ctx.redis_enabled else "false")
    assert data["MONGO_MAX_POOL_SIZE"] == str(ctx.mongo_max_pool_size)
    assert data["HTTP_KEEP_ALIVE_TIMEOUT_MS"] == str(ctx.keep_alive_timeout_ms)
    assert data["NODE_OPTIONS"] == f"--max-old-space-size={int(ctx.memory_limit_mib * 0.75)}"
    assert data["TRUST_PROXY"] == str(ctx.trust_proxy_hops)
    assert data["SEARCH"] == ("true" if ctx.search else "false")
    assert data["MEILI_HOST"].startswith("http://") if ctx.search else "MEILI_HOST" not in data
    assert all(isinstance(v, str) for v in data.values())


@pytest.mark.parametrize("case", CASES)
def test_hpa_and_pdb(case: str) -> None:
    ctx = case_context(case)
    hpa = load(case, "k8s/hpa.yaml")
    assert hpa["apiVersion"] == "autoscaling/v2"
    spec = hpa["spec"]
    assert (spec["minReplicas"], spec["maxReplicas"]) == (ctx.hpa_min_replicas, ctx.hpa_max_replicas)
    targets = {m["resource"]["name"]: m["resource"]["target"]["averageUtilization"] for m in spec["metrics"]}
    # CPU only unless memory scaling was asked for (a Node heap rarely shrinks)
    assert targets == {"cpu": ctx.hpa_cpu_target_pct, **({"memory": ctx.hpa_memory_target_pct} if ctx.hpa_memory else {})}
    assert spec["behavior"]["scaleUp"]["stabilizationWindowSeconds"] == ctx.hpa_scale_up_stabilization_s
    assert spec["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == ctx.hpa_scale_down_stabilization_s
    pdb = load(case, "k8s/pdb.yaml")
    assert pdb["apiVersion"] == "policy/v1" and "maxUnavailable" not in pdb["spec"]
    assert pdb["spec"]["minAvailable"] < spec["minReplicas"]


@pytest.mark.parametrize("case", CASES)
def test_service(case: str) -> None:
    ctx = case_context(case)
    svc = load(case, "k8s/service.yaml")
    # in-cluster only: the Gateway's Service is the load balancer (test_render_gateway.py)
    assert svc["spec"]["type"] == "ClusterIP"
    assert svc["metadata"].get("annotations", {}) == {}
    assert svc["spec"]["ports"][0]["port"] == ctx.service_port


@pytest.mark.parametrize("case", CASES)
def test_istio(case: str) -> None:
    ctx = case_context(case)
    files = rendered(case)
    assert "istio/istiod-values.yaml" in files
    if ctx.mesh:
        dr_text = files["istio/destinationrule.yaml"]
        assert "consecutiveErrors" not in dr_text
        outlier = yaml.safe_load(dr_text)["spec"]["trafficPolicy"]["outlierDetection"]
        assert outlier["consecutive5xxErrors"] == ctx.istio_consecutive_5xx
    # the routes (formerly a VirtualService) are Gateway API HTTPRoutes in k8s/gateway.yaml
    route = next(d for d in yaml.safe_load_all(files["k8s/gateway.yaml"])
                 if d["kind"] == "HTTPRoute" and d["metadata"]["name"] == ctx.app_name)
    streams, api = route["spec"]["rules"]
    prefixes = {m["path"]["value"] for m in streams["matches"]}
    assert {"/api/agents/chat", "/api/ask"} <= prefixes
    assert "retry" not in streams
    assert int(streams["timeouts"]["request"].rstrip("s")) > ctx.longest_stream_s
    assert api["matches"] == [{"path": {"type": "PathPrefix", "value": "/"}}]
    assert yaml.safe_load(files["istio/istiod-values.yaml"])["meshConfig"]["defaultHttpRetryPolicy"] == {"attempts": 0}


@pytest.mark.parametrize("case", CASES)
def test_compose(case: str) -> None:
    ctx = case_context(case)
    text = rendered(case)["compose/docker-compose.yml"]
    doc = yaml.safe_load(text)
    assert "version" not in doc
    api = doc["services"]["api"]
    assert api["deploy"]["replicas"] == ctx.replicas
    assert api["deploy"]["resources"]["limits"]["memory"] == f"{ctx.memory_limit_mib}M"
    assert "http://localhost:3080/health" in api["healthcheck"]["test"]
    env = api["environment"]
    assert env["USE_REDIS"] == str(ctx.redis_enabled).lower()
    assert env["MONGO_MAX_POOL_SIZE"] == str(ctx.mongo_max_pool_size)
    assert env["NODE_OPTIONS"] == f"--max-old-space-size={ctx.node_old_space_mib}"
    secrets = ("JWT_SECRET", "JWT_REFRESH_SECRET", "CREDS_KEY", "CREDS_IV") + (
        ("MEILI_MASTER_KEY",) if ctx.search else ())
    for name in secrets:
        assert re.fullmatch(r"\$\{[A-Z_]+:\?[^}]*\}", env[name]), name
    mongos = [s for s in doc["services"] if s.startswith("mongodb-")]
    # managed MongoDB / Redis are outside the compose file: their URIs come from the environment
    assert len(mongos) == (ctx.mongo_members if ctx.mongo_mode == "self_hosted" else 0)
    for name in mongos:
        command = doc["services"][name]["command"]
        assert command[command.index("--replSet") + 1] == "rs0"
        assert "ports" not in doc["services"][name]  # never published
    if ctx.mongo_mode == "self_hosted":
        assert env["MONGO_URI"].endswith("?replicaSet=rs0")
    else:
        assert env["MONGO_URI"] == "${MONGO_URI:?set MONGO_URI}"
    if ctx.redis_enabled and ctx.redis_mode == "self_hosted":
        assert "--appendonly yes" in " ".join(doc["services"]["redis"]["command"])
    else:
        assert "redis" not in doc["services"]
        assert env.get("REDIS_URI") == ("${REDIS_URI:?set REDIS_URI}" if ctx.redis_enabled else None)
    assert ("meilisearch" in doc["services"]) == (ctx.search is not None)
    if ctx.redis_enabled and ctx.queue_workers > 0:
        assert doc["services"]["bull-board"]["ports"] == [f"127.0.0.1:{ctx.bull_board_host_port}:{ctx.bull_board_port}"]
        assert "QUEUE_WORKERS" in env
    else:
        assert "bull-board" not in doc["services"] and "QUEUE_WORKERS" not in env
    named = {v.split(":")[0] for s in doc["services"].values() for v in s.get("volumes", []) if isinstance(v, str)}
    assert named == set(doc.get("volumes") or {})


@pytest.mark.parametrize("case", CASES)
def test_nginx(case: str) -> None:
    ctx = case_context(case)
    conf = rendered(case)["compose/nginx.conf"]
    for directive in ("least_conn;", f"keepalive {ctx.nginx_upstream_keepalive};", "proxy_http_version 1.1;",
                      "proxy_set_header Connection '';", "proxy_buffering off;", "proxy_cache off;",
                      f"proxy_read_timeout {ctx.proxy_read_timeout_s}s;",
                      f"proxy_send_timeout {ctx.proxy_read_timeout_s}s;",
                      f"client_max_body_size {ctx.body_limit_mb}m;",
                      "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
                      "proxy_set_header X-Forwarded-Proto $scheme;", "server api:3080 "):
        assert directive in conf, directive
    assert re.search(r"(?m)^events \{", conf)


@pytest.mark.parametrize("case", CASES)
def test_prometheus_alerts(case: str) -> None:
    ctx = case_context(case)
    rules = {r["alert"]: r for g in load(case, "prometheus/alerts.yml")["groups"] for r in g["rules"]}
    # stock LibreChat exports no metrics and ships no queue: no Bull queue alert, whatever queue_workers says
    expected = {"LibreChatHighCPU", "LibreChatHighMemory", "LibreChatSlowResponses", "LibreChatHighErrorRate",
                "LibreChatHPAAtMax", "LibreChatMongoDown"} | ({"LibreChatRedisDown"} if ctx.redis_enabled else set())
    assert expected <= set(rules) and "LibreChatQueueBacklog" not in rules
    assert ("LibreChatRedisDown" in rules) == ctx.redis_enabled
    for rule in rules.values():
        assert rule["for"].endswith("m") and rule["labels"]["severity"] in {"warning", "critical"}
        assert rule["annotations"]["summary"]
    assert rules["LibreChatHighCPU"]["expr"].rstrip().endswith(f"> {ctx.cpu_alert_pct / 100}")
    assert rules["LibreChatHighMemory"]["expr"].rstrip().endswith(f"> {ctx.memory_alert_pct / 100}")
    assert rules["LibreChatSlowResponses"]["expr"].rstrip().endswith(f"> {ctx.p95_latency_slo_s}")
    assert "histogram_quantile(0.95," in rules["LibreChatSlowResponses"]["expr"]
    assert rules["LibreChatHighErrorRate"]["expr"].rstrip().endswith(f"> {ctx.error_rate_alert}")
    # the series exist: Istio's gateway metrics, not express-prom-bundle's; no bull_queue_* exporter
    assert "istio_request_duration_milliseconds_bucket{" in rules["LibreChatSlowResponses"]["expr"]
    assert "istio_requests_total{" in rules["LibreChatHighErrorRate"]["expr"]
    assert not any(old in r["expr"] for r in rules.values() for old in ("http_request_duration_seconds", "bull_queue"))


def test_different_contexts_change_the_manifests() -> None:
    a, b = rendered("tier1-aws"), rendered("tier3-aws")
    assert set(b) - set(a) == {"k8s/mongodb.yaml"}  # tier3 runs its own sharded MongoDB
    assert all(a[p] != b[p] for p in a)  # every file reflects the sizing (at least its header)
