"""Timers in front of the app that can cut a streamed answer, with their real semantics.

Two kinds exist (the bundled ``scenarios/timeouts/proxies.yaml`` lists one per proxy, load balancer and
CDN kind, with sources):

- ``idle``: a between-reads timer (nginx ``proxy_read_timeout``, AWS ALB idle timeout, CloudFront origin
  response timeout): it cuts a stream only when one silence, the wait for the first byte or a gap
  between two chunks, is longer than the timer;
- ``total``: a whole-response timer (GCP Application LB backend service timeout, Envoy/Istio route
  timeout): it cuts every stream whose complete response takes longer than the timer;
- ``none``: the hop does not cut long responses (Node's own http server by default).

``timer_for(kind, provider)`` picks an entry (``cloud_lb`` resolves to the provider's load balancer) and
``Timer.cuts(max_gap_s, total_s, seconds)`` applies it to one stream. Pure data and arithmetic: nothing
here imports the simulator.

``path_timers(tier, provider)`` lists the timers on a tier's stream path: CDN, proxy or load balancer,
and a mesh's route and stream-idle timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.model.loader import _validate, read_yaml
from capplan.units import parse_duration

CLOUD_LB = "cloud_lb"   # the pseudo-kind a tier uses for "the provider's cloud load balancer"

_PositiveSeconds = Annotated[float, BeforeValidator(parse_duration), Field(gt=0)]


def timers_path() -> Path:
    """The bundled timers file."""
    return data_dir("scenarios") / "timeouts" / "proxies.yaml"


class Timer(BaseModel):
    """One kind's stream-cutting timer: its semantics, default, setting name and source."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers

    timer: Literal["idle", "total", "none"]
    seconds: _PositiveSeconds | None = None       # the default; None: no timer unless the operator sets one
    setting: str = Field(min_length=1)
    configurable: bool
    max_seconds: _PositiveSeconds | None = None   # documented upper limit, when there is one
    source: str = Field(min_length=1)
    note: str = ""

    @field_validator("setting", "source")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Timer:
        if self.timer == "none" and self.seconds is not None:
            raise ValueError("a 'none' timer has no seconds (use null)")
        if self.seconds is not None and self.max_seconds is not None and self.seconds > self.max_seconds:
            raise ValueError(f"seconds {self.seconds:g} is above max_seconds {self.max_seconds:g}")
        return self

    def limit(self, seconds: float | None = None) -> float | None:
        """The timer in force: ``seconds`` (the operator's value) or the default; None when nothing
        cuts. A configured value of 0 means disabled (Envoy/Istio, Kong and Node read 0 that way)."""
        if self.timer == "none":
            return None
        if seconds is None:
            return self.seconds
        if seconds < 0:
            raise CapplanError(f"must be >= 0 seconds, got {seconds:g}", field="timeout")
        return seconds if seconds > 0 else None

    def cuts(self, max_gap_s: float, total_s: float, seconds: float | None = None) -> bool:
        """Whether this timer cuts a stream whose longest silence (first byte or a gap between two
        chunks) is ``max_gap_s`` and whose complete response takes ``total_s``.

        ``seconds`` overrides the default when the operator configured another value. Idle timers cut
        when the longest silence exceeds the limit, total timers when the whole response does."""
        limit = self.limit(seconds)
        if limit is None:
            return False
        if self.timer == "idle":
            return max_gap_s > limit
        return total_s > limit


class Timers(BaseModel):
    """Every kind's timer and the cloud load balancer each provider gives a Kubernetes tier."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers

    kinds: dict[str, Timer] = Field(min_length=1)
    provider_load_balancer: dict[str, str] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_kinds(self) -> Timers:
        if CLOUD_LB in self.kinds:
            raise ValueError(f"{CLOUD_LB!r} is resolved through provider_load_balancer, not a kind")
        for provider, kind in self.provider_load_balancer.items():
            if kind not in self.kinds:
                raise ValueError(f"provider_load_balancer.{provider}: unknown kind {kind!r}")
        return self

    def timer(self, kind: str, provider: str | None = None) -> Timer:
        """The timer of ``kind``; ``cloud_lb`` needs ``provider`` and maps to its load balancer."""
        if kind == CLOUD_LB:
            if provider is None:
                raise CapplanError(f"{CLOUD_LB} needs a provider ({', '.join(self.provider_load_balancer)})",
                                   field="--provider")
            if provider not in self.provider_load_balancer:
                raise CapplanError(f"unknown provider {provider!r} (known: {', '.join(self.provider_load_balancer)})",
                                   field="--provider")
            kind = self.provider_load_balancer[provider]
        if kind not in self.kinds:
            raise CapplanError(f"unknown kind {kind!r} (known: {', '.join([*self.kinds, CLOUD_LB])})", field="kind")
        return self.kinds[kind]


def load_timers(path: Path | None = None) -> Timers:
    """The timers file (default: the bundled one), validated, with one-line errors."""
    if path is None:
        return _bundled()
    return _validate(Timers, read_yaml(path), str(path))


@lru_cache(maxsize=1)
def _bundled() -> Timers:
    path = timers_path()
    return _validate(Timers, read_yaml(path), str(path))


def timer_for(kind: str, provider: str | None = None) -> Timer:
    """The bundled timer of ``kind`` (``cloud_lb`` resolves to ``provider``'s load balancer)."""
    return load_timers().timer(kind, provider)


@dataclass(frozen=True)
class PathTimer:
    """One timer on a stream's path: where it is, its semantics and the value in force."""

    hop: str                      # e.g. "cdn cloudflare", "proxy nginx", "load balancer gclb (gcp)"
    kind: str                     # the entry in proxies.yaml
    timer: str                    # idle | total
    seconds: float
    configurable: bool
    setting: str
    provider: str | None = None   # set when the timer exists only on that provider (a cloud_lb tier)

    def cuts(self, max_gap_s: float, total_s: float) -> bool:
        return max_gap_s > self.seconds if self.timer == "idle" else total_s > self.seconds


def path_timers(tier, provider: str | None = None) -> list[PathTimer]:
    """The timers that can cut a stream of ``tier`` (a capplan.model.tier.Tier), browser to app.

    ``cloud_lb`` is the provider's load balancer; without a provider every provider's is listed
    (each line says which), so a reader sees which one bites where."""
    timers = load_timers()
    out: list[PathTimer] = []

    def add(hop: str, kind: str, seconds: float | None, prov: str | None = None):
        t = timers.timer(kind, prov)
        limit = t.limit(seconds)
        if limit is not None:
            out.append(PathTimer(hop, kind if kind != CLOUD_LB else timers.provider_load_balancer[prov], t.timer,
                                 float(limit), t.configurable, t.setting))

    if tier.cdn is not None:
        add(f"cdn {tier.cdn.kind}", tier.cdn.kind, tier.cdn.timeout)
    kind = tier.proxy.kind
    if kind == CLOUD_LB:
        for prov in ([provider] if provider else list(timers.provider_load_balancer)):
            lb = timers.timer(kind, prov)
            name = timers.provider_load_balancer[prov]
            limit = lb.limit(tier.proxy.timeout)
            if limit is not None:
                out.append(PathTimer(f"load balancer {name}", name, lb.timer, float(limit), lb.configurable,
                                     lb.setting, provider=prov))
    else:
        add(f"proxy {kind}", kind, tier.proxy.timeout)
    mesh = getattr(tier, "mesh", None)
    if mesh is not None:
        add("mesh route (istio)", "istio", mesh.route_timeout)
        if "envoy_stream_idle" in timers.kinds:
            add("mesh stream idle (envoy)", "envoy_stream_idle", None)
    return out
