"""Service, think and inter-arrival time distributions given by mean and coefficient of variation."""

from __future__ import annotations

import math
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.units import parse_duration

Seconds = Annotated[float, BeforeValidator(parse_duration), Field(ge=0)]

DistKind = Literal["exponential", "deterministic", "erlang", "gamma", "lognormal"]


class Dist(BaseModel):
    """A non-negative random quantity by family, mean and coefficient of variation (sd / mean).

    exponential has cv 1 by definition; deterministic cv 0; erlang needs 1/cv^2 to be a whole
    number of phases; gamma and lognormal take any cv > 0.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DistKind = "exponential"
    mean: Seconds
    cv: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check_cv(self) -> "Dist":
        cv = self.effective_cv
        if self.kind == "exponential" and self.cv is not None and not math.isclose(self.cv, 1.0):
            raise ValueError("cv: an exponential distribution has cv 1; use gamma or lognormal")
        if self.kind == "deterministic" and self.cv not in (None, 0, 0.0):
            raise ValueError("cv: a deterministic value has cv 0")
        if self.kind in ("gamma", "lognormal") and self.cv is None:
            raise ValueError(f"cv: required for {self.kind}")
        if self.kind == "erlang":
            if not cv:
                raise ValueError("cv: erlang needs cv > 0 (1/cv^2 phases)")
            phases = 1.0 / cv**2
            if abs(phases - round(phases)) > 1e-6:
                raise ValueError(f"cv: erlang needs 1/cv^2 to be a whole number of phases, got {phases:.4g}")
        return self

    @property
    def effective_cv(self) -> float:
        if self.cv is not None:
            return float(self.cv)
        return {"exponential": 1.0, "deterministic": 0.0}.get(self.kind, 0.0)

    @property
    def second_moment(self) -> float:
        return self.mean**2 * (1.0 + self.effective_cv**2)

    def scaled(self, factor: float) -> "Dist":
        """The same family and cv with the mean multiplied by ``factor``."""
        return self.model_copy(update={"mean": self.mean * factor})


class DistSum:
    """The sum of independent draws, one from each part: work done back to back on one server."""

    __slots__ = ("parts",)

    def __init__(self, parts):
        flat = []
        for part in parts:
            flat.extend(part.parts if isinstance(part, DistSum) else [part])
        self.parts = tuple(flat)

    @property
    def mean(self) -> float:
        return sum(p.mean for p in self.parts)

    def scaled(self, factor: float) -> "DistSum":
        return DistSum([p.scaled(factor) for p in self.parts])

    def __getstate__(self):
        return self.parts

    def __setstate__(self, state):
        self.parts = state


def exponential(mean: float) -> Dist:
    return Dist(kind="exponential", mean=mean)


def deterministic(value: float) -> Dist:
    return Dist(kind="deterministic", mean=value)


def batch_sampler(dist: Dist, rng, batch: int = 2048):
    """A zero-argument callable returning successive draws of ``dist`` from numpy ``rng``.

    Draws are made ``batch`` at a time with numpy and handed out one by one: far cheaper per draw
    than a numpy call each time, and each sampler owns its own stream so adding draws to one
    part of a model leaves every other stream unchanged (common random numbers across designs).
    """
    if isinstance(dist, DistSum):
        samplers = [batch_sampler(part, rng, batch) for part in dist.parts]
        if len(samplers) == 2:
            first, second = samplers
            return lambda: first() + second()
        return lambda: sum(s() for s in samplers)
    mean = float(dist.mean)
    kind = dist.kind
    cv = dist.effective_cv
    if kind == "deterministic" or mean == 0.0 or cv == 0.0:
        value = mean
        return lambda: value
    if kind == "exponential":
        def draw(n):
            return rng.exponential(mean, n)
    elif kind in ("gamma", "erlang"):
        shape = 1.0 / cv**2
        if kind == "erlang":
            shape = float(round(shape))
        scale = mean / shape

        def draw(n):
            return rng.gamma(shape, scale, n)
    elif kind == "lognormal":
        sigma2 = math.log1p(cv**2)
        mu = math.log(mean) - sigma2 / 2.0
        sigma = math.sqrt(sigma2)

        def draw(n):
            return rng.lognormal(mu, sigma, n)
    else:  # pragma: no cover - the model forbids other kinds
        raise ValueError(kind)

    def stream():
        while True:
            yield from draw(batch).tolist()

    return stream().__next__


def uniform_sampler(rng, batch: int = 2048):
    """Successive U(0,1) draws, batched like :func:`batch_sampler`."""

    def stream():
        while True:
            yield from rng.random(batch).tolist()

    return stream().__next__
