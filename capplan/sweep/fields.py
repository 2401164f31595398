"""Dotted field paths on the workload and tier models: read one number, or a new model with it changed.

A path walks the model's fields: ``llm.token_rate.mean``, ``think_time``, ``api_reads_per_message``,
``mongo.cores``. A distribution stands for its mean: ``cpu.message`` = ``cpu.message.mean`` (setting
it keeps the kind and cv). A list of named parts is walked by name or position: a tier's
``services.api.replicas`` (or ``services.0.replicas``); ``api.replicas`` is short for it when no
tier field is called ``api``.

Setting a field dumps the model, changes the one value and validates the whole model again, so a
value the schema refuses (a negative time, a share above 1, an erlang cv that is not 1/sqrt(k)) is
refused here too. Values may be text as the YAML takes it ("40ms", "70%", "2Gi", "25", "true",
"fifo"); "none" clears an optional field. Every failure is a ``CapplanError`` on ``field`` (the
option the path came from: ``--vary`` unless told).
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping

from pydantic import BaseModel, ValidationError

from capplan.errors import CapplanError
from capplan.model.ranges import model_type

MAX_VARY_VALUES = 100
_PATH = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")


# -- walking a path -----------------------------------------------------------------------------

def _named_lists(node: BaseModel) -> list[str]:
    """Fields of ``node`` that hold a list of models with a ``name`` (a tier's services)."""
    out = []
    for name in type(node).model_fields:
        value = getattr(node, name)
        if isinstance(value, list) and value and all(isinstance(v, BaseModel) and hasattr(v, "name") for v in value):
            out.append(name)
    return out


def _keys_here(node: Any) -> str:
    if isinstance(node, BaseModel):
        return ", ".join(type(node).model_fields)
    if isinstance(node, list):
        names = [str(getattr(v, "name", i)) for i, v in enumerate(node)]
        return ", ".join(names)
    return ""


def _resolve(model: BaseModel, path: str, field: str) -> tuple[list[str | int], Any, str]:
    """(keys into ``model.model_dump()``, the value at the end, the canonical dotted path). A
    distribution at the end resolves to its mean; a group of fields at the end is refused."""
    if not isinstance(path, str) or not _PATH.match(path.strip()):
        raise CapplanError(f"not a field path: {path!r} (e.g. llm.token_rate.mean)", field=field)
    parts = path.strip().split(".")
    keys: list[str | int] = []
    canonical: list[str] = []
    node: Any = model
    for i, part in enumerate(parts):
        here = ".".join(canonical) or _what(model)
        if isinstance(node, BaseModel):
            if part in type(node).model_fields:
                keys.append(part)
                canonical.append(part)
                node = getattr(node, part)
                continue
            hits = [(name, j) for name in _named_lists(node)
                    for j, item in enumerate(getattr(node, name)) if item.name == part]
            if len(hits) == 1:
                name, j = hits[0]
                keys += [name, j]
                canonical += [name, part]
                node = getattr(node, name)[j]
                continue
            raise CapplanError(f"unknown field {path!r} ({here} has: {_keys_here(node)})", field=field)
        if isinstance(node, list):
            j = _list_index(node, part)
            if j is None:
                raise CapplanError(f"unknown field {path!r} ({here} has: {_keys_here(node)})", field=field)
            keys.append(j)
            canonical.append(part)
            node = node[j]
            continue
        if node is None:
            raise CapplanError(f"unknown field {path!r}: {here} is not set in the {_what(model)}", field=field)
        raise CapplanError(f"unknown field {path!r}: {here} is a single value, with no field {part!r}", field=field)
    if node is None and len(keys) and isinstance(parent := _parent(model, keys), BaseModel):
        info = type(parent).model_fields.get(str(keys[-1]))
        if info is not None and model_type(info) is not None:
            raise CapplanError(f"{path!r} is not set in the {_what(model)}: give it in the file first",
                               field=field)
    if isinstance(node, BaseModel):
        if "mean" in type(node).model_fields:       # a distribution: its mean
            keys.append("mean")
            canonical.append("mean")
            node = node.mean
        else:
            raise CapplanError(f"{path!r} is a group of fields, not a number (it has: {_keys_here(node)})",
                               field=field)
    elif isinstance(node, list):
        raise CapplanError(f"{path!r} is a list, not a number (it has: {_keys_here(node)})", field=field)
    return keys, node, ".".join(canonical)


def _parent(model: BaseModel, keys: list[str | int]) -> Any:
    node: Any = model
    for k in keys[:-1]:
        node = node[k] if isinstance(k, int) else getattr(node, k)
    return node


def _list_index(items: list, part: str) -> int | None:
    for j, item in enumerate(items):
        if getattr(item, "name", None) == part:
            return j
    if part.isdigit() and int(part) < len(items):
        return int(part)
    return None


def _what(model: BaseModel) -> str:
    return type(model).__name__.lower()


def canonical_path(model: BaseModel, path: str, field: str = "--vary") -> str:
    """The path as ``set_field`` resolves it: ``cpu.message`` -> ``cpu.message.mean``,
    ``api.replicas`` -> ``services.api.replicas``."""
    return _resolve(model, path, field)[2]


# -- reading and setting ------------------------------------------------------------------------

def get_field(model: BaseModel, path: str, field: str = "--vary") -> Any:
    """The value at ``path`` (a distribution's mean for a distribution)."""
    return _resolve(model, path, field)[1]


def set_field(model: BaseModel, path: str, value: Any, field: str = "--vary") -> BaseModel:
    """A new, validated model with the value at ``path`` replaced by ``value``."""
    return set_fields(model, {path: value}, field=field)


def set_fields(model: BaseModel, values: Mapping[str, Any], field: str = "--vary") -> BaseModel:
    """A new, validated model with every ``path: value`` of ``values`` applied (one validation).

    A workload keeps its uncertain inputs (``Workload.uncertain``) except those of the paths set:
    a number given a value is no longer uncertain."""
    resolved = [(path, *_resolve(model, path, field), value) for path, value in values.items()]
    seen: dict[str, str] = {}
    for path, _, _, canonical, _ in resolved:
        if canonical in seen:
            raise CapplanError(f"{path!r} and {seen[canonical]!r} are the same field", field=field)
        seen[canonical] = path
    data = model.model_dump()
    for _, keys, _, _, value in resolved:
        node = data
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = _value(value)
    try:
        new = type(model).model_validate(data)
    except ValidationError as exc:
        raise CapplanError(_message(exc, resolved), field=field) from None
    uncertain = getattr(model, "uncertain", None)
    if uncertain:
        new._uncertain = tuple(u for u in uncertain if u.path not in seen)
    return new


def _value(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        return None if text.lower() in ("none", "null") else text
    return value


def _message(exc: ValidationError, resolved: Iterable[tuple]) -> str:
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err.get("loc", ()))
    msg = err.get("msg", "invalid")
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    given = ", ".join(f"{path}={value}" for path, _, _, _, value in resolved)
    at = "" if any(loc == ".".join(map(str, keys)) for _, keys, _, _, _ in resolved) or not loc else f"{loc}: "
    return f"{given}: {at}{msg}"


# -- the --vary option --------------------------------------------------------------------------

def parse_vary(text: str, field: str = "--vary") -> tuple[str, list[str]]:
    """``PATH=V1,V2,V3`` -> (path, [values]): at least one value, none empty, none twice. The values
    stay text (``set_field`` reads them as the field does: "40ms", "70%", "25")."""
    if not isinstance(text, str) or "=" not in text:
        raise CapplanError(f"expected PATH=V1,V2,... (e.g. llm.token_rate.mean=25,50,100), got {text!r}", field=field)
    path, _, rest = text.partition("=")
    path = path.strip()
    if not _PATH.match(path):
        raise CapplanError(f"not a field path: {path!r} in {text!r} (e.g. llm.token_rate.mean=25,50,100)", field=field)
    values = [v.strip() for v in rest.split(",")]
    if not rest.strip() or any(not v for v in values):
        raise CapplanError(f"{path}: an empty value in {text!r} (give V1,V2,... with no empty one)", field=field)
    if len(values) > MAX_VARY_VALUES:
        raise CapplanError(f"{path}: at most {MAX_VARY_VALUES} values, got {len(values)}", field=field)
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise CapplanError(f"{path}: {twice[0]!r} is given twice", field=field)
    return path, values
