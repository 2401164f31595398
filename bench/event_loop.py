"""What the FIFO event loop costs: one replication of a tier at a load, with `cpu.event_loop: shared`
(processor sharing) and `fifo` (Node's run-to-completion loop, a turn per await, stream deltas in
2 ms slices), in one process, same run. CPU seconds of the process (time.process_time), median
over seeds; the ratio fifo / shared is taken seed by seed.

Usage: python bench/event_loop.py [--tier current] [--users 3000] [--seeds 3] [--duration 900]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from capplan.model.loader import load_tier, load_workload
from capplan.sim.build import build_network
from capplan.sim.engine import run_replication


def one(tier: str, users: int, loop: str, seed: int, duration: float) -> tuple[float, float]:
    """(CPU seconds, the API loop's utilization) of one replication."""
    w = load_workload()
    w = w.model_copy(update={"cpu": w.cpu.model_copy(update={"event_loop": loop})})
    net = build_network(load_tier(tier), w, users)
    start = time.process_time()
    res = run_replication(net, np.random.SeedSequence(seed), duration, 120.0)
    return time.process_time() - start, max(res.station_util.get("api.cpu", [0.0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tier", default="current")
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=900.0)
    args = parser.parse_args()
    shared, fifo, ratios = [], [], []
    for seed in range(1, args.seeds + 1):
        s, us = one(args.tier, args.users, "shared", seed, args.duration)
        f, uf = one(args.tier, args.users, "fifo", seed, args.duration)
        shared.append(s)
        fifo.append(f)
        ratios.append(f / s)
    print(f"{args.tier} at {args.users:,} users, {args.duration:.0f} s simulated (API loop {us:.0%} busy): "
          f"shared {statistics.median(shared):.2f} s, fifo {statistics.median(fifo):.2f} s CPU; "
          f"fifo / shared {statistics.median(ratios):.2f}x (min {min(ratios):.2f}, max {max(ratios):.2f})")


if __name__ == "__main__":
    main()
