"""Engine cost in CPU instructions per customer, counted by valgrind's callgrind: repeatable where
wall-clock ratios on a shared machine are not.

Runs bench/throughput.py's bare SimPy loop and capplan's engine (M/M/8, rho 0.8) each at two
customer counts under `valgrind --tool=callgrind`; the difference of the two totals divided by the
difference of customers is the marginal cost of a customer (imports, set-up and result collection
cancel out). Needs valgrind (Debian package valgrind). Usage:
    python bench/instructions.py [--low 20000] [--high 60000]
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

RUNNER = """
import sys
sys.path.insert(0, {bench!r})
from throughput import bare_simpy, capplan_engine
engine, customers = sys.argv[1], int(sys.argv[2])
(bare_simpy if engine == "simpy" else capplan_engine)(customers, 0, 1)
"""


def instructions(engine: str, customers: int, workdir: Path) -> int:
    script = workdir / "run.py"
    script.write_text(RUNNER.format(bench=str(Path(__file__).resolve().parent)))
    out = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={workdir / 'cg.out'}",
                          sys.executable, str(script), engine, str(customers)],
                         capture_output=True, text=True, check=True)
    match = re.search(r"Collected\s*:\s*(\d+)", out.stderr)
    if not match:
        raise SystemExit(f"no instruction count in valgrind's output:\n{out.stderr[-2000:]}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--low", type=int, default=20_000)
    parser.add_argument("--high", type=int, default=60_000)
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    per = {}
    with tempfile.TemporaryDirectory() as tmp:
        for engine in ("simpy", "capplan"):
            low = instructions(engine, args.low, Path(tmp))
            high = instructions(engine, args.high, Path(tmp))
            per[engine] = (high - low) / (args.high - args.low)
    print(f"M/M/8, rho 0.8: instructions per customer (callgrind, {args.low:,} vs {args.high:,} customers)\n")
    print("| engine | instructions / customer |")
    print("| --- | ---: |")
    print(f"| bare SimPy loop | {per['simpy']:,.0f} |")
    print(f"| capplan engine (scenario format) | {per['capplan']:,.0f} |")
    print(f"\ncapplan needs {per['simpy'] / per['capplan']:.2f}x fewer instructions per customer than the bare SimPy loop")


if __name__ == "__main__":
    main()
