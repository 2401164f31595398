"""Read scenario, tier and workload YAML files into validated models, with one-line errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.files import read_yaml  # noqa: F401  (re-exported: callers read YAML through the loader)
from capplan.model.network import NetworkModel
from capplan.model.profile import Profile
from capplan.model.ranges import RANGE_KEYS, check_bounds, split_ranges
from capplan.model.tier import Tier
from capplan.model.workload import Workload

DEFAULT_WORKLOAD = "librechat"


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


def _bundled(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def _tier_files() -> dict[str, Path]:
    """Bundled tiers (scenarios/*.yaml with kind: tier) and their variants (scenarios/variants/)."""
    root = data_dir("scenarios")
    out = {}
    for folder in (root, root / "variants"):
        for name, path in _bundled(folder).items():
            data = read_yaml(path)
            if isinstance(data, dict) and data.get("kind") == "tier":
                out[name] = path
    return out


def _workload_files() -> dict[str, Path]:
    return _bundled(data_dir("scenarios") / "workloads")


def bundled_workloads() -> dict[str, Path]:
    """The bundled workload files by name (scenarios/workloads/*.yaml)."""
    return _workload_files()


def _extend(data: Any, source: str, kind: str, seen: tuple[str, ...] = ()) -> Any:
    """A file that says ``extends: NAME`` is the bundled NAME with this file's keys merged over it
    (nested mappings merge key by key, anything else replaces)."""
    if not isinstance(data, dict) or "extends" not in data:
        return data
    base = data["extends"]
    files = _tier_files() if kind == "tier" else _workload_files()
    if isinstance(base, str) and base not in files and base.endswith((".yaml", ".yml")):
        # a file of the user's, relative to the file that extends it (a calibrated workload over
        # the operator's own base)
        path = (Path(source).parent / base).resolve()
        if not path.is_file():
            raise CapplanError(f"{base!r} is not a file (looked for {path})", field=f"{source}: extends")
        files = {**files, base: path}
        key = str(path)
    else:
        key = base
    if not isinstance(base, str) or base not in files:
        raise CapplanError(f"unknown {kind} {base!r} (known: {', '.join(files)}, or a .yaml file)",
                           field=f"{source}: extends")
    if key in seen:
        raise CapplanError(f"extends itself through {' -> '.join((*seen, key))}", field=f"{source}: extends")
    parent = _extend(read_yaml(files[base]), str(files[base]), kind, (*seen, key))
    if not isinstance(parent, dict):
        raise CapplanError("expected a mapping at the top level", field=str(files[base]))
    return _merge(parent, {k: v for k, v in data.items() if k != "extends"})


def load_scenario(path: Path) -> Tier | NetworkModel:
    """A tier (kind: tier) or a textbook network (kind: network)."""
    data = read_yaml(path)
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "tier":
        return _validate(Tier, _extend(data, str(path), "tier"), str(path))
    if kind == "network":
        return _validate(NetworkModel, data, str(path))
    raise CapplanError(f"kind must be 'tier' or 'network', got {kind!r}", field=f"{path}: kind")


def load_workload(path: Path | str | None = None, overrides: dict | None = None) -> Workload:
    """The workload file (default: the bundled LibreChat workload; a bare name such as
    ``reasoning`` picks a bundled one), with ``overrides`` merged in key by key (nested mappings
    merge, anything else replaces)."""
    bundled = _workload_files()
    if path is None:
        path = bundled[DEFAULT_WORKLOAD]
    elif not Path(path).exists() and str(path) in bundled:
        path = bundled[str(path)]
    return workload_from_data(read_yaml(Path(path)), str(path), overrides)


def workload_from_data(data: Any, source: str, overrides: dict | None = None) -> Workload:
    """A workload from parsed YAML; ``source`` names it in errors and anchors a relative ``extends:``."""
    path = source
    if isinstance(data, dict) and data.get("kind", "workload") != "workload":
        raise CapplanError(f"kind must be 'workload', got {data.get('kind')!r}", field=f"{source}: kind")
    data = _extend(data, source, "workload")
    if overrides:
        if not isinstance(data, dict):
            raise CapplanError("expected a mapping at the top level", field=source)
        data = _merge(data, overrides)
        source = f"{path} + workload_overrides"
    # numbers given as ranges (capplan.model.ranges): validated at their point values, recorded
    data, found = split_ranges(data, Workload, source)
    workload = _validate(Workload, data, source)
    if found:
        check_bounds(Workload, data, found, source, prepare=lambda d: {k: v for k, v in d.items() if k != "kind"})
        workload._uncertain = tuple(f.input for f in found)
    return workload


def _merge(base: dict, changes: dict) -> dict:
    out = dict(base)
    # a range replaces the value it ranges over (a distribution's mean, or the base's range), and a
    # mean replaces a range written on the distribution (capplan.model.ranges)
    if any(k in changes for k in RANGE_KEYS):
        out = {k: v for k, v in out.items() if k not in RANGE_KEYS and k != "mean"}
    elif "mean" in changes:
        out = {k: v for k, v in out.items() if k not in RANGE_KEYS}
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def bundled_tier_names(variants: bool = False) -> list[str]:
    """Tier names in the seed's order of scale (``variants``: the variants after them)."""
    order = ["current", "tier1", "tier2", "tier3", "microservices"]
    files = _tier_files()
    main = [n for n, p in files.items() if p.parent.name != "variants"]
    names = [n for n in order if n in main] + sorted(n for n in main if n not in order)
    if variants:
        names += sorted(n for n, p in files.items() if p.parent.name == "variants")
    return names


def load_tier(name: str) -> Tier:
    files = _tier_files()
    if name not in files:
        raise CapplanError(f"unknown tier {name!r} (known: {', '.join(bundled_tier_names(variants=True))})",
                           field="--tier")
    scenario = load_scenario(files[name])
    if not isinstance(scenario, Tier):  # pragma: no cover - bundled files are tiers
        raise CapplanError(f"{name} is not a tier", field="--tier")
    return scenario


def bundled_profiles() -> dict[str, Path]:
    """The bundled load profiles by name (scenarios/profiles/*.yaml)."""
    return _bundled(data_dir("scenarios") / "profiles")


def load_profile(spec: str) -> Profile:
    """A bundled profile by name, a profile YAML file, or an hourly CSV of the operator's counts."""
    from capplan.files import read_text
    from capplan.model.profile import profile_from_csv

    bundled = bundled_profiles()
    if spec in bundled and not Path(spec).exists():
        path = bundled[spec]
    else:
        path = Path(spec)
        if path.suffix.lower() not in (".yaml", ".yml", ".csv"):
            raise CapplanError(f"unknown profile {spec!r} (known: {', '.join(sorted(bundled))}, or a .yaml or .csv file)",
                               field="--profile")
    if path.suffix.lower() == ".csv":
        try:
            return profile_from_csv(read_text(path), path.stem, str(path))
        except ValueError as exc:
            raise CapplanError(str(exc), field="--profile") from None
    data = read_yaml(path)
    if isinstance(data, dict) and data.get("kind", "profile") != "profile":
        raise CapplanError(f"kind must be 'profile', got {data.get('kind')!r}", field=f"{path}: kind")
    if isinstance(data, dict):
        data = {k: v for k, v in data.items() if k != "kind"}
    return _validate(Profile, data, str(path))
