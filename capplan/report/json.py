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


def metric_dict(m: MetricSummary) -> dict[str, Any]:
    return {
        "p50": num(m.p50.mean), "p95": num(m.p95.mean), "p99": num(m.p99.mean), "mean": num(m.mean.mean),
        "ci95": {"p50": interval(m.p50), "p95": interval(m.p95), "p99": interval(m.p99), "mean": interval(m.mean)},
        "samples": m.count,
    }


def tier_dict(f: TierForecast) -> dict[str, Any]:
    return {
        "tier": f.tier,
        "title": f.title,
        "claimed_users": {"min": f.claimed_users[0], "max": f.claimed_users[1]},
        "active_users": f.active_users,
        "api_latency_s": metric_dict(f.api_latency),
        "ttft_s": metric_dict(f.ttft),
        "turn_s": metric_dict(f.turn),
        "messages_per_s": num(f.messages_per_second.mean),
        "utilization": {k: num(v.mean) for k, v in f.utilization.items()},
        "utilization_ci95": {k: interval(v) for k, v in f.utilization.items()},
        "analytic": {
            "utilization": {k: num(v) for k, v in f.analytic.utilization.items()},
            "messages_per_s": num(f.analytic.throughput.get("message")),
            "api_read_mean_s": num(f.analytic.response.get("api_read")),
            "turn_mean_s": num(f.analytic.response.get("message")),
        },
        "simulated_api_read_mean_s": num(f.api_read_response.mean.mean),
        "bottleneck": f.bottleneck,
        "saturated": f.saturated,
        "rejects": {"share": num(f.reject_share.mean), "by_reason": dict(sorted(f.rejected.items()))},
        "streams": {
            "peak_per_replica": {k: num(v) for k, v in f.peak_streams_per_replica.items()},
            "peak_memory_mib_per_replica": {k: num(v) for k, v in f.peak_memory_mib_per_replica.items()},
            "memory_limit_mib": {k: num(v) for k, v in f.memory_limit_mib.items()},
            "idle_timeout_s": num(f.idle_timeout_s),
            "over_idle_timeout_share": num(f.streams_over_idle_timeout_share.mean),
            "cut_share": num(f.streams_cut_share.mean),
            "longest_stream_p99_s": num(f.longest_stream_p99_s),
        },
        "run": {"duration_s": num(f.duration), "warmup_s": num(f.warmup), "replications": f.replications},
        "warnings": f.warnings,
    }


def simulate_document(users: int, seed: int, workload: str, forecasts: list[TierForecast]) -> dict[str, Any]:
    return {"capplan_version": __version__, "users": users, "seed": seed, "workload": workload,
            "tiers": [tier_dict(f) for f in forecasts]}


def network_document(name: str, seed: int, result: SimResult, stations: list[str], classes: list[str]) -> dict[str, Any]:
    return {
        "capplan_version": __version__, "scenario": name, "seed": seed,
        "run": {"duration_s": num(result.duration), "warmup_s": num(result.warmup),
                "replications": len(result.replications)},
        "classes": {c: metric_dict(result.metric(f"response:{c}")) for c in classes},
        "stations": {
            s: {"utilization": num(result.station_utilization(s).mean),
                "utilization_ci95": interval(result.station_utilization(s)),
                "wait_s": metric_dict(result.station_wait(s)),
                "p_wait": num(result.station_wait(s).share_positive.mean),
                "in_system": num(result.station_in_system(s).mean),
                "throughput_per_s": num(result.station_throughput(s).mean)}
            for s in stations},
    }


def dumps(doc: Any) -> str:
    return json.dumps(doc, indent=2, sort_keys=False, ensure_ascii=False) + "\n"
