"""Throughput and latency of one tier against users: the knee and the unstable region.

For each user count: the offered message rate (the demand shape), the carried rate (simulated),
p95 API latency and time to first token (lower bounds once unstable), the failed share, the
bottleneck's carried / offered utilization and the verdict. Prints a markdown table (the README's).
Usage: python bench/knee.py [--tier tier2] [--users 1000 5000 ...] [--replications 5] [--seed 1]
"""

from __future__ import annotations

import argparse
import time

from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import load_tier, load_workload
from capplan.report.table import latency

DEFAULT_USERS = [1000, 5000, 10_000, 20_000, 30_000, 35_000, 40_000, 45_000, 50_000, 70_000, 100_000]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="tier2")
    parser.add_argument("--users", type=int, nargs="+", default=DEFAULT_USERS)
    parser.add_argument("--replications", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    tier, workload = load_tier(args.tier), load_workload()
    settings = RunSettings(replications=args.replications, seed=args.seed)
    start = time.perf_counter()
    print(f"{args.tier} as defined in scenarios/ ({', '.join(f'{s.name} {s.replicas} x {s.processes}' for s in tier.services)}),"
          f" default workload, {args.replications} replications, seed {args.seed}\n")
    print("| users | messages/s offered | carried (95% CI) | API p95 | TTFT p95 | failed | bottleneck carried / offered |"
          " verdict |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for users in args.users:
        f = forecast_tiers([tier], workload, users, settings)[0]
        m = f.messages_per_second
        util = f.utilization.get(f.bottleneck)
        offered = f.analytic.offered.get(f.bottleneck)
        busy = (f"{f.bottleneck} {util.mean:.0%} / {offered:.0%}" if util is not None and offered is not None
                else f.bottleneck)
        print(f"| {users:,} | {f.offered_messages_per_second:.2f} | {m.mean:.2f} [{m.low:.2f}, {m.high:.2f}] | "
              f"{latency(f.api_latency.p95.mean, f)} | {latency(f.ttft.p95.mean, f)} | "
              f"{'≥ ' if f.failures_lower_bound else ''}{f.error_share:.1%} | {busy} | {f.verdict} |", flush=True)
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
