"""A sweep: every tier (as defined in scenarios/) at a range of user counts, for each variant of the
inputs, with its verdict against the SLO and its monthly bill per provider. From the grid:

* each tier's **capacity at the SLO**: the largest user count that still meets it. The grid brackets
  it (the last count that meets, the first that does not); the analytic screen narrows the upper
  end (where the busiest resource is offered 100% nothing can meet an SLO); bisection on the
  simulation closes the bracket to ``resolution`` of the count.
* the **break-even points** per provider: where the cheapest tier that meets the SLO changes, either
  because the cheaper tier runs out of capacity (the change is at its capacity) or because the bills
  cross (the change lies between two grid counts).

Every simulation of the sweep, grid and bisection alike, runs through one executor in batches (all
points of a round at once), each replication with its own ``SeedSequence`` child: the results are
the same on 1 or 8 local workers or on a Dask cluster.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from capplan.errors import CapplanError
from capplan.forecast import RunSettings, TierForecast, forecast_points
from capplan.limits import check_users
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.planner import SLO, meets_slo
from capplan.sweep.fields import set_field

DEFAULT_POINTS = 8            # user counts in a range "LOW..HIGH" unless told otherwise
DEFAULT_RESOLUTION = 0.02     # bisection stops when the bracket is within 2% of its lower end
MAX_POINTS = 200              # per range; a sweep is points x tiers x variants simulations
MAX_BISECTION_ROUNDS = 30


# -- inputs -------------------------------------------------------------------------------------

def users_grid(text: str, points: int = DEFAULT_POINTS) -> list[int]:
    """User counts from "500,1000,3000" (as given, sorted, no repeats) or "LOW..HIGH" (``points``
    counts spaced evenly on a log scale, both ends included, rounded to 2 significant digits past
    the ends so tables read well)."""
    field_name = "--users"
    text = text.strip().replace("_", "")
    if ".." in text:
        low_text, _, high_text = text.partition("..")
        low, high = _count(low_text, field_name), _count(high_text, field_name)
        if low > high:
            raise CapplanError(f"range {text!r}: low {low:,} > high {high:,}", field=field_name)
        if not 2 <= points <= MAX_POINTS:
            raise CapplanError(f"must be 2 to {MAX_POINTS}, got {points}", field="--points")
        if low == high:
            return [low]
        raw = [low * (high / low) ** (k / (points - 1)) for k in range(points)]
        counts = [low] + [_round2(x) for x in raw[1:-1]] + [high]
        return sorted(set(counts))
    counts = [_count(part, field_name) for part in text.split(",") if part.strip()]
    if not counts:
        raise CapplanError(f"no user counts in {text!r} (e.g. 500..20000 or 500,1000,3000)", field=field_name)
    return sorted(set(counts))


def _count(text: str, field_name: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise CapplanError(f"not a whole number of users: {text.strip()!r} (e.g. 500..20000 or 500,1000,3000)",
                           field=field_name) from None
    check_users(value, field_name)
    return value


def _round2(x: float) -> int:
    digits = max(0, int(math.floor(math.log10(x))) - 1)
    step = 10 ** digits
    return int(round(x / step) * step)


@dataclass(frozen=True)
class Variant:
    """One combination of the --vary values (none: the inputs as loaded)."""

    values: tuple[tuple[str, str], ...]
    workload: Workload
    tiers: tuple[Tier, ...]

    @property
    def label(self) -> dict[str, str]:
        return dict(self.values)

    @property
    def name(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.values) or "as loaded"


def variants(tiers: list[Tier], workload: Workload, vary: list[tuple[str, list[str]]]) -> list[Variant]:
    """Every combination of the varied fields. A path names a workload field (``llm.token_rate.mean``)
    or a tier field (``services.api.replicas``), set on every tier that has it."""
    seen = set()
    for path, _ in vary:
        if path in seen:
            raise CapplanError(f"{path} is varied twice", field="--vary")
        seen.add(path)
    out = []
    for combo in itertools.product(*[[(path, v) for v in values] for path, values in vary]):
        w, ts = workload, list(tiers)
        for path, value in combo:
            if path.split(".", 1)[0] in Workload.model_fields:
                w = set_field(w, path, value, field="--vary")
            else:
                ts = _set_on_tiers(ts, path, value)
        out.append(Variant(tuple(combo), w, tuple(ts)))
    return out


def _set_on_tiers(tiers: list[Tier], path: str, value: str) -> list[Tier]:
    head = path.split(".", 1)[0]
    if not any(head in t.model_fields for t in tiers):
        raise CapplanError(f"unknown field {path!r}: not a workload field ({', '.join(Workload.model_fields)}) "
                           f"nor a tier field ({', '.join(Tier.model_fields)})", field="--vary")
    return [set_field(t, path, value, field="--vary") if head in t.model_fields else t for t in tiers]


# -- results ------------------------------------------------------------------------------------

@dataclass
class Point:
    tier: str
    users: int
    variant: Variant
    forecast: TierForecast
    meets: bool
    reason: str
    monthly_usd: dict[str, Decimal | None]      # provider -> infrastructure bill (None: cannot be deployed there)
    notes: dict[str, str] = field(default_factory=dict)


@dataclass
class Capacity:
    tier: str
    variant: Variant
    users: int | None              # the largest count known to meet the SLO (None: not even the smallest)
    failing: int | None            # the smallest count known not to (None: even the largest meets)
    screen_users: float | None     # where the screen offers the busiest resource 100%
    probes: list[tuple[int, bool]] = field(default_factory=list)   # bisection: (users, meets)

    @property
    def status(self) -> str:
        if self.users is None:
            return "below"
        return "above" if self.failing is None else "found"


@dataclass
class BreakEven:
    provider: str
    variant: Variant
    users: int                     # the cheaper tier holds up to here (capacity), or the bills cross past it
    to_users: int                  # ... and the next tier is the cheapest from here
    from_tier: str
    to_tier: str | None            # None: no tier meets the SLO past ``users``
    why: str                       # capacity | cost


@dataclass
class Cheapest:
    provider: str
    variant: Variant
    users: int
    tier: str | None
    monthly_usd: Decimal | None


@dataclass
class Spread:
    """Across the Latin-hypercube samples of the uncertain inputs, at one tier and user count: the
    planner's sizing (screen, then simulation) of each sample and its monthly bill."""

    tier: str
    users: int
    variant: Variant
    samples: int
    infeasible: int                            # samples no sizing of this tier meets the SLO at
    replicas: dict[int, float] | None          # P10/P50/P90 of the API replicas needed
    monthly_usd: dict[str, dict[int, Decimal] | None]   # provider -> P10/P50/P90


