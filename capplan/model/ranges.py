"""Uncertain inputs: a workload number given as a range instead of one value.

Any number of a workload, or a distribution's mean, may be written as a range::

    cpu:
      message: {kind: exponential, mean: {low: 20ms, mode: 40ms, high: 100ms}}   # the mean's range
      stream_delta: {low: 0.25ms, high: 1ms}                                     # mode: the midpoint
    think_time: {kind: lognormal, cv: 1.0, low: 30s, mode: 60s, high: 120s}    # on a distribution: its mean
    demand:
      peak_hour_share: {low: 0.1, high: 0.2, shape: uniform}

* ``shape: triangular`` (the default) peaks at ``mode``; without ``mode`` it is the midpoint.
* ``shape: uniform`` is flat between ``low`` and ``high`` (no ``mode``; its point value is the midpoint).
* On a distribution the range is its mean's (kind and cv stay); ``mean`` may stand for ``mode``.
* Values are written as the field takes them ("40ms", "70%", "2Gi" or plain numbers).

Every command but the uncertainty sweep uses the point value: the mode, or the midpoint. The loader
takes the ranges out of the file before validation (``split_ranges``), validates the workload at its
point values, then checks that each range's low and high are values the field accepts
(``check_bounds``), and attaches the ranges to the workload (``Workload.uncertain``).
"""

from __future__ import annotations

import copy
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Union

from pydantic import BaseModel, ValidationError

from capplan.errors import CapplanError
from capplan.units import parse_duration, parse_fraction, parse_memory_mib

RANGE_KEYS = ("low", "mode", "high", "shape")
SHAPES = ("triangular", "uniform")
# Distributions whose mean is not a time (every other workload distribution is one, in seconds).
_MEAN_UNITS = {"llm.output_tokens.mean": "tokens", "llm.token_rate.mean": "tokens/s"}
_PARSER_UNITS = {parse_duration: "s", parse_memory_mib: "MiB", parse_fraction: "share"}


@dataclass(frozen=True)
class UncertainInput:
    """One uncertain number: ``path`` is the dotted field ``capplan.sweep.fields.set_field`` takes
    (a distribution's is its mean: ``cpu.message.mean``). low, mode and high are in capplan's units
    (seconds, MiB, fractions, or the field's own plain number); ``mode`` is the point value every
    other command uses (a uniform range's midpoint)."""

    path: str
    low: float
    mode: float
    high: float
    unit: str = ""             # "s", "MiB", "share", "tokens", "tokens/s" or "" (a plain number)
    shape: str = "triangular"  # or "uniform"


@dataclass(frozen=True)
class Found:
    """A range as found in the file: where it sits in the data, where the user wrote it."""

    keys: tuple[str, ...]       # keys into the data down to the number (a distribution's: ... "mean")
    written_at: str             # the YAML path the user wrote the range at, for errors
    raw_low: Any
    raw_high: Any
    input: UncertainInput


def is_range(value: Any) -> bool:
    return isinstance(value, dict) and any(k in value for k in RANGE_KEYS)


# -- the schema ---------------------------------------------------------------------------------

def _flatten(annotation) -> list[tuple[Any, list]]:
    """(type, metadata) for each member of a union, Annotated unwrapped."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        base, *meta = typing.get_args(annotation)
        return [(t, m + meta) for t, m in _flatten(base)]
    if origin is Union or origin is types.UnionType:
        return [pair for arg in typing.get_args(annotation) for pair in _flatten(arg)]
    return [(annotation, [])]


def field_types(field_info) -> list[tuple[Any, list]]:
    """The types a pydantic field takes (None left out), each with its validators' metadata."""
    return [(t, meta + list(field_info.metadata)) for t, meta in _flatten(field_info.annotation)
            if t is not type(None)]


def model_type(field_info) -> type[BaseModel] | None:
    for t, _ in field_types(field_info):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None


def number_parser(field_info):
    """How a value of a real-number field is read: the field's own parser (durations, sizes, shares)
    or float; None when the field takes no real number (a whole number, text, a choice, a model)."""
    for t, meta in field_types(field_info):
        if t is float:
            for m in meta:
                func = getattr(m, "func", None)
                if func in _PARSER_UNITS:
                    return func
            return _plain_number
    return None


def _plain_number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a number: {value!r}")
    try:
        return float(value)
    except ValueError:
        raise ValueError(f"not a number: {value!r}") from None


def is_whole_number_field(field_info) -> bool:
    return any(t is int for t, _ in field_types(field_info))


# -- taking ranges out of the data --------------------------------------------------------------

def split_ranges(data: Any, model: type[BaseModel], source: str) -> tuple[Any, list[Found]]:
    """The data with every range replaced by its point value, and the ranges found (in file order)."""
    if not isinstance(data, dict):
        return data, []
    found: list[Found] = []
    return _walk(data, model, (), found, source), found


