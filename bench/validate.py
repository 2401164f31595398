"""Predict vs measure: capplan's forecast of the loopback testbed against the testbed itself.

1. Start the testbed (bench/testbed/stack.py: nginx, Node/Express on its own core, PostgreSQL,
   Redis pub/sub, a mock LLM, Prometheus) and run it at a low load.
2. Calibrate from what the stack recorded, as an operator would: `capplan calibrate --prometheus
   <saved answers> --access-log <nginx log> --base bench/testbed/testbed.yaml`. The fitted CPU per
   request and token rate are compared with what the testbed was configured with.
3. For each load (registered users; capplan turns them into session users and request rates),
   predict with the *fitted* workload and the testbed tier (bench/testbed/tier.yaml), then drive the
   stack with exactly those session users and rates and measure: throughput, the API process's CPU
   utilization, API p95 and time-to-first-token p95, each with a 95% interval (a block bootstrap
   over ten batches of the measured window for the percentiles, a t-interval over batches for the
   rest).
4. The saturation point: the largest message rate the stack carries (predicted: the fitted demands'
   bound, the message rate at which the API core is 100% busy; measured: the plateau of the
   overloaded runs).

    python bench/validate.py                      # about 35 minutes; writes bench/results/validate.json
    python bench/validate.py --markdown           # the README table from the saved results
    python bench/validate.py --reuse-calibration --duration 180   # the loads again, same fitted workload
    python bench/validate.py --repredict          # after a model change: new predictions, same measurements
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from scipy import stats

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "testbed"))

from stack import SCRAPE_S, WORKLOAD, Stack, stop_on_sigterm  # noqa: E402

TIER = HERE / "testbed" / "tier.yaml"
RESULTS = HERE / "results" / "validate.json"
BATCHES = 10
BOOTSTRAP = 2000
STEP_S = 5.0          # the fit's window: long next to a request, so a request's CPU and its count share one


def configured_demands(workload) -> dict[str, float]:
    """The testbed's configured CPU per request and LLM pace (what calibrate must recover)."""
    cpu = workload.cpu
    return {"CPU per message POST (s)": cpu.message.mean + cpu.token_count.mean,
            "CPU per streamed delta (s)": cpu.stream_delta, "CPU per API read (s)": cpu.api_read.mean,
            "token rate (tokens/s)": workload.llm.token_rate.mean,
            "time to first token (s)": workload.llm.time_to_first_token.mean}


