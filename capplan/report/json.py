"""Forecasts as plain JSON-ready dicts: stable key order, numbers rounded to 6 significant digits."""

from __future__ import annotations

import json
import math
from typing import Any

from capplan import __version__
from capplan.forecast import TierForecast
from capplan.sim.runner import MetricSummary, SimResult
from capplan.sim.stats import Estimate


def num(value: float | None, digits: int = 6) -> float | None:
    if value is None or not math.isfinite(value):
        return None
    if value == 0:
        return 0.0
    return float(f"{value:.{digits}g}")


def interval(e: Estimate) -> list[float | None]:
    return [num(e.low), num(e.high)]


def metric_dict(m: MetricSummary, lower_bound: bool = False, unsettled: bool = False) -> dict[str, Any]:
    """Percentiles with their intervals; for an unstable forecast the plain figures are null and the
    run's values are given as lower bounds (they grow with run length), or, for a run that found no
    steady state while draining, as ``unsettled`` (neither a steady state's figures nor a bound)."""
    figures = {"p50": num(m.p50.mean), "p95": num(m.p95.mean), "p99": num(m.p99.mean), "mean": num(m.mean.mean)}
    if lower_bound or unsettled:
        return {"p50": None, "p95": None, "p99": None, "mean": None,
                "unsettled" if unsettled else "lower_bound": figures, "growing": not unsettled, "samples": m.count}
    return {**figures,
            "ci95": {"p50": interval(m.p50), "p95": interval(m.p95), "p99": interval(m.p99), "mean": interval(m.mean)},
            "samples": m.count}


def tier_dict(f: TierForecast) -> dict[str, Any]:
    lb = f.unstable and not f.unsettled
    return {
        "tier": f.tier,
        "title": f.title,
        "claimed_users": {"min": f.claimed_users[0], "max": f.claimed_users[1]},
        "verdict": f.verdict,
        "session_users": f.active_users,
        "messages_per_s": {"carried": num(f.messages_per_second.mean), "carried_ci95": interval(f.messages_per_second),
                           "offered": num(f.offered_messages_per_second)},
        "api_latency_s": metric_dict(f.api_latency, lb, f.unsettled),
        "ttft_s": metric_dict(f.ttft, lb, f.unsettled),
        "turn_s": metric_dict(f.turn, lb, f.unsettled),
        "failed_share": num(f.error_share),
        "failed_share_is_lower_bound": f.failures_lower_bound,
        "rejects": {"share": num(f.reject_share.mean), "by_reason": dict(sorted(f.rejected.items()))},
        "bottleneck": f.bottleneck,
        "over_capacity": {k: num(v) for k, v in f.over_capacity.items()},
        "utilization": {k: num(v.mean) for k, v in f.utilization.items()},
        "utilization_ci95": {k: interval(v) for k, v in f.utilization.items()},
        "offered_utilization": {k: num(v) for k, v in f.analytic.offered.items()},
        "analytic": {
            "utilization": {k: num(v) for k, v in f.analytic.utilization.items()},
            "messages_per_s": num(f.analytic.throughput.get("message")),
            "api_read_mean_s": num(f.analytic.response.get("api_read")),
            "turn_mean_s": num(f.analytic.response.get("message")),
        },
        "simulated_api_read_mean_s": None if lb else num(f.api_read_response.mean.mean),
        "steady_state": {"stationary": f.stationary, "growth": num(f.growth),
                         "mser_truncated_s": num(f.truncated_s.mean), "simulated_users": f.simulated_users},
        "streams": {
            "peak_per_replica": {k: num(v) for k, v in f.peak_streams_per_replica.items()},
            "peak_memory_mib_per_replica": {k: num(v) for k, v in f.peak_memory_mib_per_replica.items()},
            "memory_limit_mib": {k: num(v) for k, v in f.memory_limit_mib.items()},
            "cut_share": num(f.streams_cut_share.mean),
            "timers": [{"hop": c.timer.hop, "timer": c.timer.timer, "seconds": num(c.timer.seconds),
                        "provider": c.timer.provider, "cut_share": num(c.share.mean)} for c in f.timer_cuts],
            "stretch_p95": None if lb else num(f.stream_stretch.p95.mean),
            "longest_stream_p99_s": num(f.longest_stream_p99_s),
            "longest_simulated_s": num(f.longest_stream_s),
        },
        "llm_provider": {k: num(v) for k, v in f.provider.items()} | {
            "wait_p95_s": None if lb else num(f.provider_wait.p95.mean)},
        "run": {"duration_s": num(f.duration), "warmup_s": num(f.warmup), "replications": f.replications},
        "warnings": f.warnings,
    }


