"""Uncertainty and sensitivity over the inputs a workload gives as ranges (``Workload.uncertain``).

These functions take values and return values: the sweep engine evaluates the points they give
(simulations, bills) and hands the results back; nothing here simulates or prints.

* ``latin_hypercube(inputs, n, seed)``: n points, each input's range cut into n equally likely
  strata and every stratum drawn exactly once (scipy.stats.qmc.LatinHypercube, scrambled), the
  unit column mapped through the range's inverse CDF (triangular: scipy.stats.triang; uniform).
  The stream is ``SeedSequence(seed, spawn_key=(LHS_STREAM,))``: the same seed gives the same
  points on any machine and executor, and never the simulation's own replication streams
  (``SeedSequence(seed).spawn(k)`` children carry spawn keys (0,), (1,), ...).
* ``realize(workload, values)``: the workload at one point.
* ``percentiles(samples)``: P10/P50/P90 by linear interpolation between order statistics
  (Hyndman & Fan type 7, numpy's default "linear"), in Decimal arithmetic for Decimal samples.
* ``one_at_a_time(inputs)`` and ``tornado(rows)``: each input alone at its low and at its high,
  the others at their point values, ranked by the swing of the p95 and of the monthly cost.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Iterable, NamedTuple, Sequence

import numpy as np

from capplan.errors import CapplanError
from capplan.limits import check_seed
from capplan.model.ranges import UncertainInput
from capplan.model.workload import Workload

MIN_SAMPLES = 2
MAX_SAMPLES = 1000            # each sample is a simulation per tier and user count
LHS_STREAM = 0x4C48_5321      # spawn key of the sampling stream ("LHS!"): no replication index reaches it
DEFAULT_PERCENTILES = (10, 50, 90)
SIDES = ("low", "high")

_NO_RANGES = ("the workload gives no ranges: write a number as {low: L, mode: M, high: H} "
              "(e.g. cpu: {message: {kind: exponential, mean: {low: 20ms, mode: 40ms, high: 100ms}}})")


# -- sampling -----------------------------------------------------------------------------------

def check_samples(n: int, field: str = "--uncertainty") -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not MIN_SAMPLES <= n <= MAX_SAMPLES:
        raise CapplanError(f"must be a whole number of samples from {MIN_SAMPLES} to {MAX_SAMPLES}, got {n!r}",
                           field=field)
    return int(n)


def unit_hypercube(d: int, n: int, seed: int) -> np.ndarray:
    """n x d points in [0, 1)^d, one per stratum [k/n, (k+1)/n) in every column."""
    from scipy.stats import qmc

    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(LHS_STREAM,)))
    try:
        engine = qmc.LatinHypercube(d=d, scramble=True, rng=rng)     # SciPy >= 1.15
    except TypeError:   # pragma: no cover - SciPy 1.11-1.14 call it seed
        engine = qmc.LatinHypercube(d=d, scramble=True, seed=rng)
    return engine.random(n)


def inverse_cdf(inp: UncertainInput, u: np.ndarray) -> np.ndarray:
    """The range's quantiles at probabilities ``u``."""
    width = inp.high - inp.low
    if width == 0:
        return np.full(np.shape(u), inp.low, dtype=float)
    if inp.shape == "uniform":
        return inp.low + np.asarray(u, dtype=float) * width
    if inp.shape == "triangular":
        from scipy.stats import triang

        c = (inp.mode - inp.low) / width
        return np.clip(triang.ppf(u, c, loc=inp.low, scale=width), inp.low, inp.high)
    raise ValueError(f"{inp.path}: unknown shape {inp.shape!r}")


def cdf(inp: UncertainInput, x: np.ndarray) -> np.ndarray:
    """The range's distribution function (for tests and for placing a value in its range)."""
    width = inp.high - inp.low
    x = np.asarray(x, dtype=float)
    if width == 0:
        return (x >= inp.low).astype(float)
    if inp.shape == "uniform":
        return np.clip((x - inp.low) / width, 0.0, 1.0)
    from scipy.stats import triang

    return triang.cdf(x, (inp.mode - inp.low) / width, loc=inp.low, scale=width)


def latin_hypercube(inputs: Sequence[UncertainInput], n: int, seed: int) -> list[dict[str, float]]:
    """n points ``{path: value}`` over ``inputs`` (a Latin hypercube: see the module's text)."""
    n = check_samples(n)
    seed = check_seed(seed)
    inputs = list(inputs)
    if not inputs:
        raise CapplanError(_NO_RANGES, field="--uncertainty")
    _unique(inputs)
    unit = unit_hypercube(len(inputs), n, seed)
    columns = [inverse_cdf(inp, unit[:, j]) for j, inp in enumerate(inputs)]
    return [{inp.path: float(col[i]) for inp, col in zip(inputs, columns)} for i in range(n)]


def realize(workload: Workload, values: dict[str, float], field: str = "--uncertainty") -> Workload:
    """The workload with each ``path: value`` set (validated; those inputs are no longer uncertain)."""
    from capplan.sweep.fields import set_fields

    return set_fields(workload, values, field=field) if values else workload


def _unique(inputs: Sequence[UncertainInput]) -> None:
    paths = [inp.path for inp in inputs]
    twice = sorted({p for p in paths if paths.count(p) > 1})
    if twice:
        raise ValueError(f"{twice[0]}: given twice")


# -- summaries ----------------------------------------------------------------------------------

