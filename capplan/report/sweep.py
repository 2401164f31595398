"""``capplan sweep`` as JSON (the document ``capplan report`` reads), CSV (one row per point) and
terminal tables (capacity per tier, break-even points, the grid)."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.table import Table

from capplan import __version__
from capplan.report.json import money, num
from capplan.sweep.run import Point, SweepResult


def _p95(p: Point, metric: str) -> list[float | None] | None:
    m = getattr(p.forecast, metric)
    if p.forecast.unstable or not m.count:
        return None      # no made-up number: an unstable point's latencies grow with the run
    return [num(m.p95.mean), num(m.p95.low), num(m.p95.high)]


def _money(value) -> str | None:
    return None if value is None else money(value)


def point_dict(p: Point) -> dict[str, Any]:
    resource, util = p.forecast.busiest
    return {
        "tier": p.tier, "users": p.users, "vary": p.variant.label,
        "verdict": p.forecast.verdict, "meets_slo": p.meets, "reason": p.reason,
        "api_p95_s": _p95(p, "api_latency"), "ttft_p95_s": _p95(p, "ttft"),
        "busiest": {"resource": resource, "utilization": num(util)},
        "error_rate": num(p.forecast.error_share),
        "messages_per_s": num(p.forecast.messages_per_second.mean),
        "monthly_usd": {k: _money(v) for k, v in p.monthly_usd.items()},
        **({"not_deployable": p.notes} if p.notes else {}),
    }


def sweep_document(r: SweepResult, workload: str) -> dict[str, Any]:
    """The whole sweep; money as decimal strings (the infrastructure bill per month)."""
    return {
        "kind": "sweep", "capplan": __version__, "seed": r.settings.seed, "replications": r.settings.replications,
        "workload": workload,
        "slo": {"p95_s": r.slo.p95_s, "ttft_p95_s": r.slo.ttft_p95_s, "max_error_rate": r.slo.max_error_rate},
        "tiers": r.tiers, "providers": r.providers, "users": r.users,
        "vary": {path: [v for v in dict.fromkeys(dict(var.values)[path] for var in r.variants)]
                 for path, _ in (r.variants[0].values if r.variants else ())},
        "resolution": r.resolution, "simulations": r.simulations,
        "points": [point_dict(p) for p in r.points],
        "capacity": [{"tier": c.tier, "vary": c.variant.label, "users": c.users, "status": c.status,
                      "bracket": [c.users, c.failing], "screen_users": num(c.screen_users),
                      "probes": [{"users": u, "meets_slo": ok} for u, ok in c.probes]} for c in r.capacities],
        "break_even": [{"provider": b.provider, "vary": b.variant.label, "users": b.users, "to_users": b.to_users,
                        "from": b.from_tier, "to": b.to_tier, "why": b.why} for b in r.break_evens],
        "cheapest": [{"provider": c.provider, "vary": c.variant.label, "users": c.users, "tier": c.tier,
                      "monthly_usd": _money(c.monthly_usd)} for c in r.cheapest],
        "uncertainty": _uncertainty(r), "sensitivity": _sensitivity(r),
    }


def _input_dict(inp) -> dict[str, Any]:
    return {"path": inp.path, "unit": inp.unit, "shape": inp.shape, "low": num(inp.low), "mode": num(inp.mode),
            "high": num(inp.high)}


def _pcts(values: dict | None, fmt) -> dict[str, Any] | None:
    return None if values is None else {f"p{p:g}": fmt(v) for p, v in values.items()}


def _uncertainty(r: SweepResult) -> dict[str, Any] | None:
    if not r.spreads:
        return None
    return {
        "samples": r.spreads[0].samples, "method": "Latin hypercube (scipy.stats.qmc), planner sizing per sample",
        "inputs": [_input_dict(i) for i in r.inputs],
        "by_users": [{"tier": sp.tier, "users": sp.users, "vary": sp.variant.label, "infeasible": sp.infeasible,
                      "replicas": _pcts(sp.replicas, num),
                      "monthly_usd": {k: _pcts(v, money) for k, v in sp.monthly_usd.items()}} for sp in r.spreads],
    }


def _sensitivity(r: SweepResult) -> list[dict[str, Any]] | None:
    if not r.tornados:
        return None
    return [{"tier": t.tier, "users": t.users, "vary": t.variant.label, "provider": t.provider,
             "rows": [{"input": row["path"], "unit": row["unit"], "low": num(row["low"]), "high": num(row["high"]),
                       "p95_s": [num(row["p95_low"]), num(row["p95_high"])], "p95_swing_s": num(row["p95_swing"]),
                       "monthly_usd": [_money(row["cost_low"]), _money(row["cost_high"])],
                       "cost_swing_usd": _money(row["cost_swing"]), "rank_p95": row["rank_p95"],
                       "rank_cost": row["rank_cost"]} for row in t.rows]} for t in r.tornados]


def uncertainty_table(r: SweepResult) -> Table:
    t = Table(title=f"Uncertainty: {r.spreads[0].samples} Latin-hypercube samples of "
                    f"{', '.join(i.path for i in r.inputs)}; the planner sizes each")
    for col in ("tier", "users", "API replicas P10 / P50 / P90", *[f"{p} monthly P10 / P50 / P90" for p in r.providers],
                "no sizing meets"):
        t.add_column(col, justify="left" if col == "tier" else "right")
    for sp in r.spreads:
        reps = "-" if sp.replicas is None else " / ".join(f"{v:g}" for v in sp.replicas.values())
        usd = ["-" if v is None else " / ".join(f"${money(x)}" for x in v.values()) for v in sp.monthly_usd.values()]
        t.add_row(sp.tier, f"{sp.users:,}", reps, *usd, f"{sp.infeasible} of {sp.samples}")
    return t


def tornado_table(tornado) -> Table:
    t = Table(title=f"Sensitivity at {tornado.users:,} users, {tornado.tier} on {tornado.provider}: each input "
                    "alone at its low and high end (ranked by the p95 swing)")
    for col in ("input", "low .. high", "p95 at low / high", "p95 swing", "monthly at low / high", "cost swing"):
        t.add_column(col, justify="left" if col == "input" else "right")

    def s(x):
        return "inf" if x == float("inf") else f"{x * 1000:,.0f} ms"

    for row in tornado.rows:
        cost = ("-" if row["cost_low"] is None or row["cost_high"] is None
                else f"${money(row['cost_low'])} / ${money(row['cost_high'])}")
        swing = "-" if row["cost_swing"] is None else f"${money(row['cost_swing'])}"
        t.add_row(row["path"], f"{row['low']:g} .. {row['high']:g} {row['unit']}".strip(),
                  f"{s(row['p95_low'])} / {s(row['p95_high'])}", s(row["p95_swing"]), cost, swing)
    return t


def sweep_csv(r: SweepResult) -> str:
    """One row per grid point: the figures a spreadsheet wants, money per provider in columns."""
    paths = [k for k, _ in r.variants[0].values] if r.variants else []
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["tier", "users", *paths, "verdict", "meets_slo", "api_p95_s", "api_p95_s_high", "ttft_p95_s",
                "busiest", "busiest_utilization", "error_rate", *[f"monthly_usd_{p}" for p in r.providers]])
    for p in r.points:
        d = point_dict(p)
        api, ttft = d["api_p95_s"], d["ttft_p95_s"]
        w.writerow([p.tier, p.users, *[p.variant.label[k] for k in paths], d["verdict"], d["meets_slo"],
                    "" if api is None else api[0], "" if api is None else api[2], "" if ttft is None else ttft[0],
                    d["busiest"]["resource"], d["busiest"]["utilization"], d["error_rate"],
                    *["" if d["monthly_usd"][prov] is None else d["monthly_usd"][prov] for prov in r.providers]])
    return out.getvalue()


def _users(n: int | None) -> str:
    return "-" if n is None else f"{n:,}"


def capacity_table(r: SweepResult) -> Table:
    varied = any(v.values for v in r.variants)
    t = Table(title=f"Capacity at the SLO (p95 <= {r.slo.p95_s:g} s, errors <= {r.slo.max_error_rate:.0%})")
    t.add_column("tier")
    if varied:
        t.add_column("inputs")
    for col in ("holds up to", "fails at", "screen: 100% at", "bisection"):
        t.add_column(col, justify="right")
    for c in r.capacities:
        if c.status == "below":
            holds = f"< {_users(c.failing)}"
        elif c.status == "above":
            holds = f">= {_users(c.users)}"
        else:
            holds = _users(c.users)
        row = [c.tier] + ([c.variant.name] if varied else [])
        row += [holds, _users(c.failing), "-" if c.screen_users is None else f"{c.screen_users:,.0f}",
                f"{len(c.probes)} runs" if c.probes else "-"]
        t.add_row(*row)
    return t


def break_even_table(r: SweepResult) -> Table:
    varied = any(v.values for v in r.variants)
    t = Table(title="Break-even: where the cheapest tier that meets the SLO changes")
    t.add_column("provider")
    if varied:
        t.add_column("inputs")
    for col in ("from", "to", "at users", "why"):
        t.add_column(col)
    for b in r.break_evens:
        where = (f"{_users(b.users)} -> {_users(b.to_users)}")
        why = (f"{b.from_tier} holds up to {_users(b.users)}" if b.why == "capacity"
               else f"the bills cross between {_users(b.users)} and {_users(b.to_users)}")
        row = [b.provider] + ([b.variant.name] if varied else [])
        t.add_row(*row, b.from_tier, b.to_tier or "none meets the SLO", where, why)
    if not r.break_evens:
        t.caption = "the cheapest tier that meets the SLO is the same at every count swept"
    return t


def grid_table(r: SweepResult, provider: str) -> Table:
    """Per user count, each tier's p95 (or its verdict) and bill on one provider."""
    t = Table(title=f"p95 API latency and monthly bill on {provider} (tiers as defined in scenarios/)")
    t.add_column("users", justify="right")
    for name in r.tiers:
        t.add_column(name, justify="right")
    for v in r.variants:
        for u in r.users:
            cells = []
            for name in r.tiers:
                p = next((p for p in r.points if p.variant is v and p.tier == name and p.users == u), None)
                if p is None:
                    cells.append("")
                    continue
                d = point_dict(p)
                lat = "unstable" if d["api_p95_s"] is None else f"{d['api_p95_s'][0] * 1000:,.0f} ms"
                mark = "" if p.meets else " x"
                usd = d["monthly_usd"].get(provider)
                cells.append(f"{lat}{mark}\n${usd}" if usd is not None else f"{lat}{mark}")
            label = f"{u:,}" if not v.values else f"{u:,} ({v.name})"
            t.add_row(label, *cells)
    t.caption = "x: misses the SLO"
    return t
