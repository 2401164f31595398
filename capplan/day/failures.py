"""Incidents on the day's timeline: ``--inject KIND@HH:MM[/DURATION][*FACTOR]``.

Built so far:

- ``mongo``: a MongoDB primary election. Until a new primary is elected every operation on the
  primary fails (LibreChat reads and writes there; a tier reading from secondaries keeps its reads);
  requests already in service there finish. Default 12 s: "the median time before a cluster elects
  a new primary should not typically exceed 12 seconds, assuming default replica configuration
  settings" (MongoDB manual, Replica Set Elections; electionTimeoutMillis 10 s + the vote).
- ``llm-slow``: the LLM provider slows down: time to first token x FACTOR and tokens/s / FACTOR for
  answers started meanwhile (default 30 min, x3 [assumption]: a provider incident of the kind status
  pages report as "elevated latency").

- ``pod``, ``node``, ``zone``: an API pod crashes, a node is lost (its share of the pods), or one
  zone of three (a third of the pods and of the nodes). Every request bound to a lost pod fails at
  its next step, its stream cut (the generation ran in that process: LibreChat cannot resume it);
  the ReplicaSet asks for replacements at once, which wait for room (the cluster autoscaler adds
  nodes in the zones left) and start. The run shows the loss and the recovery.

- ``redis``: a Redis failover. Commands fail until a replica is promoted (requests that use Redis
  on their path fail), and the pub/sub carrying every stream is gone: streams deliver nothing
  meanwhile, then their clients reconnect (3 s [assumption]) and resume where they were, the
  generation having gone on (LibreChat's resumable streams). Default 30 s: Redis Sentinel's
  ``down-after-milliseconds`` default (30000) before it starts the failover. Every Redis node fails
  at once here: a Redis Cluster's one-shard failover would touch only that shard's keys.
- ``llm-429``: the provider answers every call 429 for a while (default 5 min [assumption]):
  clients back off and retry as the workload's limits say, then fail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from capplan.errors import CapplanError
from capplan.units import parse_duration

DEFAULTS = {                      # kind -> (duration s, factor); a loss has no duration: it is recovered from
    "mongo": (12.0, 1.0),
    "llm-slow": (1800.0, 3.0),
    "redis": (30.0, 1.0),
    "llm-429": (300.0, 1.0),
    "pod": (0.0, 1.0),
    "node": (0.0, 1.0),
    "zone": (0.0, 1.0),
}
LOSSES = ("pod", "node", "zone")
NOT_YET: tuple[str, ...] = ()
RECONNECT_S = 3.0   # [assumption] LibreChat's client retries a dropped SSE stream within a few seconds
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
    if kind in NOT_YET:
        raise CapplanError(f"{kind}: not simulated yet (known: {', '.join(DEFAULTS)})", field=field)
    if kind not in DEFAULTS:
        raise CapplanError(f"unknown incident {kind!r} (known: {', '.join(DEFAULTS)})", field=field)
    h, mi = int(m["h"]), int(m["m"])
    if h > 23 or mi > 59:
        raise CapplanError(f"{m['h']}:{m['m']} is not a time of day", field=field)
    at = int(m["day"] or 0) * 86400.0 + h * 3600.0 + mi * 60.0
    duration, factor = DEFAULTS[kind]
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
