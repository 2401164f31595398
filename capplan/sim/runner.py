"""Independent replications, in parallel across cores, summarised with 95% confidence intervals.

Seeds come from ``numpy.random.SeedSequence(seed).spawn(n)``: replication k gets the same stream
whatever the number of workers, so results are identical serial or parallel.

Workers are forked processes that end with the run, however it ends (``capplan.sim.pool``); in
process, a stop request (``capplan.stop``: SIGINT, SIGTERM, the time limit) interrupts the replication
running and is checked between replications.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from capplan.sim.engine import run_replication
from capplan.sim.executor import Executor, LocalExecutor
from capplan.sim.result import ReplicationResult
from capplan.sim.spec import NetworkSpec
from capplan.sim.stats import Estimate, estimate

QUANTILES = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


@dataclass(frozen=True)
class MetricSummary:
    count: int
    mean: Estimate
    p50: Estimate
    p95: Estimate
    p99: Estimate
    share_positive: Estimate        # e.g. probability of waiting for wait metrics


@dataclass
class SimResult:
    network: str
    replications: list[ReplicationResult]
    duration: float
    warmup: float
    servers: dict[str, int] = field(default_factory=dict)      # station -> servers x instances

    def station_servers(self, name: str) -> int:
        return self.servers.get(name, 1)

    def class_throughput(self, cls: str) -> Estimate:
        return estimate([r.metrics[f"response:{cls}"].n / r.measured_time for r in self.replications])

    def metric(self, name: str) -> MetricSummary:
        hists = [r.metrics[name] for r in self.replications]
        return _summarise(hists)

    def station_wait(self, name: str) -> MetricSummary:
        return _summarise([r.station_waits[name] for r in self.replications])

    def pool_wait(self, name: str) -> MetricSummary:
        return _summarise([r.pool_waits[name] for r in self.replications])

    def station_utilization(self, name: str) -> Estimate:
        return estimate([float(np.mean(r.station_util[name])) for r in self.replications])

    def station_max_instance_utilization(self, name: str) -> Estimate:
        return estimate([float(np.max(r.station_util[name])) for r in self.replications])

    def pool_utilization(self, name: str) -> Estimate:
        return estimate([float(np.mean(r.pool_util[name])) for r in self.replications])

    def station_in_system(self, name: str) -> Estimate:
        return estimate([r.station_in_system[name] for r in self.replications])

    def station_throughput(self, name: str) -> Estimate:
        return estimate([r.station_throughput[name] for r in self.replications])

    def quantile_estimate(self, name: str, q: float) -> Estimate:
        return estimate([r.metrics[name].quantile(q) for r in self.replications])

    def share_above(self, name: str, threshold: float) -> Estimate:
        return estimate([r.metrics[name].share_above(threshold) for r in self.replications])

    def station_blocking(self, name: str) -> Estimate:
        """Share of the customers arriving at the station that it turned away (capacity K full)."""
        values = []
        for r in self.replications:
            done = r.station_throughput[name] * r.measured_time
            rejects = r.station_rejects[name]
            values.append(rejects / (done + rejects) if done + rejects else 0.0)
        return estimate(values)

    def station_carried_work(self, name: str) -> Estimate:
        """Completed service demand per second (server-seconds per second, all instances)."""
        return estimate([r.station_work[name] for r in self.replications])

    def state_probabilities(self, name: str) -> list[Estimate]:
        """Time-average P(N = n) at an instance of the station, n = 0 .. limit - 1, then P(N >= limit)."""
        per_rep = [r.station_detail[name].state_probs for r in self.replications]
        return [estimate([probs[n] for probs in per_rep]) for n in range(len(per_rep[0]))]

    def class_at_station(self, name: str, cls: str) -> dict:
        """Throughput, mean number present (Little's law), utilization share and waits of one class at
        one station."""
        details = [r.station_detail[name] for r in self.replications]
        return {
            "throughput": estimate([d.class_throughput.get(cls, 0.0) for d in details]),
            "in_system": estimate([d.class_in_system.get(cls, 0.0) for d in details]),
            "work": estimate([d.class_work.get(cls, 0.0) for d in details]),
            "wait": _summarise([d.class_wait[cls] for d in details if cls in d.class_wait]),
        }

    def rejected_share(self) -> Estimate:
        values = []
        for r in self.replications:
            rejected = sum(r.rejected.values())
            values.append(rejected / r.arrivals if r.arrivals else 0.0)
        return estimate(values)


def _summarise(hists) -> MetricSummary:
    return MetricSummary(
        count=int(sum(h.n for h in hists)),
        mean=estimate([h.mean for h in hists]),
        p50=estimate([h.quantile(0.50) for h in hists]),
        p95=estimate([h.quantile(0.95) for h in hists]),
        p99=estimate([h.quantile(0.99) for h in hists]),
        share_positive=estimate([h.share_positive() for h in hists]),
    )


def _worker(args):
    net, seed, duration, warmup, truncate = args
    return run_replication(net, seed, duration, warmup, truncate)


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def simulate(net: NetworkSpec, *, duration: float, warmup: float, replications: int = 5, seed: int = 1,
             workers: int | None = None, on_done: Callable[[], None] | None = None,
             truncate: bool = True) -> SimResult:
    """Run ``replications`` independent replications of ``net`` and return them (``truncate``:
    discard the further warm-up MSER-5 finds after the fixed one)."""
    seeds = np.random.SeedSequence(seed).spawn(replications)
    jobs = [(net, s, duration, warmup, truncate) for s in seeds]
    results = LocalExecutor(default_workers() if workers is None else workers).map(_worker, jobs, on_done)
    return SimResult(network=net.name, replications=results, duration=duration, warmup=warmup,
                     servers=_servers(net))


def run_many(jobs: list[tuple[NetworkSpec, float, float, int, int]], workers: int | None = None,
             on_done: Callable[[], None] | None = None, executor: Executor | None = None) -> list[SimResult]:
    """Run several networks' replications in one process pool (keeps both cores busy across tiers),
    or on ``executor`` (e.g. Dask; ``workers`` is then unused).

    jobs: (net, duration, warmup, replications, seed[, truncate]) per network; results in the same
    order (``truncate``, default True: MSER-5 may discard more warm-up).
    """
    flat = []
    for k, (net, duration, warmup, reps, seed, *rest) in enumerate(jobs):
        truncate = rest[0] if rest else True
        for s in np.random.SeedSequence(seed).spawn(reps):
            flat.append((k, (net, s, duration, warmup, truncate)))
    if executor is None:
        executor = LocalExecutor(default_workers() if workers is None else workers)
    out: list[list[ReplicationResult]] = [[] for _ in jobs]
    # Each result is keyed by its job's position, so the order the jobs finish in changes nothing.
    for (k, _), result in zip(flat, executor.map(_worker, [job for _, job in flat], on_done)):
        out[k].append(result)
    return [SimResult(network=j[0].name, replications=r, duration=j[1], warmup=j[2], servers=_servers(j[0]))
            for j, r in zip(jobs, out)]


def _servers(net: NetworkSpec) -> dict[str, int]:
    return {s.name: s.servers * s.instances for s in net.stations}
