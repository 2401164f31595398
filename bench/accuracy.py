"""capplan against queueing theory: exact value, estimate with 95% interval, error, pass/fail.

Pass = the exact value lies inside the 95% interval AND the error is within target (2% on means
and probabilities, 3% on p95/p99). Usage: python bench/accuracy.py [--customers N] [--reps R]
"""

from __future__ import annotations

import argparse
import time

from capplan.accuracy import cases, run_case


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=400_000, help="arrivals per replication")
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    start = time.perf_counter()
    print(f"{args.reps} replications x ~{args.customers:,} arrivals (+10% warm-up discarded), seed {args.seed}\n")
    print("| case | metric | exact | capplan (95% CI) | CI +-% | error | pass |")
    print("| --- | --- | ---: | ---: | ---: | ---: | :---: |")
    failures = 0
    for case in cases():
        for row in run_case(case, args.customers, args.reps, seed=args.seed):
            e = row.estimate
            failures += not row.passed
            note = f" ({row.note})" if row.note else ""
            print(f"| {row.case} | {row.metric}{note} | {row.exact:.5g} | {e.mean:.5g} [{e.low:.5g}, {e.high:.5g}] | "
                  f"{e.relative_half_width:.2%} | {row.error:+.2%} | {'yes' if row.passed else 'NO'} |", flush=True)
    print(f"\n{failures} failing rows; {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