def simulate_document(users: int, seed: int, workload: str, forecasts: list[TierForecast]) -> dict[str, Any]:
    return {"capplan_version": __version__, "users": users, "seed": seed, "workload": workload,
            "tiers": [tier_dict(f) for f in forecasts]}


def network_document(name: str, seed: int, result: SimResult, stations: list[str], classes: list[str],
                     infinite: set[str] = frozenset()) -> dict[str, Any]:
    """Every figure of a textbook network with its 95% interval: per class, per station and per class
    at each station, blocking, and the time-average distribution of the number present."""

    def figure(e) -> dict[str, Any]:
        return {"mean": num(e.mean), "ci95": interval(e)}

    doc_stations = {}
    for s in stations:
        probs = result.state_probabilities(s)
        limit = len(probs) - 1
        # states past the largest ever seen are all zero: list up to it, then the tail
        shown = max((n for n in range(limit) if probs[n].high > 0), default=0) + 1
        per_class = {}
        for c in classes:
            at = result.class_at_station(s, c)
            if at["throughput"].mean == 0 and at["in_system"].mean == 0:
                continue
            per_class[c] = {"throughput_per_s": figure(at["throughput"]), "in_system": figure(at["in_system"]),
                            "utilization_share": None if s in infinite else figure(
                                _scaled(at["work"], 1.0 / result.station_servers(s))),
                            "busy_servers": figure(at["work"]) if s in infinite else None,
                            "wait_s": metric_dict(at["wait"])}
        util = result.station_utilization(s)
        doc_stations[s] = {
            "utilization": None if s in infinite else num(util.mean),
            "utilization_ci95": None if s in infinite else interval(util),
            "throughput_per_s": num(result.station_throughput(s).mean),
            "throughput_ci95": interval(result.station_throughput(s)),
            "in_system": num(result.station_in_system(s).mean),
            "in_system_ci95": interval(result.station_in_system(s)),
            "wait_s": metric_dict(result.station_wait(s)),
            "p_wait": num(result.station_wait(s).share_positive.mean),
            "p_wait_ci95": interval(result.station_wait(s).share_positive),
            "blocking": figure(result.station_blocking(s)),
            "state_probabilities": {**{str(n): figure(probs[n]) for n in range(shown)},
                                    f">={limit}": figure(probs[limit])},
            "classes": per_class,
        }
    return {
        "capplan_version": __version__, "scenario": name, "seed": seed,
        "run": {"duration_s": num(result.duration), "warmup_s": num(result.warmup),
                "replications": len(result.replications),
                "mser_truncated_s": num(float(sum(r.truncated_s for r in result.replications)
                                              / len(result.replications)))},
        "classes": {c: {**metric_dict(result.metric(f"response:{c}")),
                        "throughput_per_s": figure(result.class_throughput(c))} for c in classes},
        "stations": doc_stations,
    }


def _scaled(e: Estimate, factor: float) -> Estimate:
    return Estimate(e.mean * factor, e.low * factor, e.high * factor, e.replications)


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def money(value) -> str:
    """Decimal money as a string with cents (exact sums stay in the library; this is display)."""
    from capplan.cost.bill import cents

    return str(cents(value))


def bill_dict(bill, units=None) -> dict[str, Any]:
    out = {
        "total_usd": money(bill.total_usd), "infrastructure_usd": money(bill.infrastructure_usd),
        "llm_usd": money(bill.llm_usd), "fixed_usd": money(bill.fixed_usd), "variable_usd": money(bill.variable_usd),
        "lines": [{"component": l.component, "price_row": l.price_row_id, "description": l.description,
                   "quantity": f"{l.quantity.normalize():f}" if l.quantity == l.quantity.to_integral() else
                   f"{l.quantity:.6f}".rstrip("0"), "unit": l.unit, "unit_price_usd": str(l.unit_price_usd),
                   "monthly_usd": money(l.monthly_usd), "monthly_usd_exact": str(l.monthly_usd),
                   "confidence": l.confidence, "observed": l.observed,
                   "variable": l.variable, "resource": l.resource} for l in bill.lines],
        "warnings": list(bill.warnings),
        "price_warnings": [w.model_dump(mode="json") for w in bill.price_warnings],
    }
    if units is not None:
        out["per_active_user_usd"] = money(units.per_active_user_usd)
        out["per_1000_messages_usd"] = money(units.per_1000_messages_usd)
        out["infrastructure_per_active_user_usd"] = money(units.infrastructure_per_active_user_usd)
    return out


