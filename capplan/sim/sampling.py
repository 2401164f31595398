"""Drawing values from the model's distributions: numpy batches, one stream per consumer.

The model (capplan.model.distributions) says what a quantity is (family, mean, cv); this module
is how the simulator draws it. ``DistSum`` is work done back to back on one server, which the
network builder merges into one service so it costs one event.
"""

from __future__ import annotations

import math

import numpy as np

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
    if _constant(dist):
        value = float(dist.mean)
        return lambda: value
    return _handed_out(_drawer(dist, rng), batch)


def residual_sampler(dist: Dist | DistSum, rng, batch: int = 2048):
    """Successive forward-recurrence times of ``dist``: how much of an interval of that law is left
    when it is seen at a random instant, U x (a size-biased draw, density x f(x) / E[X]: a random
    instant falls in long intervals more often). Users who start a run part-way through a think
    time drawn so are where the users of a long-running system are: the renewal process is then
    stationary from t = 0 (E[arrivals in (0, t)] = t / E[X]), with no burst at the start. (A plain
    U x X draw halves the exponential's mean residual: twice the steady rate for the first turn.)"""
    if isinstance(dist, DistSum):
        # the size-biased sum: part j size-biased with probability E[X_j] / E[X], the others plain
        parts = dist.parts
        means = np.array([float(p.mean) for p in parts])
        if means.sum() <= 0.0:
            return lambda: 0.0
        plain = [_drawer(p, rng) for p in parts]
        biased = [_drawer(p, rng, size_biased=True) for p in parts]
        weights = means / means.sum()

        def whole(n):
            pick = rng.choice(len(parts), size=n, p=weights)
            return sum(np.where(pick == j, biased[j](n), plain[j](n)) for j in range(len(parts)))

        lengths = whole
    else:
        lengths = _drawer(dist, rng, size_biased=True)
    return _handed_out(lambda n: rng.random(n) * lengths(n), batch)


def _constant(dist: Dist) -> bool:
    return dist.kind == "deterministic" or float(dist.mean) == 0.0 or dist.effective_cv == 0.0


def _drawer(dist: Dist, rng, size_biased: bool = False):
    """``draw(n)``: n draws of ``dist`` as an array; ``size_biased``: from x f(x) / E[X] instead
    (gamma(k, s) becomes gamma(k + 1, s), the exponential being gamma(1, mean); lognormal(mu, sigma)
    becomes lognormal(mu + sigma^2, sigma); a constant stays itself)."""
    mean = float(dist.mean)
    kind = dist.kind
    cv = dist.effective_cv
    if _constant(dist):
        return lambda n: np.full(n, mean)
    if kind == "exponential" and not size_biased:
        return lambda n: rng.exponential(mean, n)
    if kind in ("exponential", "gamma", "erlang"):
        shape = 1.0 if kind == "exponential" else 1.0 / cv**2
        if kind == "erlang":
            shape = float(round(shape))
        scale = mean / shape
        shape += 1.0 if size_biased else 0.0
        return lambda n: rng.gamma(shape, scale, n)
    if kind == "lognormal":
        sigma2 = math.log1p(cv**2)
        mu = math.log(mean) - sigma2 / 2.0 + (sigma2 if size_biased else 0.0)
        sigma = math.sqrt(sigma2)
        return lambda n: rng.lognormal(mu, sigma, n)
    raise ValueError(kind)  # pragma: no cover - the model forbids other kinds


def _handed_out(draw, batch: int):
    """One value at a time from ``draw(batch)`` arrays."""

    def stream():
        while True:
            yield from draw(batch).tolist()

    return stream().__next__


def uniform_sampler(rng, batch: int = 2048):
    """Successive U(0,1) draws, batched like :func:`batch_sampler`."""
    return _handed_out(rng.random, batch)