def calibrate(stack: Stack, run: Path, users: int, duration: float, warmup: float) -> dict:
    """A low-load run, then `capplan calibrate` on its Prometheus answers and nginx log."""
    from capplan.model.loader import load_workload

    start = time.time()
    stack.load(users, duration, warmup, run / "calibrate-loadgen.jsonl", seed=11)
    end = time.time()
    time.sleep(2 * SCRAPE_S)
    stack.save_prometheus(start + warmup, end, run / "calibrate-prometheus", step_s=STEP_S)
    (run / "calibrate-access.log").write_text((stack.run / "access.log").read_text())
    proc = subprocess.run([sys.executable, "-m", "capplan.cli", "calibrate", "--prometheus",
                           str(run / "calibrate-prometheus"), "--access-log", str(run / "calibrate-access.log"),
                           "--base", str(WORKLOAD), "--out", str(run / "fitted.yaml"), "--force"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"capplan calibrate failed: {proc.stderr.strip()}")
    configured, fitted = load_workload(WORKLOAD), load_workload(run / "fitted.yaml")
    want, got = configured_demands(configured), configured_demands(fitted)
    return {"users": users, "duration_s": duration, "table": proc.stdout,
            "recovered": {k: {"configured": want[k], "fitted": got[k], "error": got[k] / want[k] - 1} for k in want}}


def predict(workload_path: Path, users: int, seed: int, event_loop: str | None = None) -> dict:
    """capplan's forecast at ``users``, with the fitted workload (its event loop model replaced by
    ``event_loop`` when given: the testbed's workload says fifo, Node's own loop)."""
    from capplan.forecast import RunSettings, forecast_tiers
    from capplan.model.loader import load_scenario, load_workload

    tier, workload = load_scenario(TIER), load_workload(workload_path)
    if event_loop is not None:
        workload = workload.model_copy(update={"cpu": workload.cpu.model_copy(update={"event_loop": event_loop})})
    f = forecast_tiers([tier], workload, users, RunSettings(replications=10, seed=seed))[0]
    # capplan's api.cpu is the share of the capacity the background leaves (it reaches 1 at
    # saturation); the core's physical busy share, what Prometheus measures, adds the background
    b = workload.cpu.background
    cpu = [u * (1.0 - b) + b for u in _est(f.utilization["api.cpu"])]
    return {"verdict": f.verdict, "session_users": f.active_users,
            "offered_messages_per_s": f.offered_messages_per_second,
            "messages_per_s": _est(f.messages_per_second), "cpu": cpu, "background": b,
            "offered_cpu": f.analytic.offered["api.cpu"],
            "api_p95": _est(f.api_latency.p95) if f.api_latency.count else None,
            "ttft_p95": _est(f.ttft.p95) if f.ttft.count else None}


def predict_both(workload_path: Path, users: int, seed: int) -> dict:
    """The forecast with the workload's own loop, and the coarser processor-sharing loop's latencies
    beside it for comparison (README: why fifo)."""
    pred = predict(workload_path, users, seed)
    shared = predict(workload_path, users, seed, event_loop="shared")
    pred["shared"] = {k: shared[k] for k in ("api_p95", "ttft_p95")}
    return pred


def _est(e) -> list[float]:
    return [e.mean, e.low, e.high]


def measure(stack: Stack, run: Path, pred: dict, duration: float, warmup: float, seed: int) -> dict:
    """Drive the stack with capplan's session users and request rates; measure with intervals."""
    from capplan.model.loader import load_workload

    w = load_workload(WORKLOAD)
    users = pred["session_users"]
    out = run / f"load-{users}.jsonl"
    summary = stack.load(users, duration, warmup, out, seed=seed,
                         read_rate=pred["offered_messages_per_s"] * w.api_reads_per_message,
                         refresh_rate=users / w.refresh_interval)
    time.sleep(2 * SCRAPE_S)
    t0, t1 = summary["t_measure_start"], summary["t_measure_end"]
    records = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    warm = [r for r in records if r["warm"] and t0 <= r["t_start"] < t1]
    edges = np.linspace(t0, t1, BATCHES + 1)

    def batch(r) -> int:
        return min(int(np.searchsorted(edges, r["t_start"], side="right")) - 1, BATCHES - 1)

    msgs = [r for r in warm if r["kind"] == "message"]
    ok_msgs = [r for r in msgs if r["error"] is None]
    per_batch = np.bincount([batch(r) for r in ok_msgs], minlength=BATCHES) / (duration / BATCHES)
    api = [(batch(r), r["api_s"]) for r in warm if r["error"] is None and r["api_s"] is not None]
    ttft = [(batch(r), r["ttft_s"]) for r in ok_msgs if r["ttft_s"] is not None]
    samples = summary.pop("cpu_samples")
    cpu = _cpu_utilization(samples, edges) / stack.replicas
    waiting = _cpu_utilization(samples, edges, column=2) / stack.replicas
    errors = sum(1 for r in warm if r["error"] is not None)
    return {"session_users": users, "messages_per_s": _t_interval(per_batch), "cpu": _t_interval(cpu),
            "waiting_for_core": _t_interval(waiting),
            "api_p95": _p95_interval(api, seed), "ttft_p95": _p95_interval(ttft, seed),
            "errors": errors, "requests": len(warm), "loadgen": summary}


def _cpu_utilization(samples: list[list[float]], edges: np.ndarray, column: int = 1) -> np.ndarray:
    """The API processes' busy share of their core in each batch, from the kernel's CPU counts
    sampled every second (interpolated at the batch edges); column 2: the share of time their
    loops waited for the core."""
    a = np.array(samples)
    t, busy = a[:, 0], a[:, column]
    at = np.interp(edges, t, busy)
    return np.diff(at) / np.diff(edges)


def _t_interval(x: np.ndarray) -> list[float]:
    x = np.asarray(x, dtype=float)
    half = stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size)
    return [float(x.mean()), float(x.mean() - half), float(x.mean() + half)]


