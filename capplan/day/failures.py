"""Incidents on the day's timeline: ``--inject KIND@HH:MM[/DURATION][*FACTOR]``. Their default
durations and factors, with where each comes from, are data: scenarios/platform/incidents.yaml.

- ``mongo``: a MongoDB primary election. Every operation on the primary fails until a new one is
  elected (LibreChat reads and writes there; a tier reading from secondaries keeps its reads);
  requests already in service there finish.
- ``redis``: a Redis failover. Commands fail until a replica is promoted (requests that use Redis
  on their path fail), and the pub/sub carrying every stream is gone: streams deliver nothing
  meanwhile, then their clients reconnect and resume where they were, the generation having gone
  on (LibreChat's resumable streams). Every Redis node fails at once here: a Redis Cluster's
  one-shard failover would touch only that shard's keys.
- ``llm-slow``: the LLM provider slows down: time to first token x FACTOR and tokens/s / FACTOR for
  answers started meanwhile.
- ``llm-429``: the provider answers every call 429: clients back off and retry as the workload's
  limits say, then fail.
- ``pod``, ``node``, ``zone``: an API pod crashes, a node is lost (its share of the pods), or one
  zone of three (a third of the pods and of the nodes). Every request bound to a lost pod fails at
  its next step, its stream cut (the generation ran in that process: LibreChat cannot resume it);
  the ReplicaSet asks for replacements at once, which wait for room (the cluster autoscaler adds
  nodes in the zones left) and start. The run shows the loss and the recovery.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from capplan.errors import CapplanError
from capplan.units import parse_duration

LOSSES = ("pod", "node", "zone")


@lru_cache(maxsize=1)
def _data() -> dict:
    """scenarios/platform/incidents.yaml: each kind's default duration and factor, with its source."""
    from capplan.data import data_dir
    from capplan.files import read_yaml

    path = data_dir("scenarios") / "platform" / "incidents.yaml"
    doc = read_yaml(path)
    if not isinstance(doc, dict) or not isinstance(doc.get("incidents"), dict):
        raise CapplanError("has no incidents block", field=str(path))
    return doc["incidents"]


def defaults() -> dict[str, tuple[float, float]]:
    """kind -> (duration s, factor): the data's timed incidents, and the losses (no duration)."""
    data = _data()
    out = {k: (float(v["duration_s"]), float(v.get("factor", 1.0))) for k, v in data.items() if isinstance(v, dict)}
    out.update({k: (0.0, 1.0) for k in LOSSES})
    return out


def reconnect_s() -> float:
    return float(_data()["reconnect_s"])


_SPEC = re.compile(r"^(?P<kind>[a-z0-9-]+)@(?:(?P<day>\d+)d)?(?P<h>\d{1,2}):(?P<m>\d{2})"
                   r"(?:/(?P<duration>[0-9.]+[a-z]*))?(?:\*(?P<factor>[0-9.]+))?$")


@dataclass(frozen=True)
class Injection:
    kind: str
    at: float            # seconds from the profile's start
    duration: float
    factor: float = 1.0

    def describe(self) -> str:
        if self.kind in LOSSES:
            return f"{self.kind} lost"
        what = {"mongo": "MongoDB primary election", "redis": "Redis failover",
                "llm-429": "LLM provider answering 429"}.get(self.kind, f"LLM provider {self.factor:g}x slower")
        return f"{what} for {self.duration:g} s"


def parse_injection(text: str, field: str = "--inject") -> Injection:
    """``mongo@10:00``, ``mongo@10:00/30s``, ``llm-slow@1d14:00/45m*4`` (day index 1 = the second day)."""
    m = _SPEC.match(text.strip())
    if m is None:
        raise CapplanError(f"{text!r} is not KIND@HH:MM[/DURATION][*FACTOR] (e.g. mongo@10:00 or llm-slow@14:00/30m*3)",
                           field=field)
    kind = m["kind"]
    known = defaults()
    if kind not in known:
        raise CapplanError(f"unknown incident {kind!r} (known: {', '.join(known)})", field=field)
    h, mi = int(m["h"]), int(m["m"])
    if h > 23 or mi > 59:
        raise CapplanError(f"{m['h']}:{m['m']} is not a time of day", field=field)
    at = int(m["day"] or 0) * 86400.0 + h * 3600.0 + mi * 60.0
    duration, factor = known[kind]
    if m["duration"] and kind in LOSSES:
        raise CapplanError(f"{text!r}: a {kind} loss has no duration (the run shows the recovery)", field=field)
    if m["duration"]:
        try:
            duration = parse_duration(m["duration"])
        except ValueError as exc:
            raise CapplanError(f"{text!r}: {exc}", field=field) from None
        if duration <= 0:
            raise CapplanError(f"{text!r}: the duration must be positive", field=field)
    if m["factor"]:
        if kind != "llm-slow":
            raise CapplanError(f"{text!r}: only llm-slow takes a factor", field=field)
        factor = float(m["factor"])
        if not 1.0 <= factor <= 100.0:
            raise CapplanError(f"{text!r}: the factor must be between 1 and 100", field=field)
    return Injection(kind=kind, at=at, duration=duration, factor=factor)
