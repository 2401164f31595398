"""The data tier and the compose host as rendered: Meilisearch, self-hosted (sharded) MongoDB, one Docker host.

k8s/meilisearch.yaml and k8s/mongodb.yaml pass the strict Kubernetes schemas and capplan's lint; every shard
member lands on its own data node; the WiredTiger cache follows the container limit; config servers and
mongos exist only when sharded; credentials are Secret references. The compose file runs only the services
the plan self-hosts (managed MongoDB/Redis come in as ${..._URI:?}), passes the compose-spec schema and
Compose v2's `config`, and its nginx serves TLS 1.3 on 443 (`nginx -t` with a throwaway certificate).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.render import lint, render
from capplan.render import engine
from capplan.render.context import (
    NodeGroupSpec,
    PodSpec,
    RenderContext,
    example_context,
    template_vars,
    wiredtiger_cache_gib,
)
from validators import (
    COMPOSE_SECRETS_ENV,
    PROVIDERS,
    compose_config_errors,
    compose_schema_errors,
    crossplane_errors,
    k8s_errors,
    nginx_errors,
    write_tree,
    yaml_docs,
)

DATA_GROUP = "capplan.io/node-group"


def _pod(name: str, cpu: int, memory: int, replicas: int = 1, disk: int = 0, group: str = "app") -> PodSpec:
    return PodSpec(name=name, replicas=replicas, replicas_max=replicas, cpu_request_millicores=cpu,
                   cpu_limit_millicores=cpu * 2, memory_request_mib=memory, memory_limit_mib=memory, disk_gib=disk,
                   node_group=group)


def _replica_set_context(provider: str = "aws", **overrides) -> RenderContext:
    """Self-hosted MongoDB without sharding: one replica set on the data group."""
    base = example_context("tier1", provider)
    values = dict(mongo_mode="self_hosted", mongo_shards=1,
                  mongo_member=_pod("mongodb-shard", 2000, 8192, replicas=3, disk=60, group="data"),
                  node_groups=base.node_groups + (NodeGroupSpec(name="data", instance_type="r6i.large", min_nodes=3,
                                                                max_nodes=3, role="data"),))
    values.update(overrides)
    return example_context("tier1", provider, **values)


def _mesh_sharded_context() -> RenderContext:
    tier2 = example_context("tier2", "aws")
    return example_context("tier3", "aws", mesh=True, sidecar=tier2.sidecar)


#: The host the compose tiers run on: every service sized (capplan.deploy fills these from the plan).
COMPOSE_SIZED = (_pod("api", 1000, 2048, replicas=2), _pod("nginx", 250, 256), _pod("mongodb-0", 500, 4096, disk=50),
                 _pod("mongodb-1", 500, 4096, disk=50), _pod("mongodb-2", 500, 4096, disk=50),
                 _pod("redis", 1000, 1280, disk=10), _pod("librechat-meilisearch", 500, 2048, disk=10),
                 _pod("bull-board", 100, 128))


def _compose_self_hosted(**overrides) -> RenderContext:
    values = dict(kubernetes=False, mongo_mode="self_hosted", redis_mode="self_hosted", compose_services=COMPOSE_SIZED,
                  host_instance_type="m6i.2xlarge")
    values.update(overrides)
    return example_context("tier1", "aws", **values)


K8S_CASES: dict[str, RenderContext] = {
    **{f"{tier}-{p}": example_context(tier, p) for tier in ("tier3", "microservices") for p in PROVIDERS},
    "replica-set-aws": _replica_set_context(),
    "replica-set-gcp-k8s130": _replica_set_context("gcp", kubernetes_version="1.30"),
    "tier3-azure-k8s137": example_context("tier3", "azure", kubernetes_version="1.37"),
    "tier3-aws-mesh": _mesh_sharded_context(),
    "tier2-aws-mesh": example_context("tier2", "aws"),   # Meilisearch only, sidecar-injected
}
SHARDED = [c for c, ctx in K8S_CASES.items() if ctx.mongo_member is not None and ctx.mongo_shards > 1]
WITH_MONGO = [c for c, ctx in K8S_CASES.items() if ctx.mongo_member is not None]

COMPOSE_CASES: dict[str, RenderContext] = {
    "self-hosted": _compose_self_hosted(),
    "self-hosted-unsized": _compose_self_hosted(compose_services=(), host_instance_type=None),
    "managed": example_context("tier1", "aws", kubernetes=False),
    "managed-no-search": example_context("tier1", "aws", kubernetes=False, search=None),
    "tier0-no-redis": example_context("tier0", "gcp", kubernetes=False),
    "tls-name": _compose_self_hosted(tls_secret_name="chat-example-com"),
}


# --- helpers -----------------------------------------------------------------------------------------
def render_file(ctx: RenderContext, path: str) -> str:
    """One file as the engine renders it (header included), without the other k8s templates."""
    env = engine._environment(str(data_dir("templates")))
    body = env.get_template(f"{path}.j2").render(template_vars(ctx))
    return engine.header(path, path.split("/")[0], ctx) + body.lstrip("\n")


def data_files(ctx: RenderContext) -> dict[str, str]:
    paths = [p for p in engine.outputs("k8s", ctx) if p in ("k8s/meilisearch.yaml", "k8s/mongodb.yaml")]
    return {p: render_file(ctx, p) for p in paths}


def docs_by_kind(text: str) -> dict[tuple[str, str], dict]:
    return {(d["kind"], d["metadata"]["name"]): d for d in yaml_docs(text)}


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def container(doc: dict, name: str) -> dict:
    return next(c for c in pod_spec(doc)["containers"] if c["name"] == name)


def flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def mongo_docs(ctx: RenderContext) -> dict[tuple[str, str], dict]:
    return docs_by_kind(render_file(ctx, "k8s/mongodb.yaml"))


def init_plan(docs: dict[tuple[str, str], dict]) -> dict:
    script = docs[("ConfigMap", "mongodb-init")]["data"]["init.js"]
    m = re.search(r"^const plan = (\{.*\});$", script, re.MULTILINE)
    assert m, "init.js has no plan line"
    return json.loads(m.group(1))


def compose_doc(ctx: RenderContext) -> dict:
    return yaml.safe_load(render(ctx, ["compose"])["compose/docker-compose.yml"])


# --- which files exist --------------------------------------------------------------------------------
def test_outputs_follow_the_plan() -> None:
    assert "k8s/mongodb.yaml" in engine.outputs("k8s", example_context("tier3", "aws"))
    assert "k8s/mongodb.yaml" not in engine.outputs("k8s", example_context("tier1", "aws"))   # managed
    assert "k8s/meilisearch.yaml" not in engine.outputs("k8s", example_context("tier1", "aws", search=None))


# --- validators ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", list(K8S_CASES))
def test_data_manifests_pass_kubernetes_validate_strict(case: str) -> None:
    ctx = K8S_CASES[case]
    files = data_files(ctx)
    assert "k8s/meilisearch.yaml" in files and ("k8s/mongodb.yaml" in files) == (case in WITH_MONGO)
    errors = [f"{path}: {doc['kind']}/{doc['metadata']['name']}: {e}" for path, text in files.items()
              for doc in yaml_docs(text) for e in k8s_errors(doc, ctx.kubernetes_version)]
    assert errors == []


@pytest.mark.parametrize("case", list(K8S_CASES))
def test_data_manifests_pass_capplan_lint(case: str) -> None:
    ctx = K8S_CASES[case]
    files = data_files(ctx)
    assert lint(files, ctx) == []
    assert lint(files) == []


# --- MongoDB ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", WITH_MONGO)
def test_every_shard_member_has_its_own_data_node(case: str) -> None:
    ctx = K8S_CASES[case]
    member = ctx.mongo_member
    assert member is not None
    data_groups = {g.name for g in ctx.node_groups if g.role == "data"}
    assert member.node_group in data_groups
    docs = mongo_docs(ctx)
    shard_pods = []
    for i in range(ctx.mongo_shards):
        sts = docs[("StatefulSet", f"mongodb-shard{i}")]
        spec = pod_spec(sts)
        shard_pods.append(sts["spec"]["template"]["metadata"]["labels"])
        assert sts["spec"]["replicas"] == member.replicas
        assert spec["nodeSelector"] == {DATA_GROUP: member.node_group}
        assert {"key": DATA_GROUP, "operator": "Equal", "value": member.node_group,
                "effect": "NoSchedule"} in spec["tolerations"]
        required = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        assert [t["topologyKey"] for t in required] == ["kubernetes.io/hostname"]
        zones = [t for t in spec["topologySpreadConstraints"] if t["topologyKey"] == "topology.kubernetes.io/zone"]
        assert zones and zones[0]["whenUnsatisfiable"] == "DoNotSchedule"
        assert sts["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
        claim = sts["spec"]["volumeClaimTemplates"][0]
        assert claim["spec"]["resources"]["requests"]["storage"] == f"{member.disk_gib}Gi"
        assert container(sts, "mongod")["resources"]["limits"]["memory"] == f"{member.memory_limit_mib}Mi"
        assert docs[("Service", f"mongodb-shard{i}")]["spec"]["clusterIP"] == "None"
    # the anti-affinity selects the members of every shard: no two members (of any shard) share a node
    selector = required[0]["labelSelector"]["matchLabels"]
    assert all(all(labels.get(k) == v for k, v in selector.items()) for labels in shard_pods)


@pytest.mark.parametrize("case", WITH_MONGO)
def test_replica_sets_and_routers_match_the_sharding(case: str) -> None:
    ctx = K8S_CASES[case]
    docs = mongo_docs(ctx)
    sharded = ctx.mongo_shards > 1
    argv = container(docs[("StatefulSet", "mongodb-shard0")], "mongod")["command"]
    assert ("--shardsvr" in argv) == sharded
    assert flag(argv, "--replSet") == ("shard0" if sharded else "rs0")
    assert (("StatefulSet", "mongodb-configsvr") in docs) == sharded
    assert (("Deployment", "mongos") in docs) == sharded and (("Service", "mongos") in docs) == sharded
    statefulsets = sorted(name for kind, name in docs if kind == "StatefulSet")
    assert statefulsets == sorted([f"mongodb-shard{i}" for i in range(ctx.mongo_shards)]
                                  + (["mongodb-configsvr"] if sharded else []))
    if not sharded:
        return
    cfg, mongos = ctx.mongo_config_server, ctx.mongos
    assert cfg is not None and mongos is not None
    configsvr = docs[("StatefulSet", "mongodb-configsvr")]
    cfg_argv = container(configsvr, "mongod")["command"]
    assert "--configsvr" in cfg_argv and flag(cfg_argv, "--replSet") == "cfg"
    assert configsvr["spec"]["replicas"] == cfg.replicas
    assert pod_spec(configsvr)["nodeSelector"] == {DATA_GROUP: cfg.node_group}
    assert "tolerations" not in pod_spec(configsvr)
    router = docs[("Deployment", "mongos")]
    assert router["spec"]["replicas"] == mongos.replicas
    assert pod_spec(router)["nodeSelector"] == {DATA_GROUP: mongos.node_group}
    configdb = flag(container(router, "mongos")["command"], "--configdb")
    ns = ctx.namespace
    assert configdb == "cfg/" + ",".join(
        f"mongodb-configsvr-{j}.mongodb-configsvr.{ns}.svc.cluster.local:{ctx.mongo_port}" for j in range(cfg.replicas))
    assert docs[("Service", "mongos")]["spec"]["ports"][0]["port"] == ctx.mongo_port


@pytest.mark.parametrize("case", WITH_MONGO)
def test_init_job_initiates_every_set_and_adds_every_shard(case: str) -> None:
    ctx = K8S_CASES[case]
    docs = mongo_docs(ctx)
    plan = init_plan(docs)
    sharded = ctx.mongo_shards > 1
    shards = [f"shard{i}" for i in range(ctx.mongo_shards)] if sharded else ["rs0"]
    assert [s["_id"] for s in plan["sets"]] == shards + (["cfg"] if sharded else [])
    assert [s["configsvr"] for s in plan["sets"]] == [False] * len(shards) + ([True] if sharded else [])
    sizes = {"cfg": ctx.mongo_config_server.replicas if sharded else 0}
    assert all(len(s["members"]) == sizes.get(s["_id"], ctx.mongo_member.replicas) for s in plan["sets"])
    assert [s["name"] for s in plan["shards"]] == (shards if sharded else [])
    assert all(s["hosts"].startswith(s["name"] + "/") for s in plan["shards"])
    assert (plan["router"] is not None) == sharded
    script = docs[("ConfigMap", "mongodb-init")]["data"]["init.js"]
    # idempotent: checks before it initiates, adds or creates
    for guard in ("NotYetInitialized", "listShards", "present.includes", "getUser"):
        assert guard in script
    job = docs[("Job", "mongodb-init")]
    spec = pod_spec(job)
    assert spec["restartPolicy"] == "OnFailure"
    assert job["spec"]["template"]["metadata"]["annotations"]["sidecar.istio.io/inject"] == "false"
    env = container(job, "init")["env"]
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in env if "valueFrom" in e} == {
        "MONGO_APP_USERNAME": "mongo-username", "MONGO_APP_PASSWORD": "mongo-password"}


@pytest.mark.parametrize("case", WITH_MONGO)
def test_keyfile_is_a_secret_reference(case: str) -> None:
    ctx = K8S_CASES[case]
    text = render_file(ctx, "k8s/mongodb.yaml")
    docs = docs_by_kind(text)
    assert not any(kind == "Secret" for kind, _ in docs)
    mongods = [(d, c) for d in docs.values() if d["kind"] in ("StatefulSet", "Deployment")
               for c in pod_spec(d)["containers"]]
    assert mongods
    for doc, c in mongods:
        keyfile = flag(c["command"], "--keyFile")
        mount = next(m for m in c["volumeMounts"] if keyfile.startswith(m["mountPath"] + "/"))
        volumes = {v["name"]: v for v in pod_spec(doc)["volumes"]}
        assert "emptyDir" in volumes[mount["name"]]
        init = pod_spec(doc)["initContainers"][0]
        sources = [volumes[m["name"]] for m in init["volumeMounts"] if "secret" in volumes[m["name"]]]
        assert [s["secret"]["secretName"] for s in sources] == [ctx.secret_name]
        assert sources[0]["secret"]["items"][0]["key"] == "mongo-keyfile"
        assert "chmod u=r,go=" in init["command"][-1]   # mongod refuses a group-readable keyFile


@pytest.mark.parametrize("limit_mib,cache_gb", [(1024, 0.25), (1536, 0.25), (2048, 0.5), (3000, 0.96), (4096, 1.5),
                                                (16384, 7.5), (26624, 12.5)])
def test_wiredtiger_cache_is_mongodbs_formula_on_the_limit(limit_mib: int, cache_gb: float) -> None:
    assert wiredtiger_cache_gib(limit_mib) == cache_gb
    assert wiredtiger_cache_gib(limit_mib) == max(0.25, int(50 * (limit_mib / 1024 - 1)) / 100)


@pytest.mark.parametrize("case", WITH_MONGO)
def test_every_mongod_gets_the_cache_of_its_limit(case: str) -> None:
    docs = mongo_docs(K8S_CASES[case])
    mongods = [c for d in docs.values() if d["kind"] == "StatefulSet" for c in pod_spec(d)["containers"]]
    assert mongods
    for c in mongods:
        limit_mib = int(c["resources"]["limits"]["memory"].removesuffix("Mi"))
        assert float(flag(c["command"], "--wiredTigerCacheSizeGB")) == wiredtiger_cache_gib(limit_mib)
        assert float(flag(c["command"], "--wiredTigerCacheSizeGB")) <= max(0.25, 0.5 * (limit_mib / 1024 - 1))


def test_mesh_sizes_the_injected_pods_and_mongod_opts_out() -> None:
    ctx = K8S_CASES["tier3-aws-mesh"]
    assert ctx.sidecar is not None
    wanted = {"sidecar.istio.io/proxyCPU": ctx.sidecar.cpu_request,
              "sidecar.istio.io/proxyCPULimit": ctx.sidecar.cpu_limit,
              "sidecar.istio.io/proxyMemory": f"{ctx.sidecar.memory_request_mib}Mi",
              "sidecar.istio.io/proxyMemoryLimit": f"{ctx.sidecar.memory_limit_mib}Mi"}
    docs = mongo_docs(ctx)
    assert docs[("Deployment", "mongos")]["spec"]["template"]["metadata"]["annotations"] == wanted
    for kind, name in docs:
        if kind in ("StatefulSet", "Job"):
            annotations = docs[(kind, name)]["spec"]["template"]["metadata"]["annotations"]
            assert annotations == {"sidecar.istio.io/inject": "false"}
    meili = docs_by_kind(render_file(ctx, "k8s/meilisearch.yaml"))[("StatefulSet", "librechat-meilisearch")]
    assert meili["spec"]["template"]["metadata"]["annotations"] == wanted
    plain = docs_by_kind(render_file(example_context("tier3", "aws"), "k8s/meilisearch.yaml"))
    assert "annotations" not in plain[("StatefulSet", "librechat-meilisearch")]["spec"]["template"]["metadata"]


def test_sharded_mongodb_without_routers_is_refused() -> None:
    ctx = example_context("tier3", "aws", mongos=None)
    with pytest.raises(CapplanError, match="mongos"):
        template_vars(ctx)


# --- Meilisearch --------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["tier3-aws", "tier2-aws-mesh", "replica-set-gcp-k8s130"])
def test_meilisearch_statefulset_is_the_planned_pod(case: str) -> None:
    ctx = K8S_CASES[case]
    search = ctx.search
    assert search is not None
    docs = docs_by_kind(render_file(ctx, "k8s/meilisearch.yaml"))
    sts = docs[("StatefulSet", search.name)]
    c = container(sts, "meilisearch")
    assert sts["spec"]["replicas"] == 1 and c["image"] == search.image
    assert c["resources"] == {"requests": {"cpu": search.cpu_request, "memory": f"{search.memory_request_mib}Mi"},
                              "limits": {"cpu": search.cpu_limit, "memory": f"{search.memory_limit_mib}Mi"}}
    env = {e["name"]: e for e in c["env"]}
    assert env["MEILI_MASTER_KEY"]["valueFrom"]["secretKeyRef"] == {"name": ctx.secret_name, "key": "meili-master-key"}
    assert env["MEILI_ENV"]["value"] == "production" and env["MEILI_NO_ANALYTICS"]["value"] == "true"
    assert int(env["MEILI_MAX_INDEXING_MEMORY"]["value"]) <= search.memory_limit_mib * 2**20 * 2 / 3
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == f"{search.disk_gib}Gi"
    assert {c[p]["httpGet"]["path"] for p in ("startupProbe", "livenessProbe", "readinessProbe")} == {"/health"}
    security = pod_spec(sts)["securityContext"]
    assert security["runAsNonRoot"] and security["fsGroup"] == security["runAsUser"] != 0
    assert pod_spec(sts)["nodeSelector"] == {DATA_GROUP: search.node_group}
    service = docs[("Service", search.name)]
    assert service["spec"]["type"] == "ClusterIP" and service["spec"]["ports"][0]["port"] == ctx.meili_port
    # the API's MEILI_HOST names this Service
    configmap = yaml.safe_load(render_file(ctx, "k8s/configmap.yaml"))
    assert configmap["data"]["MEILI_HOST"] == f"http://{search.name}:{ctx.meili_port}"


# --- compose: one host, the services the plan runs there -------------------------------------------------
@pytest.mark.parametrize("case", list(COMPOSE_CASES))
def test_compose_passes_the_schema_and_compose_config(case: str, tmp_path: Path) -> None:
    ctx = COMPOSE_CASES[case]
    files = render(ctx, ["compose"])
    assert compose_schema_errors(yaml.safe_load(files["compose/docker-compose.yml"])) == []
    write_tree(files, tmp_path)
    assert compose_config_errors(tmp_path / "compose" / "docker-compose.yml", COMPOSE_SECRETS_ENV) == []
    assert lint(files, ctx) == []


@pytest.mark.parametrize("case", list(COMPOSE_CASES))
def test_compose_nginx_passes_nginx_t_with_tls13(case: str, tmp_path: Path) -> None:
    ctx = COMPOSE_CASES[case]
    conf = render(ctx, ["compose"])["compose/nginx.conf"]
    assert nginx_errors(conf, tmp_path) == []
    write_tree({"nginx.conf": conf}, tmp_path / "crossplane")
    assert crossplane_errors(tmp_path / "crossplane" / "nginx.conf") == []


def test_nginx_t_rejects_a_bad_tls_setting(tmp_path: Path) -> None:
    conf = render(COMPOSE_CASES["managed"], ["compose"])["compose/nginx.conf"]
    assert nginx_errors(conf.replace("ssl_protocols TLSv1.3;", "ssl_protocols TLSv1.4;"), tmp_path) != []


@pytest.mark.parametrize("case", list(COMPOSE_CASES))
def test_nginx_serves_tls13_on_443_and_port_80_only_redirects(case: str) -> None:
    ctx = COMPOSE_CASES[case]
    files = render(ctx, ["compose"])
    conf = files["compose/nginx.conf"]
    servers = re.split(r"\n    server \{\n", conf)[1:]
    plain, tls = servers
    assert re.search(rf"listen {ctx.http_port};", plain) and "proxy_pass" not in plain
    assert re.search(r"return 301 https://\$host\$request_uri;", plain)
    assert "listen 443 ssl;" in tls and "proxy_pass http://librechat_api;" in tls
    assert re.findall(r"ssl_protocols ([^;]+);", conf) == ["TLSv1.3"]
    assert f"ssl_certificate /etc/nginx/tls/{ctx.tls_secret_name}.crt;" in tls
    assert f"ssl_certificate_key /etc/nginx/tls/{ctx.tls_secret_name}.key;" in tls
    nginx = yaml.safe_load(files["compose/docker-compose.yml"])["services"]["nginx"]
    assert nginx["ports"] == [f"{ctx.http_port}:{ctx.http_port}", "443:443"]
    binds = {v["source"]: v for v in nginx["volumes"]}
    for suffix in ("crt", "key"):
        bind = binds[f"./tls/{ctx.tls_secret_name}.{suffix}"]
        assert bind["read_only"] is True and bind["target"] == f"/etc/nginx/tls/{ctx.tls_secret_name}.{suffix}"


def test_managed_mongodb_and_redis_leave_the_host_and_need_their_uris(tmp_path: Path) -> None:
    ctx = COMPOSE_CASES["managed"]
    assert ctx.mongo_mode == ctx.redis_mode == "managed" and ctx.redis_enabled
    doc = compose_doc(ctx)
    assert not any(s.startswith("mongodb") or s == "redis" for s in doc["services"])
    env = doc["services"]["api"]["environment"]
    assert env["MONGO_URI"] == "${MONGO_URI:?set MONGO_URI}"
    assert env["REDIS_URI"] == "${REDIS_URI:?set REDIS_URI}"
    assert "depends_on" not in doc["services"]["api"] or set(doc["services"]["api"]["depends_on"]) == {"meilisearch"}
    assert not any(v.startswith(("mongo_data", "redis_data")) for v in doc.get("volumes") or {})
    write_tree(render(ctx, ["compose"]), tmp_path)
    for name in ("MONGO_URI", "REDIS_URI"):
        env_without = {k: v for k, v in COMPOSE_SECRETS_ENV.items() if k != name}
        errors = compose_config_errors(tmp_path / "compose" / "docker-compose.yml", env_without)
        assert errors and name in errors[0]


def test_self_hosted_services_run_on_the_host() -> None:
    ctx = COMPOSE_CASES["self-hosted"]
    doc = compose_doc(ctx)
    mongo = [f"mongodb-{i}" for i in range(ctx.mongo_members)]
    assert set(doc["services"]) == {"api", "nginx", "redis", "meilisearch", "bull-board", *mongo}
    env = doc["services"]["api"]["environment"]
    assert env["MONGO_URI"].startswith("mongodb://mongodb-0:") and "${MONGO_URI" not in env["MONGO_URI"]
    assert env["REDIS_URI"].endswith(f"@redis:{ctx.redis_port}")
    assert set(doc["volumes"]) == {*(f"mongo_data_{i}" for i in range(ctx.mongo_members)), "redis_data", "meili_data"}


def test_compose_without_search_has_no_meilisearch() -> None:
    doc = compose_doc(COMPOSE_CASES["managed-no-search"])
    assert "meilisearch" not in doc["services"]
    env = doc["services"]["api"]["environment"]
    assert env["SEARCH"] == "false" and not any(k.startswith("MEILI_") for k in env)
    assert "meili_data" not in (doc.get("volumes") or {})
    assert "volumes" not in doc   # nothing else persists on the host either (MongoDB and Redis are managed)


def test_compose_limits_are_the_planned_services() -> None:
    ctx = COMPOSE_CASES["self-hosted"]
    doc = compose_doc(ctx)
    sized = {p.name: p for p in ctx.compose_services}
    names = {"api": "api", "meilisearch": "librechat-meilisearch"}
    for service, spec in doc["services"].items():
        pod = sized[names.get(service, service)]
        assert spec["deploy"]["resources"] == {
            "limits": {"cpus": f"{pod.cpu_limit_millicores / 1000:g}", "memory": f"{pod.memory_limit_mib}M"},
            "reservations": {"cpus": f"{pod.cpu_request_millicores / 1000:g}", "memory": f"{pod.memory_request_mib}M"}}
    assert doc["services"]["api"]["deploy"]["replicas"] == sized["api"].replicas
    for i in range(ctx.mongo_members):
        argv = doc["services"][f"mongodb-{i}"]["command"]
        cache = float(flag(argv, "--wiredTigerCacheSizeGB"))
        assert cache == wiredtiger_cache_gib(sized[f"mongodb-{i}"].memory_limit_mib)
    text = render(ctx, ["compose"])["compose/docker-compose.yml"]
    assert f"\n# host: {ctx.host_instance_type}\n" in text


def test_unsized_compose_keeps_todays_limits() -> None:
    ctx = COMPOSE_CASES["self-hosted-unsized"]
    doc = compose_doc(ctx)
    assert doc["services"]["api"]["deploy"]["resources"]["limits"]["memory"] == f"{ctx.memory_limit_mib}M"
    assert all("deploy" not in spec for name, spec in doc["services"].items() if name != "api")
    assert "--wiredTigerCacheSizeGB" not in doc["services"]["mongodb-0"]["command"]   # no limit: nothing to fit
    assert "# host:" not in render(ctx, ["compose"])["compose/docker-compose.yml"]


# --- lint rules where the schemas are silent ------------------------------------------------------------
#: (rule, case, path, old, new): each rule catches a broken file (see also tests/test_render_lint.py).
DATA_BROKEN = [
    ("mongo-cache", "tier3-aws", "k8s/mongodb.yaml", ', "--wiredTigerCacheSizeGB", "12.5"]', "]"),
    ("mongo-cache", "tier3-aws", "k8s/mongodb.yaml", '"--wiredTigerCacheSizeGB", "12.5"',
     '"--wiredTigerCacheSizeGB", "26"'),
    ("mongo-cache", "compose", "compose/docker-compose.yml", ', "--wiredTigerCacheSizeGB", "1.5"]', "]"),
    ("mongo-keyfile", "tier3-aws", "k8s/mongodb.yaml",
     'secret:\n            secretName: "librechat-secrets"\n            items:',
     'configMap:\n            name: "mongodb-keyfile"\n            items:'),
    ("mongo-keyfile", "tier3-aws", "k8s/mongodb.yaml", '"--keyFile", "/etc/mongodb-keyfile/keyfile"',
     '"--keyFile", "/etc/mongo/keyfile"'),
    ("mongo-keyfile", "replica-set-aws", "k8s/mongodb.yaml", '"--keyFile", "/etc/mongodb-keyfile/keyfile"',
     '"--keyFile", "/data/db/keyfile"'),
]


def _broken_files(case: str, path: str, old: str, new: str) -> tuple[dict[str, str], RenderContext]:
    if case == "compose":
        ctx = COMPOSE_CASES["self-hosted"]
        files = render(ctx, ["compose"])
    else:
        ctx = K8S_CASES[case]
        files = data_files(ctx)
    assert old in files[path], f"{old!r} not in {path}: the mutation would test nothing"
    files[path] = files[path].replace(old, new, 1)
    return files, ctx


@pytest.mark.parametrize("rule,case,path,old,new", DATA_BROKEN, ids=[f"{b[0]}:{i}" for i, b in enumerate(DATA_BROKEN)])
def test_data_rule_catches_broken_file(rule: str, case: str, path: str, old: str, new: str) -> None:
    files, ctx = _broken_files(case, path, old, new)
    for context in (ctx, None):
        hit = lint(files, context)
        assert {i.rule for i in hit} == {rule}, hit
        assert {i.path for i in hit} == {path}


def test_mongo_cache_rule_reads_compose_mem_limit_and_shell_commands() -> None:
    doc = {"services": {"db": {"image": "mongo:8.0", "mem_limit": "2g",
                               "command": "sh -c 'exec mongod --replSet rs0 --bind_ip_all'"}}}
    assert {i.rule for i in lint({"docker-compose.yml": yaml.safe_dump(doc)})} == {"mongo-cache"}
    doc["services"]["db"]["command"] = "sh -c 'exec mongod --replSet rs0 --bind_ip_all --wiredTigerCacheSizeGB 0.5'"
    assert lint({"docker-compose.yml": yaml.safe_dump(doc)}) == []
