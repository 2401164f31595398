"""Service demands from what a server already measures: the utilization law over many windows.

In each window i a process's busy time is the work of the requests it served plus a background
rate (timers, GC, health checks):

    busy_i = sum_k D_k n_ik + b dt_i,     D_k >= 0, b >= 0

so the CPU seconds per request of each type (D_k) come out of a non-negative least-squares fit of
busy seconds on request counts (scipy.optimize.nnls). Their 95% intervals come from a bootstrap over
windows (rows resampled with replacement, refitted by unconstrained least squares, so a poorly
pinned demand shows a wide interval rather than a pile of zeros), which needs no assumption about
the noise; the fit's R^2 says how much of the busy time the request mix explains.

Thin or degenerate data is refused with the reason, never fitted to a silent default: too few
windows for the number of types, a type never seen, types whose counts move together (their
demands cannot be told apart) or a demand the data pins only to +-50% or worse, negative or
non-finite values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import nnls

from capplan.errors import CapplanError

MIN_WINDOWS_PER_UNKNOWN = 4      # at least 4 windows per fitted number, and
MIN_WINDOWS = 12                 # never fewer than 12 in all
BOOTSTRAP = 400
MAX_CONDITION = 1e6              # columns this close to dependent cannot be told apart
MAX_RELATIVE_HALF_WIDTH = 0.5    # a demand known only to +-50% or worse is not a fit: refused with the reason


@dataclass(frozen=True)
class Fitted:
    """A fitted number with its bootstrap 95% interval."""

    value: float
    low: float
    high: float

    @property
    def relative_half_width(self) -> float:
        return (self.high - self.low) / 2.0 / self.value if self.value > 0 else math.inf

    def contains(self, x: float) -> bool:
        return self.low <= x <= self.high


@dataclass(frozen=True)
class DemandFit:
    demand_s: dict[str, Fitted]          # request type -> busy seconds per request
    background: Fitted | None            # busy seconds per second no request explains (None: not fitted)
    r2: float                            # share of the busy time's variance the fit explains
    windows: int
    unpinned: dict[str, str] = field(default_factory=dict)   # type -> why its demand is not reported
    point: dict[str, float] = field(default_factory=dict, compare=False)         # every type's estimate
    draws: dict[str, tuple[float, ...]] = field(default_factory=dict, compare=False)  # its bootstrap draws

    def combination(self, weights: dict[str, float], shift: float = 0.0) -> Fitted:
        """shift + sum(w_k D_k) with its interval from the same bootstrap draws (so a difference of
        two correlated demands gets the right, usually narrower, interval)."""
        value = shift + sum(w * self.point[k] for k, w in weights.items())
        draws = shift + sum(w * np.asarray(self.draws[k]) for k, w in weights.items())
        low, high = np.percentile(draws, [2.5, 97.5])
        return Fitted(float(value), float(low), float(high))


def fit_demands(busy_s: object, counts: dict[str, object], window_s: object, *, background: bool = True,
                seed: int = 0, bootstrap: int = BOOTSTRAP, source: str = "busy",
                require_all: bool = True) -> DemandFit:
    """Fit D_k (and b) from per-window busy seconds, request counts by type and window lengths.

    ``window_s`` is one length for every window or one per window. ``source`` names the data in
    error messages (e.g. the metric or file it came from). A demand the data does not pin is an
    error, or with ``require_all=False`` left out of ``demand_s`` and named in ``unpinned`` (every
    type still takes part in the fit, so the others are not biased by its work).
    """
    busy = _vector(busy_s, source)
    w = busy.size
    if not counts:
        raise CapplanError("no request counts to fit against", field=source)
    names = list(counts)
    columns = [_vector(counts[name], f"{source}: {name}") for name in names]
    for name, col in zip(names, columns):
        if col.size != w:
            raise CapplanError(f"{col.size} windows of {name} against {w} of busy time", field=source)
        if not col.any():
            raise CapplanError(f"no {name} requests in any window: its demand cannot be fitted (drop the type "
                               "or collect a period when it is served)", field=source)
    dt = _vector(window_s, f"{source}: window")
    dt = np.full(w, dt[0]) if dt.size == 1 else dt
    if dt.size != w or not (dt > 0).all():
        raise CapplanError("window lengths must be positive, one for all windows or one per window", field=source)
    unknowns = len(names) + (1 if background else 0)
    need = max(MIN_WINDOWS, MIN_WINDOWS_PER_UNKNOWN * unknowns)
    if w < need:
        raise CapplanError(f"{w} windows for {unknowns} unknowns; need at least {need} (a longer range or a "
                           "shorter step)", field=source)
    design = np.column_stack(columns + ([dt] if background else []))
    scale = np.linalg.norm(design, axis=0)
    condition = np.linalg.cond(design / scale)
    if not math.isfinite(condition) or condition > MAX_CONDITION:
        raise CapplanError(f"the counts of {', '.join(names)} move together (condition number {condition:.3g}): "
                           "their demands cannot be told apart; merge the types or use a period where the mix "
                           "varies", field=source)
    x = _nnls(design, busy)
    fitted = design @ x
    total = float(((busy - busy.mean()) ** 2).sum())
    r2 = 1.0 - float(((busy - fitted) ** 2).sum()) / total if total > 0 else 1.0
    # The interval bootstraps the unconstrained least-squares fit: the non-negative one piles its
    # resamples on zero when a demand is poorly pinned, which would print a falsely narrow [0, 0].
    ols = _ols(design, busy)
    rng = np.random.default_rng(seed)
    draws = np.empty((bootstrap, design.shape[1]))
    for b in range(bootstrap):
        rows = rng.integers(0, w, w)
        draws[b] = _ols(design[rows], busy[rows])
    low, high = np.percentile(draws, [2.5, 97.5], axis=0)
    unpinned = {}
    for j, name in enumerate(names):
        if ols[j] <= 0 or (high[j] - low[j]) / 2.0 > MAX_RELATIVE_HALF_WIDTH * ols[j]:
            why = (f"its demand is not pinned by this data (least squares {ols[j]:.3g} s, 95% interval "
                   f"{low[j]:.3g} to {high[j]:.3g} s)")
            if require_all:
                raise CapplanError(f"{name}: {why}: its count barely moves apart from the others' and the "
                                   "background's; use a longer range with more varied traffic, or merge it into "
                                   "another type", field=source)
            unpinned[name] = why + ": a longer range with more of its requests would pin it"
    each = [Fitted(float(x[j]), float(max(low[j], 0.0)), float(max(high[j], 0.0))) for j in range(design.shape[1])]
    return DemandFit(demand_s={n: f for n, f in zip(names, each[: len(names)]) if n not in unpinned},
                     background=each[-1] if background else None, r2=r2, windows=w, unpinned=unpinned,
                     point={n: float(x[j]) for j, n in enumerate(names)},
                     draws={n: tuple(float(v) for v in draws[:, j]) for j, n in enumerate(names)})


def _nnls(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # columns scaled to unit norm so that counts (hundreds) and window lengths (seconds) weigh alike
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    x, _ = nnls(a / scale, b)
    return x / scale


def _ols(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    scale = np.linalg.norm(a, axis=0)
    scale[scale == 0] = 1.0
    x, *_ = np.linalg.lstsq(a / scale, b, rcond=None)
    return x / scale


def _vector(values: object, field: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        raise CapplanError("not a list of numbers", field=field) from None
    if not np.isfinite(arr).all():
        raise CapplanError("holds a missing or non-finite value (NaN/inf): fill or drop those windows", field=field)
    if (arr < 0).any():
        raise CapplanError("holds a negative value (a counter reset not taken out?)", field=field)
    return arr
