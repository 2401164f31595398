"""Wall time of `capplan recommend --users N` over 3 providers x 5 tiers, and the simulations saved.

Runs the installed CLI (JSON output) several times and reports the median wall time, how many
simulations ran and how many candidate sizings the analytic screen turned down without one.
Usage: python bench/recommend.py [--users 3000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=3000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    walls, doc = [], None
    for _ in range(args.runs):
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "capplan.cli", "recommend", "--users", str(args.users),
                               "--today", "2026-11-27", "--json"], capture_output=True, text=True, check=True)
        walls.append(time.perf_counter() - start)
        doc = json.loads(proc.stdout)
    print(f"capplan recommend --users {args.users:,} (3 providers x 5 tiers), {args.runs} runs")
    print(f"wall time: median {statistics.median(walls):.1f} s (min {min(walls):.1f}, max {max(walls):.1f}); target < 30 s")
    print(f"simulations run: {doc['simulations']}; candidate sizings the analytic screen rejected "
          f"(each a simulation saved): {doc['screen_rejections']}")
    print(f"chosen: {doc['tier']} on {doc['provider']} at ${doc['monthly_usd']}/month")


if __name__ == "__main__":
    main()
