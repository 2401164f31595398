"""What a managed Kubernetes node gives to pods, and what the platform runs on it, from
``scenarios/platform/kubernetes.yaml`` (data with a source on every number; this module only
evaluates the formulas the file describes).

    alloc = allocatable("aws", row)           # CPU millicores, memory MiB, pods: what the kubelet offers
    free = schedulable("aws", row)            # the same minus every non-optional DaemonSet
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import yaml

from capplan.cost.prices import PriceRow
from capplan.data import data_dir
from capplan.errors import CapplanError

PLATFORM_FILE = "kubernetes.yaml"

#: price-book instance row prefix -> the provider's own type-name prefix (pricing/<provider>.yaml ids)
INSTANCE_ID = {"aws": ("ec2.", ""), "gcp": ("gce.", ""), "azure": ("vm.", "Standard_")}


def instance_type_name(provider: str, row_id: str) -> str:
    """The provider's instance type for a price-book row: ``ec2.m6i.large`` -> ``m6i.large``, ``vm.D2s_v5`` ->
    ``Standard_D2s_v5``."""
    prefix, name_prefix = INSTANCE_ID[provider]
    return name_prefix + row_id[len(prefix):] if row_id.startswith(prefix) else row_id


@dataclass(frozen=True)
class Resources:
    """CPU millicores, memory MiB, pod slots."""

    cpu_m: int
    memory_mib: int
    pods: int = 0

    def minus(self, other: "Resources") -> "Resources":
        return Resources(self.cpu_m - other.cpu_m, self.memory_mib - other.memory_mib, self.pods - other.pods)


@dataclass(frozen=True)
class SystemPod:
    """A pod the platform or capplan runs once per cluster (CoreDNS, istiod, an autoscaler ...)."""

    name: str
    replicas: int
    cpu_m: int
    memory_mib: int


@lru_cache(maxsize=1)
def platform() -> dict[str, Any]:
    path = data_dir("scenarios") / "platform" / PLATFORM_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise CapplanError(f"cannot read the platform data: {exc}", field=str(path)) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("providers"), dict):
        raise CapplanError("has no providers block", field=str(path))
    return doc


def _provider(provider: str) -> dict[str, Any]:
    providers = platform()["providers"]
    if provider not in providers:
        raise CapplanError(f"no Kubernetes platform data for {provider!r}; known: {', '.join(providers)}",
                           field="--provider")
    return providers[provider]


def _tiered(amount: float, tiers: list) -> float:
    """Sum over bands [(upper bound, fraction)]: each band of ``amount`` reserves its fraction."""
    reserved, lower = 0.0, 0.0
    for upper, fraction in tiers:
        top = amount if upper is None else min(amount, float(upper))
        if top > lower:
            reserved += (top - lower) * float(fraction)
        if upper is None or amount <= upper:
            break
        lower = float(upper)
    return reserved


def _step(value: float, table: list, default: int) -> int:
    for upper, result in table:
        if upper is None or value <= upper:
            return int(result)
    return default


def _instance_name(provider: str, row: PriceRow) -> str:
    return row.id.split(".", 1)[1] if "." in row.id else row.id


def max_pods(provider: str, row: PriceRow, *, capped: bool = True) -> int:
    """The kubelet's pod limit on a node of ``row`` (EKS: the ENI table, capped by the node group)."""
    spec = _provider(provider)["max_pods"]
    name = _instance_name(provider, row)
    vcpu = float(row.vcpu or 0)
    pods = spec.get("per_instance_type", {}).get(name)
    if pods is None:
        fallback = spec.get("fallback_by_vcpu") or []
        pods = _step(vcpu, fallback, spec["default"]) if fallback else spec["default"]
    if spec.get("by_network"):
        pods = spec["by_network"].get("azure_cni_overlay", pods)
    if capped and spec.get("cap_by_vcpu"):
        pods = min(pods, _step(vcpu, spec["cap_by_vcpu"], pods))
    return int(pods)


def allocatable(provider: str, row: PriceRow) -> Resources:
    """What the kubelet hands to pods on one node of instance ``row`` (kube/system reserve and the
    eviction threshold taken off), as the provider's formulas in the platform file give it."""
    if row.vcpu is None or row.memory_gib is None:
        raise CapplanError(f"row {row.id!r} has no vcpu/memory_gib", field="--instance")
    p = _provider(provider)
    a = p["allocatable"]
    vcpu, nominal_mib = float(row.vcpu), float(row.memory_gib) * 1024
    capacity_mib = nominal_mib * float(p["node_memory"]["fraction"]) - float(p["node_memory"]["minus_mib"])
    cpu_reserve = _tiered(vcpu, a["cpu_tiers"]) * 1000 + a.get("cpu_fixed_millicores", 0)
    basis = capacity_mib if a.get("memory_basis", "capacity") == "capacity" else nominal_mib
    reserve_pods = max_pods(provider, row, capped=False)
    mem_reserve = (_tiered(basis / 1024, a.get("memory_tiers") or []) * 1024 + a.get("memory_fixed_mib", 0)
                   + a.get("memory_per_pod_mib", 0) * reserve_pods)
    mem_reserve = max(mem_reserve, a.get("memory_reserve_min_mib", 0))
    if a.get("memory_cap_fraction") is not None:
        mem_reserve = min(mem_reserve, basis * float(a["memory_cap_fraction"]))
    cpu = vcpu * 1000 - cpu_reserve - a.get("system_reserved_cpu_millicores", 0)
    mem = (capacity_mib - mem_reserve - a.get("system_reserved_memory_mib", 0) - a.get("eviction_memory_mib", 0))
    return Resources(int(cpu), int(mem), max_pods(provider, row))


def daemonsets(provider: str) -> Resources:
    """Requests of every non-optional DaemonSet on each node (one pod slot each)."""
    items = [d for d in _provider(provider).get("daemonsets", []) if not d.get("optional")]
    return Resources(sum(int(d["cpu_millicores"]) for d in items), sum(int(d["memory_mib"]) for d in items),
                     len(items))


def schedulable(provider: str, row: PriceRow) -> Resources:
    """Allocatable minus the DaemonSets: what is left on a node for Deployments and StatefulSets."""
    return allocatable(provider, row).minus(daemonsets(provider))


def system_pods(provider: str) -> list[SystemPod]:
    """The provider's own kube-system Deployments (CoreDNS ...), placed like any other pod."""
    return [SystemPod(d["name"], int(d["replicas"]), int(d["cpu_millicores"]), int(d["memory_mib"]))
            for d in _provider(provider).get("system_deployments", [])]


def component(*path: str) -> dict[str, Any]:
    """A provider-independent block of the platform file, e.g. ``component("istio", "sidecar")``."""
    node: Any = platform()
    for key in path:
        if not isinstance(node, dict) or key not in node:
            raise CapplanError(f"platform data has no {'.'.join(path)}", field="platform")
        node = node[key]
    return node


def autoscaler_kind(provider: str) -> str:
    """``cluster_autoscaler`` (pods we run) or ``managed`` (the provider runs it)."""
    return str(component("autoscaler", "by_provider")[provider])
