"""Engine throughput on M/M/8 at utilization 0.8 (lambda 6.4, mu 1), in one process, same run:

  (a) a bare SimPy loop (Resource + expovariate, one process per customer: the textbook pattern),
  (b) capplan's engine through its scenario format (scenarios/textbook/mm8.yaml),
  (c) Ciw 3.x (bench extra: pip install '.[bench]'), skipped with a note when not installed.

Each engine serves the same number of customers (default 200,000 after a 10,000-customer warm-up,
as in research/queueing.md); the median of several seeds is reported, with the ratios
capplan/SimPy and capplan/Ciw taken seed by seed (their median, min and max). Times are the
process's CPU seconds (time.process_time): time the machine gives to others does not count. Usage:
python bench/throughput.py [--customers N] [--seeds K]
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np
import simpy

from capplan.sim.build import compile_network
from capplan.data import data_dir
from capplan.model.loader import load_scenario
from capplan.sim.engine import run_replication

LAM, MU, C = 6.4, 1.0, 8


def bare_simpy(customers: int, warm: int, seed: int) -> tuple[float, float]:
    env = simpy.Environment()
    server = simpy.Resource(env, capacity=C)
    rng = random.Random(seed)
    waits: list[float] = []

    def customer(env, index):
        arrive = env.now
        with server.request() as req:
            yield req
            if index >= warm:
                waits.append(env.now - arrive)
            yield env.timeout(rng.expovariate(MU))

    def source(env):
        for i in range(customers + warm):
            yield env.timeout(rng.expovariate(LAM))
            env.process(customer(env, i))

    env.process(source(env))
    start = time.process_time()
    env.run()
    elapsed = time.process_time() - start
    return (customers + warm) / elapsed, sum(waits) / len(waits)


def capplan_engine(customers: int, warm: int, seed: int) -> tuple[float, float]:
    model = load_scenario(data_dir("scenarios") / "textbook" / "mm8.yaml")
    net = compile_network(model)
    warmup = warm / LAM
    duration = customers / LAM
    start = time.process_time()
    rep = run_replication(net, np.random.SeedSequence(seed), duration, warmup)
    elapsed = time.process_time() - start
    served = rep.run_entered
    return served / elapsed, rep.station_waits["server"].mean


def ciw_engine(customers: int, warm: int, seed: int) -> tuple[float, float] | None:
    try:
        import ciw
    except ImportError:
        return None
    network = ciw.create_network(arrival_distributions=[ciw.dists.Exponential(LAM)],
                                 service_distributions=[ciw.dists.Exponential(MU)], number_of_servers=[C])
    ciw.seed(seed)
    sim = ciw.Simulation(network)
    horizon = (customers + warm) / LAM
    start = time.process_time()
    sim.simulate_until_max_time(horizon)
    elapsed = time.process_time() - start
    records = sim.get_all_records()
    warm_t = warm / LAM
    waits = [r.waiting_time for r in records if r.arrival_date >= warm_t]
    return len(records) / elapsed, sum(waits) / len(waits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--warm", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=7)
    args = parser.parse_args()
    engines = {"bare SimPy loop": bare_simpy, "capplan engine (scenario format)": capplan_engine, "Ciw": ciw_engine}
    rates: dict[str, list[float]] = {k: [] for k in engines}
    waits: dict[str, list[float]] = {k: [] for k in engines}
    for seed in range(1, args.seeds + 1):
        # interleave engines seed by seed so machine load drifts hit all of them alike
        for name, fn in engines.items():
            out = fn(args.customers, args.warm, seed)
            if out is None:
                continue
            rates[name].append(out[0])
            waits[name].append(out[1])
    exact_wq = 0.28602807840126
    print(f"M/M/8, rho 0.8: {args.customers:,} customers after {args.warm:,} warm-up, median of {args.seeds} seeds\n")
    print("| engine | customers / s | mean wait (exact 0.2860) |")
    print("| --- | ---: | ---: |")
    med = {}
    for name in engines:
        if not rates[name]:
            print(f"| {name} | not installed (pip install '.[bench]') | |")
            continue
        med[name] = statistics.median(rates[name])
        print(f"| {name} | {med[name]:,.0f} | {statistics.mean(waits[name]):.4f} |")
    # Ratios seed by seed (the engines ran back to back, so a drift of the machine's speed hits both
    # alike), then their median: steadier than a ratio of medians on a noisy shared machine.
    ours = rates["capplan engine (scenario format)"]
    for other, target in (("bare SimPy loop", 2.5), ("Ciw", 1.5)):
        if not rates[other]:
            continue
        pairs = sorted(a / b for a, b in zip(ours, rates[other]))
        print(f"\ncapplan / {other}: median {statistics.median(pairs):.2f}x over {len(pairs)} seeds "
              f"(min {pairs[0]:.2f}x, max {pairs[-1]:.2f}x; target >= {target}x)", end="")
    print()
    _ = exact_wq


if __name__ == "__main__":
    main()
