"""Wall time and peak memory of `capplan simulate` as users grow (one tier and all tiers).

Runs the installed CLI as a subprocess at each user count and samples the resident memory of
its whole process tree (parent + replication workers) from /proc every 20 ms; peak RSS is the
largest sum seen. Prints a markdown table and the growth exponent between successive user
counts (log time ratio / log user ratio: 1.0 = linear). Usage:
    python bench/scaling.py [--users 300 3000 30000 100000] [--tier tier2]
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import threading
import time


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        return []


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def tree_rss_kib(root: int) -> int:
    total, stack = 0, [root]
    while stack:
        pid = stack.pop()
        total += _rss_kib(pid)
        stack.extend(_children(pid))
    return total


def measure(args: list[str]) -> tuple[float, float]:
    """(wall seconds, peak tree RSS in MiB) of one CLI run."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "capplan.cli", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    peak = 0
    done = threading.Event()

    def sample():
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_kib(proc.pid))
            time.sleep(0.02)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    _, err = proc.communicate()
    done.set()
    thread.join()
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"capplan {' '.join(args)} failed: {err.decode()}")
    return wall, peak / 1024.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, nargs="+", default=[300, 3000, 30000, 100000])
    parser.add_argument("--tier", default="tier2", help="the single tier of the one-tier rows")
    args = parser.parse_args()
    print(f"cores: {os.cpu_count()}\n")
    print("| users | scope | wall s | peak RSS MiB (all processes) | time growth exponent |")
    print("| ---: | --- | ---: | ---: | ---: |")
    for scope, extra in ((f"one tier ({args.tier})", ["--tier", args.tier]), ("all tiers", [])):
        previous = None
        for users in args.users:
            wall, rss = measure(["simulate", "--users", str(users), "--json", *extra])
            growth = ""
            if previous:
                growth = f"{math.log(wall / previous[1]) / math.log(users / previous[0]):.2f}"
            print(f"| {users:,} | {scope} | {wall:.1f} | {rss:.0f} | {growth} |", flush=True)
            previous = (users, wall)


if __name__ == "__main__":
    main()
