"""``capplan day`` as a terminal summary (hourly rows, the month's cost line by line) and as JSON."""

from __future__ import annotations

import math
from decimal import Decimal

from rich.table import Table

from capplan.day.plan import DayPlan
from capplan.day.run import Minute, clock, violates


def _ms(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value * 1000:,.0f} ms" if value < 10 else f"{value:,.0f} s"


def _s(value: float | None) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.2f} s"


def hourly(minutes: list[Minute], p95_s: float, error_share: float) -> list[dict]:
    """One row per hour: means of counts, the hour's worst minute for latency, SLO-violation minutes."""
    rows = []
    for h in range(0, len(minutes), 60):
        block = minutes[h:h + 60]
        api = [m.api_p95_s for m in block if m.api_p95_s is not None]
        ttft = [m.ttft_p95_s for m in block if m.ttft_p95_s is not None]
        requests = sum(m.requests for m in block)
        rows.append({
            "t": block[0].t, "users_max": max(m.users for m in block),
            "messages_per_s": sum(m.messages for m in block) / (60.0 * len(block)),
            "pods_max": max(m.pods_ready for m in block), "pods_min": min(m.pods_ready for m in block),
            "nodes_max": max(m.nodes for m in block),
            "cpu_max": max(m.cpu_utilization for m in block),
            "api_p95_worst_s": max(api) if api else None, "ttft_p95_worst_s": max(ttft) if ttft else None,
            "failed_share": sum(m.failed for m in block) / requests if requests else 0.0,
            "slo_violation_minutes": sum(1 for m in block if violates(m, p95_s, error_share)),
        })
    return rows


def day_table(plan: DayPlan, p95_s: float, error_share: float) -> Table:
    r = plan.result
    table = Table(title=f"capplan day: {r.tier}, {r.users:,} users, profile {r.profile} (HPA {r.hpa_min}-{r.hpa_max} pods)")
    for col in ("hour", "users", "msgs/s", "pods", "nodes", "CPU/request max", "API p95 worst minute",
                "TTFT p95 worst minute", "failed", "SLO-violation minutes"):
        table.add_column(col, justify="right")
    for row in hourly(r.minutes, p95_s, error_share):
        pods = f"{row['pods_min']}" if row["pods_min"] == row["pods_max"] else f"{row['pods_min']}-{row['pods_max']}"
        table.add_row(clock(row["t"])[:-3], f"{row['users_max']:,}", f"{row['messages_per_s']:.2f}", pods,
                      str(row["nodes_max"]), f"{row['cpu_max']:.0%}", _ms(row["api_p95_worst_s"]),
                      _s(row["ttft_p95_worst_s"]), f"{row['failed_share']:.1%}", str(row["slo_violation_minutes"]))
    return table


def cost_table(plan: DayPlan) -> Table:
    c = plan.cost
    table = Table(title="the month: fixed at peak size vs autoscaled (a month of such periods)")
    for col in ("component", "price row", "unit price", "fixed", "fixed $/month", "autoscaled", "autoscaled $/month",
                "why"):
        table.add_column(col, justify="right" if col not in ("component", "price row", "why") else "left")
    for line in c.lines:
        table.add_row(line.component, line.price_row_id, f"${line.unit_price_usd}/{line.unit}",
                      f"{line.fixed_quantity.normalize():f}", f"{line.fixed_usd:,.2f}",
                      f"{line.autoscaled_quantity.normalize():f}", f"{line.autoscaled_usd:,.2f}", line.why)
    table.add_row("total", "", "", "", f"{c.fixed_usd:,.2f}", "", f"{c.autoscaled_usd:,.2f}",
                  f"saves ${c.saving_usd:,.2f} a month" if c.saving_usd >= 0 else f"costs ${-c.saving_usd:,.2f} more")
    return table


def day_json(plan: DayPlan, p95_s: float, error_share: float, version: str, seed: int) -> dict:
    r = plan.result
    c = plan.cost

    def money(v: Decimal) -> str:
        return f"{v:.2f}"

    return {
        "capplan_version": version, "tier": r.tier, "users": r.users, "profile": r.profile, "seed": seed,
        "seconds": r.seconds, "hpa": {"min_replicas": plan.hpa.min_replicas, "max_replicas": plan.hpa.max_replicas,
                                      "target_cpu_utilization": plan.hpa.target_utilization,
                                      "peak_sizing_replicas": plan.peak_replicas},
        "timings": {k: getattr(plan.timings, k) for k in plan.timings.__dataclass_fields__},
        "slo": {"p95_s": p95_s, "max_error_rate": error_share,
                "violation_minutes": r.slo_violation_minutes(p95_s, error_share)},
        "node_hours": f"{r.node_hours():.3f}",
        "cost": {"fixed_monthly_usd": money(c.fixed_usd), "autoscaled_monthly_usd": money(c.autoscaled_usd),
                 "saving_monthly_usd": money(c.saving_usd), "fixed_app_nodes": c.fixed_nodes,
                 "mean_app_nodes": f"{c.mean_nodes:.3f}",
                 "lines": [{"component": line.component, "price_row_id": line.price_row_id, "unit": line.unit,
                            "unit_price_usd": str(line.unit_price_usd), "fixed_quantity": str(line.fixed_quantity),
                            "fixed_usd": money(line.fixed_usd), "autoscaled_quantity": str(line.autoscaled_quantity),
                            "autoscaled_usd": money(line.autoscaled_usd), "why": line.why} for line in c.lines]},
        "events": r.events,
        "timeline": [{"t": m.t, "users": m.users, "offered_messages_per_s": round(m.offered_messages_per_s, 6),
                      "messages": m.messages, "pods_ready": m.pods_ready, "pods_starting": m.pods_starting,
                      "pods_pending": m.pods_pending, "nodes": m.nodes, "cpu_utilization": round(m.cpu_utilization, 6),
                      "api_p95_s": None if m.api_p95_s is None else round(m.api_p95_s, 6),
                      "ttft_p95_s": None if m.ttft_p95_s is None else round(m.ttft_p95_s, 6),
                      "stream_gap_p99_s": None if m.stream_gap_p99_s is None else round(m.stream_gap_p99_s, 6),
                      "failed": m.failed, "requests": m.requests} for m in r.minutes],
    }
