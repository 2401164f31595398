"""Prometheus ``query_range`` responses (saved JSON, or a live server's answer) as aligned windows.

A response is ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
"values": [[t, "v"], ...]}, ...]}}``. Counters (CPU seconds, request totals) become per-window
increases the way Prometheus's ``increase()`` sees them: a drop is a restart from zero, so the
window's increase is the new value (and the reset is counted, so a report can say how many).
Series of one response are summed (e.g. every container of a Deployment), and several responses
are aligned on the timestamps they share.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from capplan.errors import CapplanError
from capplan.files import read_text


@dataclass(frozen=True)
class Series:
    labels: dict[str, str]
    t: np.ndarray          # unix seconds
    v: np.ndarray


@dataclass(frozen=True)
class Increases:
    t: np.ndarray          # end of each window
    dt: np.ndarray         # window length (s)
    increase: np.ndarray   # counter increase in the window
    resets: int            # counter resets seen (process restarts)


def parse_range(doc: Any, source: str) -> list[Series]:
    """The series of one query_range response; a one-line error naming ``source`` when it is not one."""
    if not isinstance(doc, dict) or doc.get("status") != "success":
        why = doc.get("error") if isinstance(doc, dict) else None
        raise CapplanError(f"not a successful Prometheus response{f': {why}' if why else ''}", field=source)
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise CapplanError(f"resultType is {kind!r}, not 'matrix': save a query_range answer, not an instant query",
                           field=source)
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise CapplanError("no series: the query matched nothing in this range (check the metric name and "
                           "labels)", field=source)
    series = []
    for k, item in enumerate(result):
        values = item.get("values") if isinstance(item, dict) else None
        if not isinstance(values, list) or not values:
            raise CapplanError(f"series {k} has no values", field=source)
        try:
            t = np.array([float(p[0]) for p in values])
            v = np.array([float(p[1]) for p in values])
        except (TypeError, ValueError, IndexError):
            raise CapplanError(f"series {k} holds a sample that is not [time, \"number\"]", field=source) from None
        if (np.diff(t) <= 0).any():
            raise CapplanError(f"series {k}: timestamps do not increase", field=source)
        series.append(Series(labels={str(a): str(b) for a, b in (item.get("metric") or {}).items()}, t=t, v=v))
    return series


def load_range(path: Path | str) -> list[Series]:
    text = read_text(path)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise CapplanError(f"not JSON ({getattr(exc, 'msg', exc)})", field=str(path)) from None
    return parse_range(doc, str(path))


def counter_increases(series: list[Series], source: str) -> Increases:
    """Per-window increases of the sum of counter ``series`` over the timestamps they all have."""
    common = series[0].t
    for s in series[1:]:
        common = np.intersect1d(common, s.t)
    if common.size < 2:
        raise CapplanError("fewer than two timestamps shared by every series: no window to measure", field=source)
    total = np.zeros(common.size - 1)
    resets = 0
    for s in series:
        v = s.v[np.isin(s.t, common)]
        if not np.isfinite(v).all():
            raise CapplanError("a sample is NaN or infinite", field=source)
        step = np.diff(v)
        dropped = step < 0
        resets += int(dropped.sum())
        total += np.where(dropped, v[1:], step)   # a drop is a restart from zero
    return Increases(t=common[1:], dt=np.diff(common), increase=total, resets=resets)


def align(increases: dict[str, Increases], source: str = "prometheus") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """(window lengths, increases by name) over the windows every input has."""
    if not increases:
        raise CapplanError("no series given", field=source)
    ends = None
    for inc in increases.values():
        ends = inc.t if ends is None else np.intersect1d(ends, inc.t)
    if ends is None or ends.size == 0:
        raise CapplanError("the series share no window (different ranges or steps?)", field=source)
    first = next(iter(increases.values()))
    dt = first.dt[np.isin(first.t, ends)]
    for name, inc in increases.items():
        if not np.allclose(inc.dt[np.isin(inc.t, ends)], dt):
            raise CapplanError(f"{name}'s windows are not the same length as the others' (query every series "
                               "with the same step)", field=source)
    return dt, {name: inc.increase[np.isin(inc.t, ends)] for name, inc in increases.items()}
