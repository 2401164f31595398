"""Cold and warm `capplan check` of examples/plan-pass.yaml (targets: cold < 30 s, warm < 2 s).

Cold: an empty cache directory (simulations and pricing run). Warm: the same command again (the
cached result is read and only the verdict is recomputed). Median of several runs each.
Usage: python bench/check.py [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PLAN = Path(__file__).resolve().parents[1] / "examples" / "plan-pass.yaml"


def timed(args: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"capplan {' '.join(args)} exited {proc.returncode}: {proc.stderr}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cold, warm = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as cache:
            base = ["check", str(PLAN), "--format", "json", "--cache-dir", cache]
            cold.append(timed(base))
            warm.append(timed(base))
    print(f"capplan check {PLAN.name}: cold median {statistics.median(cold):.1f} s (target < 30 s), "
          f"warm median {statistics.median(warm):.2f} s (target < 2 s), {args.runs} runs each")


if __name__ == "__main__":
    main()
