"""Rich tables for the terminal."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text

from capplan.forecast import TierForecast


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


def simulate_table(forecasts: list[TierForecast]) -> Table:
    users = forecasts[0].users if forecasts else 0
    table = Table(title=f"capplan simulate: {users:,} registered users", title_justify="left")
    table.add_column("")
    for f in forecasts:
        table.add_column(f.tier, justify="right")

    def row(label, cells):
        table.add_row(label, *cells)

    row("seed's claimed users", [claimed(*f.claimed_users) for f in forecasts])
    row("active users (peak)", [f"{f.active_users:,}" for f in forecasts])
    row("API latency p50", [seconds(f.api_latency.p50.mean) for f in forecasts])
    row("API latency p95", [seconds(f.api_latency.p95.mean) for f in forecasts])
    row("API latency p99", [seconds(f.api_latency.p99.mean) for f in forecasts])
    row("  p95 95% CI", [f"{seconds(f.api_latency.p95.low)}-{seconds(f.api_latency.p95.high)}" for f in forecasts])
    row("time to first token p95", [seconds(f.ttft.p95.mean) for f in forecasts])
    row("busiest resource", [f.bottleneck if f.bottleneck in f.utilization else "-" for f in forecasts])
    row("  utilization sim (busiest instance)", [_pct(f.utilization[f.bottleneck].mean) if f.bottleneck in f.utilization else "-"
                              for f in forecasts])
    row("  utilization analytic (even spread)", [_pct(f.analytic.utilization.get(f.bottleneck, float("nan"))) for f in forecasts])
    row("API read mean sim / analytic", [f"{seconds(f.api_read_response.mean.mean)} / "
                                         f"{seconds(f.analytic.response.get('api_read', float('nan')))}" for f in forecasts])
    row("messages/s sim / analytic", [f"{f.messages_per_second.mean:.2f} / {f.analytic.throughput.get('message', 0):.2f}"
                                      for f in forecasts])
    row("peak streams / replica", [_max(f.peak_streams_per_replica, "{:.0f}") for f in forecasts])
    row("rejected", [_pct(f.reject_share.mean) for f in forecasts])
    row("bottleneck", [f.bottleneck for f in forecasts])
    row("saturated", [Text("yes", style="bold red") if f.saturated else Text("no", style="green") for f in forecasts])
    return table


def _pct(value: float) -> str:
    return "-" if value != value else f"{value:.0%}" if value >= 0.1 else f"{value:.1%}"


def _max(values: dict[str, float], fmt: str) -> str:
    return fmt.format(max(values.values())) if values else "-"
