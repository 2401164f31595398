"""Textbook queueing networks in the scenario format (``kind: network``).

Open Poisson (or renewal) arrivals or closed populations with think time; stations with c
servers, a discipline (FCFS, processor sharing or infinite servers: BCMP networks can be written
directly) and an optional capacity K (customers beyond K are lost); pools; several classes, each
with its own route of steps. capplan.sim.build compiles it to the engine's NetworkSpec.

    kind: network
    name: mm1
    stations: [{name: server, servers: 1}]
    classes:
      - name: job
        interarrival: {kind: exponential, mean: 1.25}
        route: [{station: server, service: {kind: exponential, mean: 1.0}}]
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from capplan.limits import MAX_POPULATION, MAX_REPLICAS, MAX_RUN_S, MAX_SERVERS
from capplan.model.distributions import Dist, Seconds


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers


class StationModel(_Strict):
    name: str = Field(min_length=1)
    servers: int = Field(default=1, ge=1, le=MAX_SERVERS)
    capacity: int | None = Field(default=None, ge=1, le=MAX_POPULATION, description="max customers incl. in service (K)")
    instances: int = Field(default=1, ge=1, le=MAX_REPLICAS)
    # fcfs: first come first served; ps: processor sharing (every customer present gets an equal
    # share of the servers); is: infinite servers (a delay station: nobody waits)
    discipline: Literal["fcfs", "ps", "is"] = "fcfs"

    @model_validator(mode="after")
    def _k_at_least_c(self) -> "StationModel":
        if self.capacity is not None and self.capacity < self.servers:
            raise ValueError(f"capacity: {self.capacity} is below servers {self.servers}")
        if self.discipline == "is" and self.capacity is not None:
            raise ValueError("capacity: an infinite-server station has no capacity limit")
        return self


class PoolModel(_Strict):
    name: str = Field(min_length=1)
    size: int = Field(ge=1, le=MAX_SERVERS)
    loss: bool = False


class StepModel(_Strict):
    """One step: exactly one of station (+ service), delay, acquire, release, mark."""

    station: str | None = None
    service: Dist | None = None
    delay: Dist | None = None
    acquire: str | None = None
    release: str | None = None
    mark: str | None = None
    probability: float = Field(default=1.0, gt=0, le=1)

    @model_validator(mode="after")
    def _one_action(self) -> "StepModel":
        actions = [a for a in ("station", "delay", "acquire", "release", "mark") if getattr(self, a) is not None]
        if len(actions) != 1:
            raise ValueError("a route step needs exactly one of station, delay, acquire, release, mark")
        if self.station is not None and self.service is None:
            raise ValueError("service: a station step needs a service time distribution")
        if self.station is None and self.service is not None:
            raise ValueError("service: only a station step takes a service time")
        return self


class ClassModel(_Strict):
    name: str = Field(min_length=1)
    interarrival: Dist | None = None
    population: int | None = Field(default=None, ge=1, le=MAX_POPULATION)
    think: Dist | None = None
    route: list[StepModel] = Field(min_length=1)

    @model_validator(mode="after")
    def _open_or_closed(self) -> "ClassModel":
        if (self.interarrival is None) == (self.population is None):
            raise ValueError("a class is either open (interarrival) or closed (population [+ think])")
        if self.interarrival is not None and self.interarrival.mean <= 0:
            raise ValueError("interarrival: mean must be > 0")
        if self.think is not None and self.population is None:
            raise ValueError("think: only a closed class (population) has a think time")
        return self


class NetworkModel(_Strict):
    kind: Literal["network"] = "network"
    name: str = Field(min_length=1)
    description: str = ""
    stations: list[StationModel] = Field(min_length=1)
    pools: list[PoolModel] = Field(default_factory=list)
    classes: list[ClassModel] = Field(min_length=1)
    duration: Seconds = Field(default=10_000.0, gt=0, le=MAX_RUN_S, description="measured simulated time per replication")
    warmup: Seconds = Field(default=1_000.0, le=MAX_RUN_S, description="simulated time discarded before measuring")
    state_limit: int = Field(default=30, ge=1, le=10_000, description="P(N = n) reported for n below this; the rest is the tail")

    @model_validator(mode="after")
    def _names_resolve(self) -> "NetworkModel":
        stations = [s.name for s in self.stations]
        pools = [p.name for p in self.pools]
        for names, what in ((stations, "station"), (pools, "pool"), ([c.name for c in self.classes], "class")):
            if len(set(names)) != len(names):
                raise ValueError(f"{what} names must be unique")
        for ci, cls in enumerate(self.classes):
            for si, step in enumerate(cls.route):
                where = f"classes[{ci}].route[{si}]"
                if step.station is not None and step.station not in stations:
                    raise ValueError(f"{where}.station: no station named {step.station!r} (have {stations})")
                for ref in (step.acquire, step.release):
                    if ref is not None and ref not in pools:
                        raise ValueError(f"{where}: no pool named {ref!r} (have {pools})")
        return self