@dataclass
class Tornado:
    """Each uncertain input alone at its low and high end, at one tier and user count: the p95 of
    the tier as defined (its simulation) and the bill of the sizing that meets the SLO."""

    tier: str
    users: int
    variant: Variant
    provider: str
    rows: list[dict]


@dataclass
class SweepResult:
    users: list[int]
    tiers: list[str]
    providers: list[str]
    slo: SLO
    settings: RunSettings
    variants: list[Variant]
    points: list[Point]
    capacities: list[Capacity]
    cheapest: list[Cheapest]
    break_evens: list[BreakEven]
    resolution: float
    simulations: int
    inputs: tuple = ()                         # the workload's uncertain inputs (UncertainInput)
    spreads: list[Spread] = field(default_factory=list)
    tornados: list[Tornado] = field(default_factory=list)


# -- running ------------------------------------------------------------------------------------

class _Evaluator:
    """Forecasts and bills points, in batches through one executor."""

    def __init__(self, providers, slo, settings, executor, options, today, on_done):
        from capplan.cost.prices import load_llm_prices, load_price_book

        self.books = {p: load_price_book(p) for p in providers}   # unknown providers fail before any simulation
        self.llm = load_llm_prices()
        self.slo, self.settings, self.executor = slo, settings, executor
        self.options, self.today, self.on_done = options, today, on_done
        self.simulations = 0

    def size(self, batch: list[tuple[Tier, Workload, int]]):
        """The planner's sizing of each (tier, workload, users), every round one batch; with the
        bill of each feasible one per provider."""
        from capplan.planner import size_points

        plans = size_points(batch, self.slo, False, self.settings, self.on_done, executor=self.executor)
        self.simulations += sum(p.simulations for p in plans)
        out = []
        for plan, (_, w, _) in zip(plans, batch):
            money = self._bill(plan.sized, w, plan.forecast)[0] if plan.feasible else {}
            out.append((plan, money))
        return out

    def run(self, batch: list[tuple[Variant, Tier, int]], bill: bool = True) -> list[Point]:
        forecasts = forecast_points([(t, v.workload, u) for v, t, u in batch], self.settings, self.on_done,
                                    executor=self.executor)
        self.simulations += len(batch)
        out = []
        for (v, t, u), f in zip(batch, forecasts):
            meets, reason = meets_slo(f, self.slo)
            money, notes = ({}, {}) if not bill else self._bill(t, v.workload, f)
            out.append(Point(t.name, u, v, f, meets, reason, money, notes))
        return out

    def _bill(self, tier: Tier, workload: Workload, f: TierForecast):
        from capplan.cost.bill import bill_deployment
        from capplan.deploy import build_deployment

        money, notes = {}, {}
        for provider, book in self.books.items():
            try:
                deployment = build_deployment(tier, f, workload, book, self.options)
            except CapplanError as exc:
                money[provider], notes[provider] = None, str(exc)
                continue
            money[provider] = bill_deployment(deployment, book, self.llm, today=self.today).infrastructure_usd
        return money, notes


