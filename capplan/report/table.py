"""Rich tables for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from capplan.forecast import TierForecast
from capplan.report.money import usd


def seconds(value: float) -> str:
    if value != value:  # NaN
        return "-"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 100:
        return f"{value:.2f} s"
    return f"{value:.0f} s"


def claimed(lo: int, hi: int | None) -> str:
    return f"{lo:,}-{hi:,}" if hi else f"{lo:,}+"


def latency(value: float, f: TierForecast) -> str:
    """A latency figure; for an unstable forecast never a plain number: a lower bound that grows with
    the run, or (no steady state, the run still draining) the run's figure marked unsettled."""
    if not f.unstable:
        return seconds(value)
    if value != value:
        return "-"
    return f"{seconds(value)}, unsettled" if f.unsettled else f"> {seconds(value)}, growing"


def simulate_table(forecasts: list[TierForecast]) -> Table:
    users = forecasts[0].users if forecasts else 0
    table = Table(title=f"capplan simulate: {users:,} registered users", title_justify="left")
    table.add_column("")
    for f in forecasts:
        table.add_column(f.tier, justify="right")

    def row(label, cells):
        table.add_row(label, *cells)

    row("seed's claimed users", [claimed(*f.claimed_users) for f in forecasts])
    row("session users at the peak", [f"{f.active_users:,}" for f in forecasts])
    row("verdict", [_verdict(f) for f in forecasts])
    row("messages/s carried / offered", [f"{f.messages_per_second.mean:.2f} / {f.offered_messages_per_second:.2f}"
                                         for f in forecasts])
    row("API latency p50", [latency(f.api_latency.p50.mean, f) for f in forecasts])
    row("API latency p95", [latency(f.api_latency.p95.mean, f) for f in forecasts])
    row("API latency p99", [latency(f.api_latency.p99.mean, f) for f in forecasts])
    row("  p95 95% CI", ["-" if f.unstable else f"{seconds(f.api_latency.p95.low)}-{seconds(f.api_latency.p95.high)}"
                         for f in forecasts])
    row("time to first token p95", [latency(f.ttft.p95.mean, f) for f in forecasts])
    row("failed (refused or cut)", [("≥ " if f.failures_lower_bound else "") + _pct(f.error_share) for f in forecasts])
    row("bottleneck (limits growth)", [f.bottleneck for f in forecasts])
    row("  carried sim / offered analytic", [_carried_offered(f) for f in forecasts])
    row("over capacity (offered)", [", ".join(f"{k} {v:.0%}" for k, v in f.over_capacity.items()) or "-"
                                    for f in forecasts])
    row("API read mean sim / analytic", [f"{latency(f.api_read_response.mean.mean, f)} / "
                                         f"{'-' if f.unstable else _analytic_seconds(f.analytic.response.get('api_read', float('nan')))}"
                                         for f in forecasts])
    row("peak streams / replica", [_max(f.peak_streams_per_replica, "{:.0f}") for f in forecasts])
    row("streams cut by a timer", [_pct(f.streams_cut_share.mean) for f in forecasts])
    return table


def _verdict(f: TierForecast) -> Text:
    style = {"stable": "green", "saturated": "yellow", "unstable": "bold red"}[f.verdict]
    return Text(f.verdict, style=style)


def _carried_offered(f: TierForecast) -> str:
    carried = f.utilization.get(f.bottleneck)
    offered = f.analytic.offered.get(f.bottleneck)
    left = _pct(carried.mean) if carried is not None else "-"
    right = _pct(offered) if offered is not None else "-"
    return f"{left} / {right}"


def _analytic_seconds(value: float) -> str:
    return "over capacity" if value == float("inf") else seconds(value)


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def _max(values: dict[str, float], fmt: str) -> str:
    return fmt.format(max(values.values())) if values else "-"


_usd = usd  # the name cli.py imported before capplan.report.money existed


