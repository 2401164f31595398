"""`capplan sweep --users 500..20000 --tiers all --providers aws`: 5 tiers x 8 user counts (40 grid
points, then the capacity bisections).

1. Local executor, 2 worker processes: the whole sweep's wall time (target: within 2 minutes).
2. Dask distributed, a LocalCluster of 1 worker against one of 2 workers, in the same run: the
   sweep's wall time on each (the cluster is started before the clock, closed after it) and the
   ratio (target: 2 workers at least 1.6x faster than 1). Both give the local run's document byte
   for byte, which this checks too.

Usage: python bench/sweep.py [--replications 4] [--users 500..20000]
"""

from __future__ import annotations

import argparse
import json
import time

from capplan.forecast import RunSettings
from capplan.model.loader import bundled_tier_names, load_tier, load_workload
from capplan.planner import SLO
from capplan.report.json import dumps
from capplan.report.sweep import sweep_document
from capplan.sim.executor import DaskExecutor, LocalExecutor
from capplan.sweep.run import run_sweep, users_grid


def sweep(executor, users, replications):
    tiers = [load_tier(n) for n in bundled_tier_names()]
    wl = load_workload(None)
    start = time.perf_counter()
    result = run_sweep(tiers, wl, users, ["aws"], SLO(), RunSettings(replications=replications, seed=1),
                       executor=executor)
    seconds = time.perf_counter() - start
    return seconds, dumps(sweep_document(result, wl.name)), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=4)
    parser.add_argument("--users", default="500..20000")
    args = parser.parse_args()
    users = users_grid(args.users)

    local_s, local_doc, result = sweep(LocalExecutor(2), users, args.replications)
    grid = len(users) * len(bundled_tier_names())
    print(f"local, 2 processes: {local_s:.1f} s for {grid} grid points + {result.simulations - grid} bisection "
          f"simulations ({args.replications} replications each)")
    for c in result.capacities:
        print(f"  {c.tier}: {c.status} {c.users} .. {c.failing}")
    times = {}
    for workers in (1, 2):
        started = time.perf_counter()
        with DaskExecutor(None, workers) as ex:
            startup = time.perf_counter() - started
            times[workers], doc, _ = sweep(ex, users, args.replications)
        print(f"dask LocalCluster, {workers} worker(s): {times[workers]:.1f} s (cluster start {startup:.1f} s); "
              f"{'byte-identical to local' if doc == local_doc else 'DIFFERS from local'}")
        if doc != local_doc:
            raise SystemExit("the Dask document differs from the local one")
    ratio = times[1] / times[2]
    print(f"dask speed-up, 2 workers over 1: {ratio:.2f}x (target >= 1.6x)")
    print(json.dumps({"local_2_processes_s": round(local_s, 1), "dask_1_worker_s": round(times[1], 1),
                      "dask_2_workers_s": round(times[2], 1), "speedup": round(ratio, 2),
                      "simulations": result.simulations}))


if __name__ == "__main__":
    main()