def run_sweep(tiers: list[Tier], workload: Workload, users: list[int], providers: list[str], slo: SLO,
              settings: RunSettings, vary: list[tuple[str, list[str]]] | None = None, executor=None,
              options=None, today=None, resolution: float = DEFAULT_RESOLUTION,
              on_done: Callable[[], None] | None = None, uncertainty: int = 0, sensitivity: bool = False,
              at: list[int] | None = None) -> SweepResult:
    """``uncertainty``: samples of the workload's uncertain inputs (0: none), each sized by the
    planner at every tier and user count in ``at`` (default: every count); ``sensitivity``: the
    tornado of those inputs at the same points."""
    from capplan.deploy import DeployOptions

    if not tiers:
        raise CapplanError("no tiers to sweep", field="--tiers")
    if not providers:
        raise CapplanError("no providers to price", field="--providers")
    if not 0 < resolution < 1:
        raise CapplanError(f"must be a share in (0, 1), got {resolution:g}", field="--resolution")
    for u in users:
        check_users(u)
    at = sorted(set(users if at is None else at))
    for u in at:
        check_users(u, "--at")
    inputs = tuple(workload.uncertain)
    samples = _samples(inputs, uncertainty, settings.seed) if uncertainty else []
    oat = _one_at_a_time(inputs) if sensitivity else []
    ev = _Evaluator(providers, slo, settings, executor, options or DeployOptions(), today, on_done)
    vs = variants(tiers, workload, vary or [])
    grid = ev.run([(v, t, u) for v in vs for t in v.tiers for u in users])
    capacities = _capacities(ev, vs, grid, users, resolution)
    cheapest, break_evens = _break_evens(vs, grid, users, providers, capacities)
    spreads = _spreads(ev, vs, at, samples, providers) if samples else []
    tornados = _tornados(ev, vs, at, oat, providers) if oat else []
    return SweepResult(users=users, tiers=[t.name for t in tiers], providers=providers, slo=slo, settings=settings,
                       variants=vs, points=grid, capacities=capacities, cheapest=cheapest, break_evens=break_evens,
                       resolution=resolution, simulations=ev.simulations, inputs=inputs, spreads=spreads,
                       tornados=tornados)


def _samples(inputs, n: int, seed: int) -> list[dict[str, float]]:
    from capplan.sweep.uncertainty import latin_hypercube

    return latin_hypercube(inputs, n, seed)


def _one_at_a_time(inputs):
    from capplan.sweep.uncertainty import one_at_a_time

    return one_at_a_time(inputs)


def _spreads(ev: _Evaluator, vs: list[Variant], at: list[int], samples, providers) -> list[Spread]:
    """Every sample at every tier and count, sized in one batched planner run."""
    from capplan.sweep.uncertainty import percentiles, realize

    keys, batch = [], []
    for v in vs:
        worlds = [realize(v.workload, values) for values in samples]
        for t in v.tiers:
            for u in at:
                keys.append((v, t, u))
                batch += [(t, w, u) for w in worlds]
    sized = ev.size(batch)
    out = []
    n = len(samples)
    for k, (v, t, u) in enumerate(keys):
        runs = sized[k * n:(k + 1) * n]
        ok = [(plan, money) for plan, money in runs if plan.feasible]
        replicas = percentiles([plan.sized.service_for("stream").replicas for plan, _ in ok]) if ok else None
        money = {}
        for prov in providers:
            bills = [m[prov] for _, m in ok if m.get(prov) is not None]
            money[prov] = percentiles(bills) if bills else None
        out.append(Spread(t.name, u, v, n, n - len(ok), replicas, money))
    return out


