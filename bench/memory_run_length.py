"""Peak memory and time of a textbook M/M/1 simulation against the simulated run length.

What `capplan simulate --scenario scenarios/textbook/mm1.yaml --duration D --replications 2
--workers 1` runs (load_scenario, compile_network, capplan.sim.runner.simulate with one worker: the
replications run in that process), at each run length D in a fresh child process, called below the
CLI because the CLI refuses runs past capplan.limits (30 days, 30 million events). M/M/1 at rho 0.7:
0.7 arrivals a second, 1.4 histogram samples a simulated second. The child's own peak resident
memory (ru_maxrss) and CPU time come from os.wait4. Memory must not grow with the run length: the
histograms are bounded and their sample buffers are flushed on an adaptive simulated-time interval
(capplan.sim.engine FLUSH_*). Prints a markdown table (with the mean response time, exact 3.333 s)
and the ratio of peak RSS at the longest run to the shortest. Wall time counts time the machine
gives to others; CPU time does not. Usage:
    python bench/memory_run_length.py [--durations 2e4 2e5 2e6 2e7] [--replications 2]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

from capplan.data import data_dir


def child(scenario: str, duration: float, replications: int) -> None:
    """The simulation of `capplan simulate --scenario` (seed 1); prints the first class's mean response."""
    from capplan.model.loader import load_scenario
    from capplan.sim.build import compile_network
    from capplan.sim.runner import simulate

    model = load_scenario(scenario)
    result = simulate(compile_network(model), duration=duration, warmup=model.warmup, replications=replications,
                      seed=1, workers=1)
    print(result.metric(f"response:{model.classes[0].name}").mean.mean)


def measure(scenario: str, duration: float, replications: int) -> tuple[float, float, float, float]:
    """(wall s, CPU s, peak RSS MiB, mean response s) of one run in a child process."""
    args = [sys.executable, __file__, "--child", "--scenario", scenario, "--durations", repr(duration),
            "--replications", str(replications)]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(args)} failed: {err.read().decode()}")
        mean = float(out.read().decode().split()[-1])
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, mean   # ru_maxrss: KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--durations", type=float, nargs="+", default=[2e4, 2e5, 2e6, 2e7],
                        help="simulated seconds of the measured window")
    parser.add_argument("--replications", type=int, default=2)
    parser.add_argument("--scenario", default=str(data_dir("scenarios") / "textbook" / "mm1.yaml"))
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.scenario, args.durations[0], args.replications)
        return
    print(f"{os.path.basename(args.scenario)}: {args.replications} replications, 1 worker; cores: {os.cpu_count()}\n")
    print("| simulated s | wall s | CPU s | peak RSS MiB | mean response s |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    rss = {}
    for duration in args.durations:
        wall, cpu, peak, mean = measure(args.scenario, duration, args.replications)
        rss[duration] = peak
        print(f"| {duration:.0e} | {wall:.1f} | {cpu:.1f} | {peak:.1f} | {mean:.4f} |", flush=True)
    shortest, longest = min(rss), max(rss)
    print(f"\npeak RSS at {longest:.0e} s / at {shortest:.0e} s: {rss[longest] / rss[shortest]:.2f}")


if __name__ == "__main__":
    main()