def bill_table(bill, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    for col, justify in (("component", "left"), ("price row", "left"), ("quantity", "right"), ("unit", "left"),
                         ("unit price", "right"), ("monthly", "right"), ("confidence", "left")):
        table.add_column(col, justify=justify)
    resources = any(line.resource for line in bill.lines)
    if resources:
        table.add_column("pays for", justify="left")
    for line in bill.lines:
        q = line.quantity
        qty = f"{q:,.0f}" if q == q.to_integral() else f"{q:,.3f}"
        conf = line.confidence if line.confidence != "estimate" else "[yellow]estimate[/yellow]"
        where = (line.resource.replace("managed, outside the manifests: ", "managed: "),) if resources else ()
        table.add_row(line.component, line.price_row_id, qty, line.unit, usd(line.unit_price_usd, exact=True),
                      usd(line.monthly_usd), conf, *where)
    pad = ("",) if resources else ()
    table.add_section()
    table.add_row("infrastructure", "", "", "", "", usd(bill.infrastructure_usd), "", *pad)
    table.add_row("LLM tokens", "", "", "", "", usd(bill.llm_usd), "", *pad)
    table.add_row("[bold]total[/bold]", "", "", "", "", f"[bold]{usd(bill.total_usd)}[/bold]", "", *pad)
    table.add_row("  fixed / variable", "", "", "", "", f"{usd(bill.fixed_usd)} / {usd(bill.variable_usd)}", "",
                  *pad)
    return table


def purchase_table(options) -> Table:
    table = Table(title="purchase options (same deployment)", title_justify="left")
    for col in ("option", "monthly", "saves / month", "break-even"):
        table.add_column(col, justify="right" if col != "option" else "left")
    for o in options:
        be = "-" if o.break_even_months is None else f"{o.break_even_months:.1f} of {o.term_months} months"
        table.add_row(o.purchase, usd(o.monthly_usd), usd(o.savings_per_month_usd), be)
    return table


def recommend_table(rec) -> Table:
    table = Table(title=f"capplan recommend: {rec.users:,} users, SLO p95 <= {rec.slo.p95_s:g} s"
                  + (f", TTFT p95 <= {rec.slo.ttft_p95_s:g} s" if rec.slo.ttft_p95_s else ""), title_justify="left")
    for col in ("rank", "tier", "provider", "infra / month", "with LLM", "replicas", "app nodes", "p95 API (CI high)",
                "bottleneck (util)"):
        table.add_column(col, justify="right" if col in ("rank", "infra / month", "with LLM") else "left")
    for i, o in enumerate(rec.options, 1):
        f = o.plan.forecast
        reps = ", ".join(f"{n} {r}" for n, r in o.plan.sizing.replicas)
        util = f.utilization.get(f.bottleneck)
        table.add_row(str(i), o.plan.tier.name, o.provider, usd(o.bill.infrastructure_usd), usd(o.bill.total_usd),
                      reps, o.app_nodes,
                      f"{seconds(f.api_latency.p95.mean)} ({seconds(f.api_latency.p95.high)})",
                      f"{f.bottleneck} ({_pct(util.mean) if util else '-'})")
    return table


def check_table(doc) -> Table:
    cost = doc.get("cost")
    title = f"capplan check: {doc['plan']}: {doc['verdict'].upper()}"
    if doc.get("tier"):
        title += f" ({doc['tier']} on {doc['provider']}, {doc['users']['forecast']:,} users)"
    table = Table(title=title, title_justify="left")
    for col in ("item", "value", "target / baseline", "margin / delta"):
        table.add_column(col, justify="left" if col == "item" else "right")
    if cost:
        table.add_row(f"monthly ({cost['scope']}, {cost['purchase']})", usd(cost["monthly_usd"]),
                      usd(cost["budget_usd"]), usd(cost["margin_usd"]))
        if cost["baseline_usd"] is not None:
            pct = f" ({cost['delta_pct']:+.1f}%)" if cost["delta_pct"] is not None else ""
            table.add_row("vs baseline", "", usd(cost["baseline_usd"]), f"{usd(cost['delta_usd'], signed=True)}{pct}")
    for row in doc["slo"]:
        unit = "" if row["metric"] == "failed share" else " s"
        table.add_row(row["metric"], f"{row['forecast_s']:.3g}{unit} (CI high {row['ci95_high_s']:.3g})",
                      f"{row['target_s']:g}{unit}", f"{row['margin_s']:+.3g}{unit}")
    day = doc.get("day")
    if day and day.get("simulated"):
        table.add_row(f"SLO-violation minutes ({day['profile']} day)", str(day["slo_violation_minutes"]),
                      str(day["max_slo_violation_minutes"]),
                      str(day["max_slo_violation_minutes"] - day["slo_violation_minutes"]))
    return table
