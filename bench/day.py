"""`capplan day --tier tier2 --users 3000` (24 simulated hours): wall time and peak memory
(targets: under 60 s and under 1 GB on this machine), and the same for the steady
`capplan simulate --tier tier2 --users 3000` in the same run as the baseline it is a ratio of.

Each command runs in its own process (`/usr/bin/time`-style: resource.getrusage of the children
gives the peak resident set); median of --runs.
Usage: python bench/day.py [--runs 3] [--users 3000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def measure(args: list[str]) -> tuple[float, float]:
    """(seconds, peak MiB) of one `capplan ARGS` in a fresh child process."""
    code = ("import resource, sys, runpy; sys.argv = ['capplan'] + sys.argv[1:]\n"
            "try:\n    runpy.run_module('capplan.cli', run_name='__main__')\n"
            "except SystemExit as e:\n    code = e.code\nelse:\n    code = 0\n"
            "peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
            "sys.stderr.write(f'\\nPEAK_KB {peak}\\n')\n"
            "sys.exit(code)\n")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"capplan {' '.join(args)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    # the process or the largest of its fork pool's workers (the steady simulation's replications)
    peak_kb = max(int(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("PEAK_KB"))
    return elapsed, peak_kb / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--users", type=int, default=3000, help="registered users (the 60 s target is at 3,000)")
    args = parser.parse_args()
    day, steady = [], []
    for _ in range(args.runs):
        day.append(measure(["day", "--tier", "tier2", "--users", str(args.users), "--json"]))
        steady.append(measure(["simulate", "--tier", "tier2", "--users", str(args.users), "--json"]))
    d_t, d_m = statistics.median(t for t, _ in day), max(m for _, m in day)
    s_t, s_m = statistics.median(t for t, _ in steady), max(m for _, m in steady)
    print(f"capplan day --tier tier2 --users {args.users}: median {d_t:.1f} s (target < 60 s at 3000), peak "
          f"{d_m:.0f} MiB (target < 1024 MiB)")
    print(f"capplan simulate --tier tier2 --users {args.users}: median {s_t:.1f} s, peak {s_m:.0f} MiB")
    print(f"day / simulate: {d_t / s_t:.1f}x the time")


if __name__ == "__main__":
    main()
