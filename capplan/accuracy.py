"""Textbook accuracy cases: capplan's simulated estimate against the exact value, with intervals.

Used by bench/accuracy.py (long runs, the README's accuracy table) and by the test suite (short
runs with interval-based assertions). Every exact value comes from capplan.analytic; nothing is
compared with an approximation except to show how far the approximation is from the truth.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

from capplan.sim.build import compile_network
from capplan import analytic
from capplan.model.network import NetworkModel
from capplan.sim.runner import SimResult, simulate
from capplan.sim.stats import Estimate, estimate

EXP = "exponential"


def _open(name, servers, lam, service, capacity=None, interarrival=None, discipline="fcfs"):
    station = {"name": "server", "servers": servers, "discipline": discipline}
    if capacity is not None:
        station["capacity"] = capacity
    return {"kind": "network", "name": name, "stations": [station],
            "classes": [{"name": "job", "interarrival": interarrival or {"kind": EXP, "mean": 1.0 / lam},
                         "route": [{"station": "server", "service": service}]}]}


@dataclass(frozen=True)
class Metric:
    label: str
    kind: str                                  # "mean" (target error 2%) or "tail" (target 3%)
    exact: float
    measure: Callable[[SimResult], Estimate]
    note: str = ""


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    network: dict
    arrivals_per_s: float                      # sets run length from a customer count
    metrics: tuple[Metric, ...]


def _wait_mean(r):
    return r.station_wait("server").mean


def _p_wait(r):
    return r.station_wait("server").share_positive


def _sojourn(q):
    return lambda r: r.quantile_estimate("response:job", q)


def _loss(r):
    return estimate([sum(rep.station_rejects.values()) / rep.arrivals for rep in r.replications])


def _throughput(r):
    return r.station_throughput("server")


def _response_mean(cls="job"):
    return lambda r: r.metric(f"response:{cls}").mean


def _class_throughput(cls):
    return lambda r: estimate([rep.metrics[f"response:{cls}"].n / rep.measured_time for rep in r.replications])


def _state(n, station="server"):
    return lambda r: r.state_probabilities(station)[n]


def _in_system(station="server"):
    return lambda r: r.station_in_system(station)


def _class_present(station, cls):
    return lambda r: r.class_at_station(station, cls)["in_system"]


def _poisson(mean: float, n: int) -> float:
    return math.exp(-mean + n * math.log(mean) - math.lgamma(n + 1))


def cases() -> list[Case]:
    out = []
    lam, mu = 0.7, 1.0
    ex = analytic.mmc(lam, mu, 1)
    out.append(Case("M/M/1", "lambda 0.7, mu 1", _open("mm1", 1, lam, {"kind": EXP, "mean": 1.0}), lam, (
        Metric("mean wait", "mean", ex.wq, _wait_mean),
        Metric("P(wait)", "mean", ex.p_wait, _p_wait),
        Metric("sojourn p95", "tail", analytic.mmc_sojourn_quantile(lam, mu, 1, 0.95), _sojourn(0.95)),
        Metric("sojourn p99", "tail", analytic.mmc_sojourn_quantile(lam, mu, 1, 0.99), _sojourn(0.99)))))
    lam, c = 6.4, 8
    ex = analytic.mmc(lam, mu, c)
    out.append(Case("M/M/8", "lambda 6.4, mu 1 (rho 0.8)", _open("mm8", c, lam, {"kind": EXP, "mean": 1.0}), lam, (
        Metric("mean wait", "mean", ex.wq, _wait_mean),
        Metric("P(wait)", "mean", ex.p_wait, _p_wait),
        Metric("sojourn p95", "tail", analytic.mmc_sojourn_quantile(lam, mu, c, 0.95), _sojourn(0.95)),
        Metric("sojourn p99", "tail", analytic.mmc_sojourn_quantile(lam, mu, c, 0.99), _sojourn(0.99)))))
    lam, c, k = 3.6, 3, 6
    ex = analytic.mmck(lam, mu, c, k)
    out.append(Case("M/M/3/6", "lambda 3.6, mu 1, K 6 (overloaded, losses)",
                    _open("mmck", c, lam, {"kind": EXP, "mean": 1.0}, capacity=k), lam, (
        Metric("loss probability", "mean", ex.p_loss, _loss),
        Metric("throughput", "mean", ex.throughput, _throughput),
        Metric("mean time in system", "mean", ex.w, _response_mean()),
        *(Metric(f"P(N = {n}) (time average)", "mean", float(ex.state_probs[n]), _state(n)) for n in range(k + 1)))))
    lam, c = 8.0, 10
    out.append(Case("M/G/10/10 lognormal", "lambda 8, holding lognormal mean 1 cv 2: SSE connection cap",
                    _open("mgcc", c, lam, {"kind": "lognormal", "mean": 1.0, "cv": 2.0}, capacity=c), lam, (
        Metric("blocking (Erlang B, insensitive)", "mean", analytic.mgcc_blocking(lam, 1.0, c), _loss),)))
    lam = 0.8
    out.append(Case("M/D/1", "lambda 0.8, deterministic service 1", _open("md1", 1, lam, {"kind": "deterministic", "mean": 1.0}),
                    lam, (Metric("mean wait (Pollaczek-Khinchine)", "mean", analytic.mg1_pk(lam, 1.0, 0.0).wq, _wait_mean),)))
    lam = 0.6
    out.append(Case("M/G/1 cv^2=4", "lambda 0.6, gamma service mean 1 cv 2",
                    _open("mg1", 1, lam, {"kind": "gamma", "mean": 1.0, "cv": 2.0}), lam,
                    (Metric("mean wait (Pollaczek-Khinchine)", "mean", analytic.mg1_pk(lam, 1.0, 2.0).wq, _wait_mean),)))
    lam = 0.8
    exact = analytic.ekm1(2, lam, 1.0)
    kingman = analytic.kingman_wq(0.5, 1.0, lam, 1.0)
    out.append(Case("E2/M/1", "Erlang-2 arrivals rate 0.8, mu 1: Kingman's approximation is "
                    f"{(kingman - exact.wq) / exact.wq:+.1%} off",
                    _open("e2m1", 1, lam, {"kind": EXP, "mean": 1.0},
                          interarrival={"kind": "erlang", "mean": 1.0 / lam, "cv": 1.0 / math.sqrt(2.0)}), lam, (
        Metric("mean wait (exact GI/M/1)", "mean", exact.wq, _wait_mean, note=f"Kingman says {kingman:.4f}"),
        Metric("P(wait) (exact sigma)", "mean", exact.p_wait, _p_wait))))
    # Processor sharing is insensitive: M/G/1-PS has mean sojourn S / (1 - rho) for any service time
    # distribution (Kleinrock 1976, sec. 4.4), unlike FCFS (Pollaczek-Khinchine grows with cv^2).
    lam = 0.7
    for label, service in (("deterministic", {"kind": "deterministic", "mean": 1.0}),
                           ("lognormal cv 2", {"kind": "lognormal", "mean": 1.0, "cv": 2.0})):
        out.append(Case(f"M/G/1-PS {label}", f"lambda 0.7, {label} service mean 1, processor sharing",
                        _open("mg1ps", 1, lam, service, discipline="ps"), lam,
                        (Metric("mean sojourn S / (1 - rho), insensitive", "mean", 1.0 / (1.0 - lam), _response_mean()),
                         Metric("mean number present rho / (1 - rho)", "mean", lam / (1.0 - lam), _in_system()))))
    # Infinite servers: M/G/inf holds a Poisson number of customers, mean lambda x S, whatever the
    # holding time distribution.
    lam, hold = 3.0, 2.0
    out.append(Case("M/G/inf lognormal", "lambda 3, holding lognormal mean 2 cv 1.5 (a delay station)",
                    _open("mginf", 1, lam, {"kind": "lognormal", "mean": hold, "cv": 1.5}, discipline="is"), lam, (
        Metric("mean number present (lambda S)", "mean", lam * hold, _in_system()),
        *(Metric(f"P(N = {n}) (Poisson)", "mean", _poisson(lam * hold, n), _state(n)) for n in (3, 6, 9)))))
    mva = analytic.mva_exact([0.4, 0.9], think_time=6.0, population=12, servers=[1, 2])
    closed = {"kind": "network", "name": "closed", "stations": [{"name": "cpu", "servers": 1}, {"name": "db", "servers": 2}],
              "classes": [{"name": "user", "population": 12, "think": {"kind": EXP, "mean": 5.0},
                           "route": [{"station": "cpu", "service": {"kind": EXP, "mean": 0.4}},
                                     {"station": "db", "service": {"kind": EXP, "mean": 0.9}},
                                     {"delay": {"kind": EXP, "mean": 1.0}}]}]}
    out.append(Case("closed, 1 class", "N 12, think 5 s + 1 s delay, CPU 0.4 s, 2-server DB 0.9 s", closed,
                    float(mva.throughput), (
        Metric("throughput (exact MVA)", "mean", float(mva.throughput), _class_throughput("user")),
        Metric("response incl. delay (exact MVA)", "mean", float(mva.response_time) + 1.0, _response_mean("user")))))
    # Two classes on FCFS stations with class-independent service times (product form holds);
    # the classes differ in visit counts and populations.
    multi = analytic.mva_multiclass([[0.4, 0.25], [0.2, 0.75]], [4.0, 2.0], [6, 4])
    two = {"kind": "network", "name": "closed2", "stations": [{"name": "cpu"}, {"name": "disk"}],
           "classes": [
               {"name": "a", "population": 6, "think": {"kind": EXP, "mean": 4.0},
                "route": [{"station": "cpu", "service": {"kind": EXP, "mean": 0.2}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.25}},
                          {"station": "cpu", "service": {"kind": EXP, "mean": 0.2}}]},
               {"name": "b", "population": 4, "think": {"kind": EXP, "mean": 2.0},
                "route": [{"station": "cpu", "service": {"kind": EXP, "mean": 0.2}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.25}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.25}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.25}}]}]}
    out.append(Case("closed, 2 classes", "N (6, 4), think (4, 2) s, FCFS CPU 0.2 s and disk 0.25 s, visits differ",
                    two, float(sum(multi.throughputs)), (
        Metric("class a throughput (exact multi-class MVA)", "mean", float(multi.throughputs[0]), _class_throughput("a")),
        Metric("class b throughput", "mean", float(multi.throughputs[1]), _class_throughput("b")),
        Metric("class a response", "mean", float(multi.response_times[0]), _response_mean("a")),
        Metric("class b response", "mean", float(multi.response_times[1]), _response_mean("b")),
        *(Metric(f"class {cls} present at {st}", "mean", float(multi.queue_lengths[r, k]), _class_present(st, cls))
          for r, cls in enumerate("ab") for k, st in enumerate(("cpu", "disk"))))))
    # A BCMP network written directly: a processor-sharing CPU whose service differs by class and is
    # not exponential, an FCFS disk (class-independent exponential, as BCMP requires of FCFS) and an
    # infinite-server network hop. Product form holds, so exact multi-class MVA gives the answer
    # (Baskett, Chandy, Muntz & Palacios 1975).
    bcmp_d = [[0.30, 2 * 0.2, 1.0], [0.50, 0.2, 0.5]]    # demands: cpu (PS), disk (FCFS, 2 vs 1 visits), net (IS)
    bcmp = analytic.mva_multiclass(bcmp_d, [3.0, 1.0], [5, 3], servers=[1, 1, None])
    net = {"kind": "network", "name": "bcmp",
           "stations": [{"name": "cpu", "discipline": "ps"}, {"name": "disk"}, {"name": "net", "discipline": "is"}],
           "classes": [
               {"name": "a", "population": 5, "think": {"kind": EXP, "mean": 3.0},
                "route": [{"station": "cpu", "service": {"kind": "lognormal", "mean": 0.3, "cv": 2.0}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.2}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.2}},
                          {"station": "net", "service": {"kind": "gamma", "mean": 1.0, "cv": 0.5}}]},
               {"name": "b", "population": 3, "think": {"kind": EXP, "mean": 1.0},
                "route": [{"station": "cpu", "service": {"kind": "deterministic", "mean": 0.5}},
                          {"station": "disk", "service": {"kind": EXP, "mean": 0.2}},
                          {"station": "net", "service": {"kind": "erlang", "mean": 0.5, "cv": 0.5}}]}]}
    out.append(Case("BCMP: PS + FCFS + IS, 2 classes", "N (5, 3), think (3, 1) s; PS CPU lognormal / deterministic by "
                    "class; FCFS disk exp; IS hop gamma / Erlang", net, float(sum(bcmp.throughputs)), (
        Metric("class a throughput (exact multi-class MVA)", "mean", float(bcmp.throughputs[0]), _class_throughput("a")),
        Metric("class b throughput", "mean", float(bcmp.throughputs[1]), _class_throughput("b")),
        Metric("class a present at the PS cpu", "mean", float(bcmp.queue_lengths[0, 0]), _class_present("cpu", "a")),
        Metric("class b present at the PS cpu", "mean", float(bcmp.queue_lengths[1, 0]), _class_present("cpu", "b")))))
    return out


@dataclass(frozen=True)
class Row:
    case: str
    metric: str
    kind: str
    exact: float
    estimate: Estimate
    note: str

    @property
    def error(self) -> float:
        return (self.estimate.mean - self.exact) / self.exact

    @property
    def inside(self) -> bool:
        return self.estimate.contains(self.exact)

    @property
    def target(self) -> float:
        return 0.02 if self.kind == "mean" else 0.03

    @property
    def passed(self) -> bool:
        return self.inside and abs(self.error) <= self.target


def run_case(case: Case, customers: int, replications: int, seed: int = 1, workers: int | None = None) -> list[Row]:
    """Simulate ``case`` with about ``customers`` arrivals per replication (10% more as warm-up)."""
    model = NetworkModel.model_validate(case.network)
    duration = customers / case.arrivals_per_s
    result = simulate(compile_network(model), duration=duration, warmup=0.1 * duration, replications=replications,
                      seed=seed, workers=workers)
    return [Row(case.name, m.label, m.kind, m.exact, m.measure(result), m.note) for m in case.metrics]