def purchase_dict(options) -> list[dict[str, Any]]:
    return [{"purchase": o.purchase, "term_months": o.term_months, "monthly_usd": money(o.monthly_usd),
             "savings_per_month_usd": money(o.savings_per_month_usd),
             "break_even_months": None if o.break_even_months is None else float(f"{o.break_even_months:.3g}")}
            for o in options]


def slo_figures(f) -> dict[str, Any]:
    return {"api_latency_p95_s": num(f.api_latency.p95.mean), "api_latency_p95_ci95": interval(f.api_latency.p95),
            "ttft_p95_s": num(f.ttft.p95.mean), "ttft_p95_ci95": interval(f.ttft.p95),
            "reject_share": num(f.reject_share.mean), "failed_share": num(f.error_share), "bottleneck": f.bottleneck,
            "bottleneck_utilization": num(f.utilization[f.bottleneck].mean) if f.bottleneck in f.utilization else None,
            "verdict": f.verdict, "saturated": f.saturated}


def node_groups_dict(deployment) -> list[dict[str, Any]]:
    """Node groups (Kubernetes) or the compose host, with the autoscaler's bounds."""
    return [{"name": g.name, "role": g.role, "instance": g.instance_row, "instance_type": g.instance_type,
             "nodes_min": g.nodes_min, "nodes_max": g.nodes_max, "rendered": g.rendered}
            for g in deployment.node_groups]


def option_dict(o) -> dict[str, Any]:
    return {"tier": o.plan.tier.name, "provider": o.provider, "monthly_usd": money(o.bill.infrastructure_usd),
            "monthly_with_llm_usd": money(o.bill.total_usd), "sizing": o.plan.sizing.as_dict(),
            "node_groups": node_groups_dict(o.deployment),
            "slo_figures": slo_figures(o.plan.forecast), "why": o.plan.reason,
            "deploy": o.deploy,
            "bill": bill_dict(o.bill), "purchase_options": purchase_dict(o.purchase_options),
            "screen_rejections": o.plan.screen_rejections, "simulations": o.plan.simulations,
            "survive": o.choices.get("survive")}


def recommend_document(rec, seed: int) -> dict[str, Any]:
    from capplan.planner import seed_band

    win = rec.winner
    doc: dict[str, Any] = {
        "capplan_version": __version__, "users": rec.users, "seed": seed,
        "slo": {"p95_s": rec.slo.p95_s, "ttft_p95_s": rec.slo.ttft_p95_s, "max_error_rate": rec.slo.max_error_rate},
        "require_ha": rec.require_ha, "providers": rec.providers,
        "chosen": option_dict(win) if win else None,
        "tier": win.plan.tier.name if win else None, "provider": win.provider if win else None,
        "sizing": win.plan.sizing.as_dict() if win else None,
        "monthly_usd": money(win.bill.infrastructure_usd) if win else None,
        "slo_figures": slo_figures(win.plan.forecast) if win else None,
        "runner_up": {p: (option_dict(rec.runner_up(p)) if rec.runner_up(p) else None) for p in rec.providers},
        "best_per_provider": {p: (option_dict(rec.best_on(p)) if rec.best_on(p) else None) for p in rec.providers},
        "options": [{"tier": o.plan.tier.name, "provider": o.provider, "monthly_usd": money(o.bill.infrastructure_usd)}
                    for o in rec.options],
        "infeasible": {p.tier.name: p.reason for p in rec.plans if not p.feasible},
        "seed_claims": {},
        "screen_rejections": rec.screen_rejections, "simulations": rec.simulations,
    }
    for p in rec.providers:
        band = seed_band(rec.users, p)
        best = rec.best_on(p)
        if band and best:
            scale, lo, hi = band
            ours = float(best.bill.infrastructure_usd)
            doc["seed_claims"][p] = {"scale": scale, "low_usd": lo, "high_usd": hi, "ours_usd": money(best.bill.infrastructure_usd),
                                     "inside": ours >= lo and (hi is None or ours <= hi),
                                     "difference_vs_band_usd": None if (ours >= lo and (hi is None or ours <= hi))
                                     else round(ours - (lo if ours < lo else hi), 2)}
    return doc
