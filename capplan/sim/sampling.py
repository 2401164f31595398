"""Drawing values from the model's distributions: numpy batches, one stream per consumer.

The model (capplan.model.distributions) says what a quantity is (family, mean, cv); this module
is how the simulator draws it. ``DistSum`` is work done back to back on one server, which the
network builder merges into one service so it costs one event.
"""

from __future__ import annotations

import math

from capplan.model.distributions import Dist


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