def percentiles(samples: Iterable[float | int | Decimal], ps: Sequence[float] = DEFAULT_PERCENTILES
                ) -> dict[float, float | Decimal]:
    """``{p: value}`` for each p in ``ps`` (0..100): linear interpolation between the order
    statistics x(1) <= ... <= x(n) at rank h = (n - 1) p / 100 (Hyndman & Fan type 7, numpy's
    "linear"): x(floor h) + (h - floor h) (x(floor h + 1) - x(floor h)).

    Decimal samples (money) give Decimal percentiles, computed in Decimal arithmetic (exact for
    cents: at most 2 more decimal places than the inputs for whole-number p). Float samples may be
    infinite (a saturated point's p95): an interpolation between two equal values, infinite or not,
    is that value. NaN is refused (ValueError), as is an empty or mixed list."""
    xs = list(samples)
    if not xs:
        raise ValueError("percentiles of no samples")
    decimal = isinstance(xs[0], Decimal)
    if any(isinstance(x, Decimal) != decimal for x in xs):
        raise ValueError("percentiles: samples mix Decimal and float")
    if decimal:
        if any(x.is_nan() for x in xs):
            raise ValueError("percentiles: a NaN sample")
    else:
        xs = [float(x) for x in xs]
        if any(math.isnan(x) for x in xs):
            raise ValueError("percentiles: a NaN sample")
    xs.sort()
    out: dict[float, float | Decimal] = {}
    for p in ps:
        if not 0 <= p <= 100:
            raise ValueError(f"percentile {p} outside 0..100")
        if decimal:
            h = Decimal(len(xs) - 1) * Decimal(str(p)) / Decimal(100)
        else:
            h = (len(xs) - 1) * p / 100
        lo = int(math.floor(h))
        frac = h - lo
        a = xs[lo]
        b = xs[min(lo + 1, len(xs) - 1)]
        out[p] = a if frac == 0 or a == b else a + frac * (b - a)
    return out


# -- one input at a time ------------------------------------------------------------------------

class OatPoint(NamedTuple):
    """One point of a sensitivity run: ``input`` at its ``side`` ("low" or "high"); ``values``
    holds that one path (every other input stays at its point value, the workload as loaded)."""

    input: UncertainInput
    side: str
    values: dict[str, float]


def one_at_a_time(inputs: Sequence[UncertainInput]) -> list[OatPoint]:
    """For each input, in order: its low point, then its high point."""
    inputs = list(inputs)
    if not inputs:
        raise CapplanError(_NO_RANGES, field="--sensitivity")
    _unique(inputs)
    return [OatPoint(inp, side, {inp.path: getattr(inp, side)}) for inp in inputs for side in SIDES]


def _swing(a, b):
    """|b - a|; None when either is None; two equal values (both infinite too) swing 0; one
    infinite end swings infinitely."""
    if a is None or b is None:
        return None
    if a == b:
        return type(a)(0) if isinstance(a, Decimal) else 0.0
    return abs(b - a)


def tornado(rows: Iterable[tuple], by: str = "p95") -> list[dict]:
    """The tornado table from ``rows`` of ``(input, side, p95_seconds, monthly_cost)``, one per
    ``one_at_a_time`` point (the cost a Decimal, or None when no bill was asked for).

    One dict per input with its range (path, unit, shape, low, mode, high), the outputs at each end
    (p95_low, p95_high, cost_low, cost_high), the swings |high end - low end| (p95_swing seconds,
    cost_swing Decimal or None) and its place in each ranking (rank_p95, rank_cost: 1 = the
    largest swing). Rows are sorted by ``by``: "p95" ranks by the p95 swing, ties by the cost swing;
    "cost" by the cost swing, ties by the p95 swing; the path breaks any tie left."""
    if by not in ("p95", "cost"):
        raise ValueError(f"tornado: by must be 'p95' or 'cost', got {by!r}")
    ends: dict[str, dict] = {}
    order: list[UncertainInput] = []
    for row in rows:
        inp, side, p95, cost = row
        if side not in SIDES:
            raise ValueError(f"{inp.path}: side must be 'low' or 'high', got {side!r}")
        if p95 is None or math.isnan(p95):
            raise ValueError(f"{inp.path}: no p95 at its {side}")
        if inp.path not in ends:
            ends[inp.path] = {}
            order.append(inp)
        if side in ends[inp.path]:
            raise ValueError(f"{inp.path}: its {side} given twice")
        ends[inp.path][side] = (float(p95), cost)
    table = []
    for inp in order:
        got = ends[inp.path]
        missing = [s for s in SIDES if s not in got]
        if missing:
            raise ValueError(f"{inp.path}: no result at its {missing[0]}")
        (p_lo, c_lo), (p_hi, c_hi) = got["low"], got["high"]
        table.append({"path": inp.path, "unit": inp.unit, "shape": inp.shape,
                      "low": inp.low, "mode": inp.mode, "high": inp.high,
                      "p95_low": p_lo, "p95_high": p_hi, "p95_swing": _swing(p_lo, p_hi),
                      "cost_low": c_lo, "cost_high": c_hi, "cost_swing": _swing(c_lo, c_hi)})

    def cost_key(r):
        return -1 if r["cost_swing"] is None else r["cost_swing"]

    by_p95 = sorted(table, key=lambda r: (-r["p95_swing"], -cost_key(r), r["path"]))
    by_cost = sorted(table, key=lambda r: (-cost_key(r), -r["p95_swing"], r["path"]))
    for rank, r in enumerate(by_p95, 1):
        r["rank_p95"] = rank
    for rank, r in enumerate(by_cost, 1):
        r["rank_cost"] = rank
    return by_p95 if by == "p95" else by_cost
