"""Read scenario, tier and workload YAML files into validated models, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.model.network import NetworkModel
from capplan.model.tier import Tier
from capplan.model.workload import Workload

DEFAULT_WORKLOAD = "librechat"


def read_yaml(path: Path) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CapplanError("file not found", field=str(path)) from None
    except OSError as exc:
        raise CapplanError(f"cannot read: {exc.strerror}", field=str(path)) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise CapplanError(f"malformed YAML{where}: {problem}", field=str(path)) from None


def validation_message(exc: ValidationError, source: str) -> str:
    """One line: the source, the dotted field path and pydantic's message for the first error."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err.get("type") == "extra_forbidden":
        msg = "unknown field"
    more = len(exc.errors()) - 1
    suffix = f" (+{more} more)" if more > 0 else ""
    return f"{source}: {loc or '(top level)'}: {msg}{suffix}"


def _validate(model, data: Any, source: str):
    if not isinstance(data, dict):
        raise CapplanError(f"expected a mapping at the top level, got {type(data).__name__}", field=source)
    data = {k: v for k, v in data.items() if k != "kind"} if model is Workload else data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise CapplanError(validation_message(exc, source)) from None


def load_scenario(path: Path) -> Tier | NetworkModel:
    """A tier (kind: tier) or a textbook network (kind: network)."""
    data = read_yaml(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "tier":
        return _validate(Tier, data, str(path))
    if kind == "network":
        return _validate(NetworkModel, data, str(path))
    raise CapplanError(f"kind must be 'tier' or 'network', got {kind!r}", field=f"{path}: kind")


def load_workload(path: Path | None = None, overrides: dict | None = None) -> Workload:
    """The workload file (default: the bundled LibreChat workload), with ``overrides`` merged in
    key by key (nested mappings merge, anything else replaces)."""
    path = path or data_dir("scenarios") / "workloads" / f"{DEFAULT_WORKLOAD}.yaml"
    data = read_yaml(path)
    source = str(path)
    if overrides:
        if not isinstance(data, dict):
            raise CapplanError("expected a mapping at the top level", field=source)
        data = _merge(data, overrides)
        source = f"{path} + workload_overrides"
    return _validate(Workload, data, source)


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def bundled_tier_names() -> list[str]:
    """Tier names in the seed's order of scale."""
    order = ["current", "tier1", "tier2", "tier3", "microservices"]
    found = sorted(p.stem for p in data_dir("scenarios").glob("*.yaml"))
    return [n for n in order if n in found] + [n for n in found if n not in order]


def load_tier(name: str) -> Tier:
    names = bundled_tier_names()
    if name not in names:
        raise CapplanError(f"unknown tier {name!r} (known: {', '.join(names)})", field="tier")
    scenario = load_scenario(data_dir("scenarios") / f"{name}.yaml")
    if not isinstance(scenario, Tier):  # pragma: no cover - bundled files are tiers
        raise CapplanError(f"{name} is not a tier", field="tier")
    return scenario