def _tornados(ev: _Evaluator, vs: list[Variant], at: list[int], oat, providers) -> list[Tornado]:
    """Each input alone at each end: the tier as defined simulated (its p95) and sized (its bill)."""
    from capplan.sweep.uncertainty import realize, tornado

    keys, fixed, sizing = [], [], []
    for v in vs:
        for t in v.tiers:
            for u in at:
                keys.append((v, t, u))
                for point in oat:
                    w = realize(v.workload, point.values)
                    fixed.append((Variant(v.values, w, v.tiers), t, u))
                    sizing.append((t, w, u))
    points = ev.run(fixed, bill=False)
    sized = ev.size(sizing)
    out = []
    n = len(oat)
    for k, (v, t, u) in enumerate(keys):
        for prov in providers:
            rows = []
            for j, point in enumerate(oat):
                p = points[k * n + j]
                plan, money = sized[k * n + j]
                p95 = math.inf if p.forecast.unstable else p.forecast.api_latency.p95.mean
                rows.append((point.input, point.side, p95, money.get(prov) if plan.feasible else None))
            out.append(Tornado(t.name, u, v, prov, tornado(rows)))
    return out


def _capacities(ev: _Evaluator, vs: list[Variant], grid: list[Point], users: list[int],
                resolution: float) -> list[Capacity]:
    caps: list[Capacity] = []
    open_: list[tuple[Capacity, Tier]] = []
    for v in vs:
        for t in v.tiers:
            row = sorted((p for p in grid if p.variant is v and p.tier == t.name), key=lambda p: p.users)
            first_fail = next((k for k, p in enumerate(row) if not p.meets), None)
            screen_users = _screen_saturation(row[-1] if first_fail is None else row[first_fail])
            if first_fail == 0:
                caps.append(Capacity(t.name, v, None, row[0].users, screen_users))
                continue
            if first_fail is None:
                caps.append(Capacity(t.name, v, row[-1].users, None, screen_users))
                continue
            lo, hi = row[first_fail - 1].users, row[first_fail].users
            if screen_users is not None and lo < screen_users < hi:
                # past this count the busiest resource is offered more than it can serve: it cannot meet
                hi = max(lo + 1, math.ceil(screen_users))
            cap = Capacity(t.name, v, lo, hi, screen_users)
            caps.append(cap)
            open_.append((cap, t))
    for _ in range(MAX_BISECTION_ROUNDS):
        open_ = [(c, t) for c, t in open_ if c.failing - c.users > max(1, int(resolution * c.users))]
        if not open_:
            break
        probes = ev.run([(c.variant, t, (c.users + c.failing) // 2) for c, t in open_], bill=False)
        for (c, _), p in zip(open_, probes):
            c.probes.append((p.users, p.meets))
            if p.meets:
                c.users = p.users
            else:
                c.failing = p.users
    return caps


def _screen_saturation(p: Point) -> float | None:
    """Users at which the analytic screen offers the busiest queueing resource 100% (offered load
    grows in proportion to users), from a point's screen."""
    scr = p.forecast.analytic
    offered = [u for k, u in scr.offered.items() if scr.kinds.get(k, "queue") == "queue" and k not in scr.off_path]
    worst = max(offered, default=0.0)
    return p.users / worst if worst > 0 else None


def _break_evens(vs, grid, users, providers, capacities):
    cheapest: list[Cheapest] = []
    evens: list[BreakEven] = []
    cap_of = {(id(c.variant), c.tier): c for c in capacities}
    for provider in providers:
        for v in vs:
            order = {t.name: i for i, t in enumerate(v.tiers)}
            at = {}
            for u in users:
                ok = [p for p in grid if p.variant is v and p.users == u and p.meets
                      and p.monthly_usd.get(provider) is not None]
                best = min(ok, key=lambda p: (p.monthly_usd[provider], order[p.tier]), default=None)
                at[u] = best
                cheapest.append(Cheapest(provider, v, u, best.tier if best else None,
                                         best.monthly_usd[provider] if best else None))
            for a, b in zip(users, users[1:]):
                pa, pb = at[a], at[b]
                if pa is None or (pb is not None and pb.tier == pa.tier):
                    continue
                a_holds = any(p.meets for p in grid if p.variant is v and p.tier == pa.tier and p.users == b)
                if not a_holds:
                    cap = cap_of[(id(v), pa.tier)]
                    evens.append(BreakEven(provider, v, cap.users, cap.failing, pa.tier,
                                           pb.tier if pb else None, "capacity"))
                else:
                    evens.append(BreakEven(provider, v, a, b, pa.tier, pb.tier if pb else None, "cost"))
    return cheapest, evens