def _p95_interval(pairs: list[tuple[int, float]], seed: int) -> list[float] | None:
    """The pooled p95 with a block-bootstrap 95% interval (batches resampled whole, which keeps
    the correlation between neighbouring requests)."""
    if len(pairs) < 40:
        return None
    by = [np.array([v for b, v in pairs if b == k]) for k in range(BATCHES)]
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(BOOTSTRAP):
        pick = rng.integers(0, BATCHES, BATCHES)
        draws.append(np.percentile(np.concatenate([by[k] for k in pick]), 95))
    allv = np.concatenate(by)
    low, high = np.percentile(draws, [2.5, 97.5])
    return [float(np.percentile(allv, 95)), float(low), float(high)]


def saturation(results: list[dict]) -> dict:
    """Where the API core fills up, in registered users. Predicted: the offered utilization is
    linear in the load, so capplan's saturation point is users / offered utilization at any load.
    Measured: the line through the measured utilization of the runs below 85% (utilization law:
    linear in the load, plus the background of timers and scrapes), extrapolated to 100%."""
    first = results[0]
    predicted = first["users"] / first["predicted"]["offered_cpu"]
    below = [(r["users"], r["measured"]["cpu"][0]) for r in results if r["measured"]["cpu"][0] < 0.85]
    measured = None
    if len(below) >= 2:
        slope, intercept = np.polyfit([u for u, _ in below], [c for _, c in below], 1)
        measured = (1.0 - intercept) / slope if slope > 0 else None
    return {"predicted_users": predicted, "measured_users": measured, "runs_in_line": len(below),
            "error": (predicted / measured - 1) if measured else None}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loads", default="12,24,36,44,52,64", help="registered users per run")
    parser.add_argument("--duration", type=float, default=90.0, help="measured seconds per load")
    parser.add_argument("--warmup", type=float, default=20.0)
    parser.add_argument("--calibrate-users", type=int, default=24)
    # 16 minutes: the API read's CPU is the weakest-pinned demand (its 20 ms x 2 reads are a fifth of
    # a message's CPU, next to ~0.09 s of unexplained CPU per 5 s window); its 95% interval is about
    # +-20% after 8 minutes and narrows as 1 / sqrt(duration)
    parser.add_argument("--calibrate-duration", type=float, default=960.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--run", type=Path, default=Path("/tmp/capplan-validate"))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--markdown", action="store_true", help="print the README table from --out and exit")
    parser.add_argument("--reuse-calibration", action="store_true",
                        help="skip the calibration run: predict with --run's fitted.yaml and keep --out's "
                             "calibration record (to measure the loads again, e.g. longer, after a model change)")
    parser.add_argument("--repredict", action="store_true",
                        help="predict again with the current model against --out's measurements, without "
                             "starting the stack (after a model change; refused if a load's session users or "
                             "rates changed, since then the stack would have been driven differently)")
    args = parser.parse_args(argv)
    stop_on_sigterm()
    if args.markdown:
        print(markdown(json.loads(args.out.read_text())))
        return 0
    if args.repredict:
        return repredict(args, parser)
    for name in ("duration", "calibrate_users", "calibrate_duration"):
        if not getattr(args, name) > 0:
            parser.error(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    previous = None
    if args.reuse_calibration:
        for needed, why in ((args.run / "fitted.yaml", "run without it first"),
                            (args.out, "the calibration is taken from it")):
            if not needed.exists():
                parser.error(f"--reuse-calibration: no {needed} ({why})")
        previous = json.loads(args.out.read_text())
    args.run.mkdir(parents=True, exist_ok=True)
    loads = [int(x) for x in args.loads.split(",")]
    doc: dict = {"loads": loads, "duration_s": args.duration, "warmup_s": args.warmup, "seed": args.seed}
    with Stack(replicas=1, workdir=args.run / "stack") as stack:
        if previous is not None:
            doc["calibration"] = previous["calibration"]
        else:
            doc["calibration"] = calibrate(stack, args.run, args.calibrate_users, args.calibrate_duration, args.warmup)
        print(doc["calibration"]["table"], flush=True)
        results = []
        for i, users in enumerate(loads):
            pred = predict_both(args.run / "fitted.yaml", users, args.seed)
            meas = measure(stack, args.run, pred, args.duration, args.warmup, args.seed + i)
            results.append({"users": users, "predicted": pred, "measured": meas})
            print(json.dumps(results[-1]), flush=True)
            _save(args.out, {**doc, "results": results})   # a run cut short keeps what it measured
        doc["results"] = results
    doc["saturation"] = saturation(doc["results"])
    _save(args.out, doc)
    print(markdown(doc))
    return 0


def repredict(args, parser) -> int:
    """The saved loads' predictions again, from the same fitted workload, beside the same measurements."""
    for needed in (args.run / "fitted.yaml", args.out):
        if not needed.exists():
            parser.error(f"--repredict: no {needed}")
    doc = json.loads(args.out.read_text())
    for r in doc["results"]:
        pred = predict_both(args.run / "fitted.yaml", r["users"], doc["seed"])
        old = r["predicted"]
        if pred["session_users"] != old["session_users"] or \
                not math.isclose(pred["offered_messages_per_s"], old["offered_messages_per_s"], rel_tol=1e-9):
            parser.error(f"--repredict: at {r['users']} users the model now asks for {pred['session_users']} session "
                         f"users at {pred['offered_messages_per_s']:.4g} msgs/s (the stack was driven with "
                         f"{old['session_users']} at {old['offered_messages_per_s']:.4g}): measure again")
        r["predicted"] = pred
        print(json.dumps(r), flush=True)
    doc["saturation"] = saturation(doc["results"])
    _save(args.out, doc)
    print(markdown(doc))
    return 0


def _save(path: Path, doc: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")


def _fmt(v: list[float] | None, scale: float = 1.0, unit: str = "", digits: int = 2) -> str:
    if v is None:
        return "n/a"
    return f"{v[0] * scale:.{digits}f} ({v[1] * scale:.{digits}f}-{v[2] * scale:.{digits}f}){unit}"


def markdown(doc: dict) -> str:
    lines = ["| input | testbed configured | fitted by `capplan calibrate` | error |", "|---|---:|---:|---:|"]
    for k, v in doc["calibration"]["recovered"].items():
        lines.append(f"| {k} | {v['configured']:.4g} | {v['fitted']:.4g} | {v['error'] * 100:+.1f}% |")
    lines += ["", "| users (session) | verdict | msgs/s predicted | msgs/s measured | API CPU predicted | API CPU measured "
              "| API p95 ms predicted | API p95 ms measured | TTFT p95 s predicted | TTFT p95 s measured "
              "| API p95 ms, shared-CPU model |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in doc["results"]:
        p, m = r["predicted"], r["measured"]
        unstable = p["verdict"] == "unstable"
        lines.append(
            f"| {r['users']} ({m['session_users']}) | {p['verdict']} | {_fmt(p['messages_per_s'])} | {_fmt(m['messages_per_s'])} "
            f"| {_fmt(p['cpu'], 100, '%', 0)} | {_fmt(m['cpu'], 100, '%', 0)} "
            f"| {'unstable' if unstable else _fmt(p['api_p95'], 1000, '', 0)} | {_fmt(m['api_p95'], 1000, '', 0)} "
            f"| {'unstable' if unstable else _fmt(p['ttft_p95'])} | {_fmt(m['ttft_p95'])} "
            f"| {'unstable' if unstable else _fmt(p.get('shared', {}).get('api_p95'), 1000, '', 0)} |")
    s = doc["saturation"]
    measured = (f"{s['measured_users']:.1f} ({s['error'] * 100:+.1f}%)" if s["measured_users"] else "not measured")
    lines += ["", f"API core saturates at: predicted {s['predicted_users']:.1f} registered users, measured {measured}"]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