def _walk(data: dict, model: type[BaseModel], keys: tuple[str, ...], found: list[Found], source: str) -> dict:
    out = dict(data)
    for key, value in data.items():
        info = model.model_fields.get(key) if isinstance(key, str) else None
        if info is None or not isinstance(value, dict):
            continue          # unknown keys and plain values: validation speaks for them
        here = (*keys, key)
        sub = model_type(info)
        if is_range(value):
            if sub is not None and "mean" in sub.model_fields and number_parser(sub.model_fields["mean"]):
                out[key] = _distribution_range(value, sub, here, found, source)
            else:
                out[key] = _leaf_range(value, info, here, here, found, source)
        elif sub is not None:
            out[key] = _walk(value, sub, here, found, source)
    return out


def _distribution_range(value: dict, dist: type[BaseModel], keys: tuple[str, ...], found: list[Found],
                        source: str) -> dict:
    """``{kind: gamma, cv: 0.3, low: 25, mode: 50, high: 100}``: the range of the mean."""
    where = ".".join(keys)
    unknown = [k for k in value if k not in RANGE_KEYS and k not in dist.model_fields]
    if unknown:
        raise CapplanError(f"{where}: unknown key {unknown[0]!r} (a range on a distribution takes "
                           f"{', '.join(RANGE_KEYS)} and {', '.join(dist.model_fields)})", field=source)
    rng = {k: value[k] for k in RANGE_KEYS if k in value}
    if "mean" in value:
        if "mode" in value:
            raise CapplanError(f"{where}: give the point value once: mode or mean, not both", field=source)
        rng["mode"] = value["mean"]
    rest = {k: v for k, v in value.items() if k not in RANGE_KEYS and k != "mean"}
    rest["mean"] = _leaf_range(rng, dist.model_fields["mean"], (*keys, "mean"), keys, found, source)
    return rest


def _leaf_range(value: dict, info, keys: tuple[str, ...], written: tuple[str, ...], found: list[Found],
                source: str) -> Any:
    """The point value of ``{low, mode, high, shape}`` for a number field; the range is recorded."""
    where = ".".join(written)
    parse = number_parser(info)
    if parse is None:
        what = "a whole number" if is_whole_number_field(info) else "not a number"
        raise CapplanError(f"{where}: a range is for a number or a distribution; this field is {what}",
                           field=source)
    unknown = [k for k in value if k not in RANGE_KEYS]
    if unknown:
        raise CapplanError(f"{where}: unknown key {unknown[0]!r} in a range (use {', '.join(RANGE_KEYS)})",
                           field=source)
    shape = value.get("shape", "triangular")
    if shape not in SHAPES:
        raise CapplanError(f"{where}: shape must be {' or '.join(SHAPES)}, got {shape!r}", field=source)
    missing = [k for k in ("low", "high") if k not in value]
    if missing:
        raise CapplanError(f"{where}: a range needs low and high (missing {' and '.join(missing)})", field=source)
    if shape == "uniform" and "mode" in value:
        raise CapplanError(f"{where}: a uniform range has no mode (its point value is the midpoint)", field=source)

    def number(name: str) -> float:
        raw = value[name]
        try:
            x = parse(raw)
        except (ValueError, TypeError) as exc:
            raise CapplanError(f"{where}: {name}: {exc}", field=source) from None
        if not math.isfinite(x):
            raise CapplanError(f"{where}: {name}: not a finite number: {raw!r}", field=source)
        return x

    low, high = number("low"), number("high")
    if low > high:
        raise CapplanError(f"{where}: low {value['low']} is above high {value['high']}", field=source)
    if "mode" in value:
        mode, point = number("mode"), value["mode"]     # the value as written: parsed exactly as before
        if not low <= mode <= high:
            raise CapplanError(f"{where}: mode {value['mode']} is outside low..high "
                               f"({value['low']}..{value['high']})", field=source)
    else:
        mode = point = (low + high) / 2
    path = ".".join(keys)
    unit = _MEAN_UNITS.get(path) or _PARSER_UNITS.get(parse, "")
    found.append(Found(keys, where, value["low"], value["high"],
                       UncertainInput(path, low, mode, high, unit, shape)))
    return point


# -- the ends of each range ---------------------------------------------------------------------

def check_bounds(model: type[BaseModel], data: dict, found: list[Found], source: str,
                 prepare=lambda d: d) -> None:
    """Each range's low and high, the other numbers at their point values, must be values the
    workload accepts (a time not negative, a share at most 1, a token rate above 0 ...)."""
    for f in found:
        for name, x, raw in (("low", f.input.low, f.raw_low), ("high", f.input.high, f.raw_high)):
            trial = copy.deepcopy(data)
            node = trial
            for k in f.keys[:-1]:
                node = node[k]
            node[f.keys[-1]] = x
            try:
                model.model_validate(prepare(trial))
            except ValidationError as exc:
                msg = exc.errors()[0].get("msg", "invalid")
                msg = msg[len("Value error, "):] if msg.startswith("Value error, ") else msg
                raise CapplanError(f"{f.written_at}: {name} {raw}: {msg}", field=source) from None
