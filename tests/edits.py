"""Variants of the bundled tier and workload for tests: copy, change a few fields, re-validate."""

from capplan.model.loader import load_tier, load_workload
from capplan.model.tier import Tier
from capplan.model.workload import Workload


def _set(data, path: str, value):
    keys = path.split("__")
    node = data
    for key in keys[:-1]:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[keys[-1]] = value


def tier_with(name: str, **changes) -> Tier:
    """The bundled tier ``name`` with ``a__b__0__c=value`` changes (list indexes allowed)."""
    data = load_tier(name).model_dump()
    for path, value in changes.items():
        _set(data, path, value)
    return Tier.model_validate(data)


def with_replicas(tier: Tier, replicas: int) -> Tier:
    """``tier`` with its first service at ``replicas`` replicas."""
    data = tier.model_dump()
    data["services"][0]["replicas"] = replicas
    return Tier.model_validate(data)


def workload_with(**changes) -> Workload:
    data = load_workload().model_dump()
    for path, value in changes.items():
        _set(data, path, value)
    return Workload.model_validate(data)
