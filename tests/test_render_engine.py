"""render(): targets, output paths, headers, determinism, strictness, no numbers hard-coded in templates."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest

from capplan import __version__
from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.render import HEADER_MARK, TARGETS, example_context, is_generated, outputs, render
from capplan.render import engine

# example_context(): tier2 on AWS (mesh, search, exporters, Cluster Autoscaler; managed MongoDB)
EXPECTED = {
    "compose": {"compose/docker-compose.yml", "compose/nginx.conf"},
    "k8s": {"k8s/namespace.yaml", "k8s/configmap.yaml", "k8s/deployment.yaml", "k8s/hpa.yaml", "k8s/pdb.yaml",
            "k8s/service.yaml", "k8s/gateway.yaml", "k8s/meilisearch.yaml", "k8s/exporters.yaml",
            "k8s/cluster-autoscaler.yaml"},
    "istio": {"istio/istiod-values.yaml", "istio/destinationrule.yaml", "istio/telemetry.yaml"},
    "prometheus": {"prometheus/alerts.yml", "prometheus/alerts.test.yml"},
}
CLUSTER = {"aws": "cluster/eksctl.yaml", "gcp": "cluster/gke-flags.yaml", "azure": "cluster/aks-managedcluster.yaml"}


def test_targets() -> None:
    assert TARGETS == ("compose", "k8s", "istio", "cluster", "prometheus")


@pytest.mark.parametrize("target", sorted(EXPECTED))
def test_each_target_renders_its_files(target: str) -> None:
    assert set(render(example_context(), [target])) == EXPECTED[target]


def test_files_follow_the_components_of_the_plan() -> None:
    # no mesh: istiod still runs the Gateway, whose Envoy applies the DestinationRule and the Telemetry
    assert set(render(example_context("tier1", "gcp"), ["istio"])) == EXPECTED["istio"]
    # no sharded MongoDB in the plan: no MongoDB manifests; no microservices: no services.yaml
    assert not {"k8s/mongodb.yaml", "k8s/services.yaml"} & set(render(example_context("tier1", "gcp"), ["k8s"]))
    assert {"k8s/mongodb.yaml", "k8s/services.yaml"} <= set(render(example_context("microservices", "gcp"), ["k8s"]))
    assert "k8s/meilisearch.yaml" not in render(example_context("tier1", "gcp", search=None), ["k8s"])


@pytest.mark.parametrize("provider", sorted(CLUSTER))
def test_cluster_target_renders_the_provider_definition(provider: str) -> None:
    ctx = example_context("tier1", provider)
    assert set(render(ctx, ["cluster"])) == set(outputs("cluster", ctx))
    assert outputs("cluster", ctx)[0] == CLUSTER[provider]


def test_all_targets_sorted_and_deduplicated() -> None:
    files = render(example_context(), list(TARGETS) + ["k8s"])
    assert list(files) == sorted(files)
    assert len(files) == sum(len(v) for v in EXPECTED.values()) + 1


@pytest.mark.parametrize("targets", [["helm"], ["k8s", "K8S"], []])
def test_unknown_or_missing_target_is_a_capplan_error_naming_target(targets: list[str]) -> None:
    with pytest.raises(CapplanError) as excinfo:
        render(example_context(), targets)
    assert excinfo.value.field == "--target" and "target" in str(excinfo.value)


def test_rendering_is_deterministic() -> None:
    ctx = example_context("tier3", "gcp")
    first = render(ctx, list(TARGETS))
    engine._environment.cache_clear()
    second = render(example_context("tier3", "gcp"), list(TARGETS))
    assert first == second
    assert [t.encode() for t in first.values()] == [t.encode() for t in second.values()]


_DIGEST = """
import hashlib
from capplan.render import TARGETS, example_context, render
h = hashlib.sha256()
for path, text in render(example_context("microservices", "azure"), list(TARGETS)).items():
    h.update(path.encode() + b"\\0" + text.encode())
print(h.hexdigest())
"""


def test_rendering_does_not_depend_on_the_hash_seed() -> None:
    digests = {
        subprocess.run([sys.executable, "-c", _DIGEST], capture_output=True, text=True, check=True,
                       env={**os.environ, "PYTHONHASHSEED": seed}).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1


def test_every_file_starts_with_the_capplan_header() -> None:
    ctx = example_context("tier1", "azure")
    for path, text in render(ctx, list(TARGETS)).items():
        first = text.split("\n", 1)[0]
        assert first.startswith(f"# {HEADER_MARK} {__version__} "), path
        assert "tier tier1" in first and "provider azure" in first
        assert is_generated(text)
        assert text.endswith("\n") and not text.endswith("\n\n\n"), path


def test_different_sizings_render_different_numbers() -> None:
    small = render(example_context("tier1"), ["k8s"])["k8s/hpa.yaml"]
    large = render(example_context("tier3"), ["k8s"])["k8s/hpa.yaml"]
    assert "maxReplicas: 6\n" in small and "maxReplicas: 30\n" in large


def test_environment_is_strict(tmp_path: Path) -> None:
    (tmp_path / "t.j2").write_text("{{ missing }}")
    env = engine._environment(str(tmp_path))
    assert env.undefined is jinja2.StrictUndefined and env.keep_trailing_newline and not env.autoescape
    with pytest.raises(jinja2.UndefinedError):
        env.get_template("t.j2").render()


def test_undefined_name_in_a_template_is_a_capplan_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(data_dir("templates"), tmp_path / "templates")
    hpa = tmp_path / "templates" / "k8s" / "hpa.yaml.j2"
    hpa.write_text(hpa.read_text() + "{{ not_a_context_field }}\n")
    monkeypatch.setattr(engine, "data_dir", lambda name: tmp_path / name)
    with pytest.raises(CapplanError, match="not_a_context_field"):
        render(example_context(), ["k8s"])


def test_missing_template_is_a_capplan_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(data_dir("templates"), tmp_path / "templates")
    (tmp_path / "templates" / "k8s" / "pdb.yaml.j2").unlink()
    monkeypatch.setattr(engine, "data_dir", lambda name: tmp_path / name)
    with pytest.raises(CapplanError, match="pdb.yaml.j2"):
        render(example_context(), ["k8s"])


def test_tojson_does_not_html_escape() -> None:
    assert engine._tojson("a'b<c>&") == '"a\'b<c>&"'
    assert engine._tojson({"b": 1, "a": 2}) == '{"a": 2, "b": 1}'


# Numbers that are syntax, not sizing: HTTP/1.1, the any-address and loopback, "attempts: 0" for
# streams and the 0 a promtool series starts from, the 5 of the "5.." status-code regex.
_ALLOWED_NUMBERS = {"1.1", "0.0.0.0", "127.0.0.1", "0", "5"}


def _numbers_outside_comments(text: str) -> list[str]:
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.DOTALL)
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    return re.findall(r"\b\d+(?:\.\d+)*\b", code)


def test_templates_hold_no_numbers_of_their_own() -> None:
    root = data_dir("templates")
    templates = sorted(root.rglob("*.j2"))
    assert len(templates) >= 15
    found = {str(p.relative_to(root)): sorted(set(_numbers_outside_comments(p.read_text())) - _ALLOWED_NUMBERS)
             for p in templates}
    assert {path: nums for path, nums in found.items() if nums} == {}


def test_number_guard_sees_literals() -> None:
    assert _numbers_outside_comments("replicas: 3\n# 7 in a comment\nmaxSurge: {{ 25 }}\n") == ["3", "25"]
