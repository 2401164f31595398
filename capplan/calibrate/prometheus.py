"""Prometheus ``query_range`` responses (saved JSON, or a live server's answer) as aligned windows.

A response is ``{"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {...},
"values": [[t, "v"], ...]}, ...]}}``. Counters (CPU seconds, request totals) become per-window
increases the way Prometheus's ``increase()`` sees them: a drop is a restart from zero, so the
window's increase is the new value (and the reset is counted, so a report can say how many).
Series of one response are summed (e.g. every container of a Deployment) over the union of their
timestamps (a series may start late or end early), and several responses are aligned on the windows
they share.
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
    reset: np.ndarray      # per window: a series restarted, appeared or skipped samples in it (approximate)


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
    """Per-window increases of the sum of counter ``series`` over the union of their timestamps.

    A series need not cover the whole range: client libraries create a labelled counter at its
    first increment (LibreChat's first token refresh on a process appears minutes into a run) and
    a replaced pod's series ends. Before its first sample a series adds nothing; the window in which
    it appears gets its first value (counted from zero, as a new counter is) and, like a window that
    spans a gap in its samples or holds a restart, is marked approximate (``reset``) so a fit can
    leave it out. Intersecting the timestamps instead would cut every window before the latest
    series appeared."""
    times = np.unique(np.concatenate([s.t for s in series]))
    if times.size < 2:
        raise CapplanError("fewer than two timestamps in all: no window to measure", field=source)
    total = np.zeros(times.size - 1)
    approximate = np.zeros(times.size - 1, dtype=bool)
    resets = 0
    for s in series:
        if not np.isfinite(s.v).all():
            raise CapplanError("a sample is NaN or infinite", field=source)
        at = np.searchsorted(times, s.t)        # the union position of each sample
        step = np.diff(s.v)
        dropped = step < 0
        ends = at[1:] - 1                        # each increase goes to the window its later sample closes
        np.add.at(total, ends, np.where(dropped, s.v[1:], step))   # a drop is a restart from zero
        resets += int(dropped.sum())
        approximate[ends[dropped]] = True
        for first, last in zip(at[:-1], at[1:]):
            if last - first > 1:                 # the series skipped union timestamps: spread unknown
                approximate[first:last] = True
        if at[0] > 0:                            # appeared after the range began: a new counter
            total[at[0] - 1] += s.v[0]
            approximate[at[0] - 1] = True
    return Increases(t=times[1:], dt=np.diff(times), increase=total, resets=resets, reset=approximate)


def align(increases: dict[str, Increases],
          source: str = "prometheus") -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(window lengths, increases by name, windows in which any series restarted) over the windows
    every input has."""
    if not increases:
        raise CapplanError("no series given", field=source)
    ends = None
    for inc in increases.values():
        ends = inc.t if ends is None else np.intersect1d(ends, inc.t)
    if ends is None or ends.size == 0:
        raise CapplanError("the series share no window (different ranges or steps?)", field=source)
    first = next(iter(increases.values()))
    dt = first.dt[np.isin(first.t, ends)]
    reset = np.zeros(ends.size, dtype=bool)
    for name, inc in increases.items():
        keep = np.isin(inc.t, ends)
        if not np.allclose(inc.dt[keep], dt):
            raise CapplanError(f"{name}'s windows are not the same length as the others' (query every series "
                               "with the same step)", field=source)
        reset |= inc.reset[keep]
    return dt, {name: inc.increase[np.isin(inc.t, ends)] for name, inc in increases.items()}, reset

class Source:
    """Where range responses come from: a live server (capplan issues the query_range calls) or a
    folder of saved responses, one ``NAME.json`` per query. Live answers can be saved as they come
    (``save``), so a calibration can be rerun, reviewed or attached to a ticket without the server."""

    def __init__(self, where: str, *, start: float | None = None, end: float | None = None, step_s: float = 15.0,
                 save: Path | None = None, timeout_s: float = 30.0):
        self.where = where
        self.live = where.startswith(("http://", "https://"))
        self.start, self.end, self.step_s = start, end, step_s
        self.save, self.timeout_s = save, timeout_s
        self._answers: dict[str, list[Series]] = {}   # name -> series: each query is issued (and saved) once
        if not self.live and not Path(where).is_dir():
            raise CapplanError("is neither a Prometheus URL (http://...) nor a folder of saved query_range "
                               "responses", field=f"--prometheus {where}")
        if self.live and (start is None or end is None or not end > start):
            raise CapplanError("a live server needs a range: --start before --end", field="--start")

    def fetch(self, name: str, query: str) -> list[Series]:
        """The series of ``query`` (saved as ``name``), a one-line error naming what is missing."""
        if name not in self._answers:
            self._answers[name] = self._fetch(name, query)
        return self._answers[name]

    def _fetch(self, name: str, query: str) -> list[Series]:
        if not self.live:
            path = Path(self.where) / f"{name}.json"
            if not path.exists():
                raise CapplanError(f"no saved response for {name} ({query}): save the query_range answer as "
                                   f"{path.name}", field=f"--prometheus {self.where}")
            return load_range(path)
        doc = self._query_range(query)
        if self.save is not None:
            from capplan.files import ensure_dir, write_text

            ensure_dir(self.save, field=f"--save-prometheus {self.save}")
            write_text(self.save / f"{name}.json", json.dumps(doc, sort_keys=True) + "\n",
                       field=f"--save-prometheus {self.save}")
        return parse_range(doc, f"{name} ({query}) from {self.where}")

    def _query_range(self, query: str) -> Any:
        import urllib.error
        import urllib.parse
        import urllib.request

        url = (self.where.rstrip("/") + "/api/v1/query_range?" +
               urllib.parse.urlencode({"query": query, "start": f"{self.start:.3f}", "end": f"{self.end:.3f}",
                                       "step": f"{self.step_s:g}"}))
        try:
            with urllib.request.urlopen(url, timeout=self.timeout_s) as answer:   # noqa: S310 (http(s) only)
                body = answer.read()
        except urllib.error.HTTPError as exc:   # Prometheus answers a bad query with 400 and a JSON error
            body = exc.read()
        except (urllib.error.URLError, OSError, TimeoutError) as exc:
            reason = getattr(exc, "reason", exc)
            raise CapplanError(f"cannot reach Prometheus ({reason})", field=f"--prometheus {self.where}") from None
        try:
            return json.loads(body)
        except ValueError:
            raise CapplanError("answered something that is not JSON (is this Prometheus's address?)",
                               field=f"--prometheus {self.where}") from None
