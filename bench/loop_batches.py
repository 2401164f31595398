"""How the testbed API's event loop really batches its work, measured from outside with `perf`.

libuv runs Node's loop as: epoll_pwait returns the ready sockets, their callbacks run one after
another to completion, then epoll_pwait again. The time from one call's return to the next call is
one batch of work; a callback that becomes ready meanwhile waits for the rest of the batch. This
drives the testbed at a load (the workload's own read and refresh rates), records the
API thread's epoll_pwait tracepoints for a window in the middle (kernel tracepoints: the process is
not stopped, unlike strace) and prints the batch length distribution: the figures the README's
"Predicted against measured" quotes (p99, the busy share in batches over 100 ms).

    python bench/loop_batches.py --users 27 --duration 60      # session users; needs perf and root

Not run in CI: perf needs the kernel's syscall tracepoints.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "testbed"))

from stack import Stack, stop_on_sigterm  # noqa: E402

EVENT = re.compile(r"\] +([\d.]+): +syscalls:sys_(enter|exit)_epoll_pwait: (.*)")


def batches(perf_script: str) -> tuple[np.ndarray, np.ndarray, float]:
    """(batch lengths in s, ready sockets per batch, traced span in s) from `perf script` output."""
    events = [(float(m.group(1)), m.group(2), m.group(3)) for m in map(EVENT.search, perf_script.splitlines()) if m]
    lengths, ready = [], []
    for (t0, kind0, value0), (t1, kind1, _) in zip(events, events[1:]):
        if kind0 == "exit" and kind1 == "enter":
            lengths.append(t1 - t0)
            ready.append(int(value0, 16))
    if len(events) < 2:
        raise SystemExit("perf recorded no epoll_pwait calls (is the API idle, or perf not allowed?)")
    return np.array(lengths), np.array(ready), events[-1][0] - events[0][0]


def summary(lengths: np.ndarray, ready: np.ndarray, span: float) -> dict:
    work = lengths[ready > 0]
    long = (ready > 0) & (lengths >= 0.1)
    over = lengths[long]
    return {"busy_share": float(lengths.sum() / span), "batches_per_s": float(len(work) / span),
            "mean_ms": float(work.mean() * 1e3),
            **{f"p{q:g}_ms": float(np.percentile(work, q) * 1e3) for q in (50, 90, 99, 99.9)},
            "max_ms": float(work.max() * 1e3),
            "busy_share_in_batches_over_100ms": float(over.sum() / lengths.sum()),
            "ready_sockets_in_batches_over_100ms": float(ready[long].mean()) if len(over) else 0.0,
            "mean_residual_ms": float((lengths ** 2).sum() / 2 / span * 1e3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=27, help="session users (27: about 80%% of the API core)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load after the warm-up")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--trace", type=float, default=30.0, help="seconds traced, in the middle of the load")
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args(argv)
    for name in ("users", "duration", "trace"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name} must be > 0, got {getattr(args, name)}")
    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    if args.trace > args.duration:
        parser.error("--trace must not be longer than --duration")
    if shutil.which("perf") is None:
        parser.error("perf is not installed (Debian: linux-perf)")
    stop_on_sigterm()
    work = Path(tempfile.mkdtemp(prefix="capplan-loop-"))
    try:
        with Stack(replicas=1, workdir=work / "stack") as stack:
            api = next(p.pid for name, p in stack.procs if name.startswith("api"))
            data = work / "perf.data"
            traced: dict = {}

            def trace() -> None:
                time.sleep(args.warmup + (args.duration - args.trace) / 2)
                traced["proc"] = subprocess.run(
                    ["perf", "record", "-q", "-o", str(data), "-e", "syscalls:sys_enter_epoll_pwait",
                     "-e", "syscalls:sys_exit_epoll_pwait", "-t", str(api), "--", "sleep", f"{args.trace:g}"],
                    capture_output=True, text=True)

            tracer = threading.Thread(target=trace)
            tracer.start()
            load = stack.load(args.users, args.duration, args.warmup, work / "load.jsonl", seed=args.seed)
            tracer.join()
        if traced["proc"].returncode != 0:
            raise SystemExit(f"perf record failed: {traced['proc'].stderr.strip()[-500:]}")
        script = subprocess.run(["perf", "script", "-i", str(data)], capture_output=True, text=True, check=True)
        out = summary(*batches(script.stdout))
        out["messages"] = load["warm_counts"]["message"]
        print(json.dumps(out, indent=1, sort_keys=True))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
