"""What the API's own metrics say: CPU seconds per request type (the utilization law) and the LLM's
pace (time to first token, tokens per second, answer length), from Prometheus range responses.

LibreChat exports no Prometheus metrics of its own. The default queries are the series capplan's
testbed (bench/testbed/server.js) exports, named as the common Express exporters name them
(``http_requests_total{method, route}``) plus three LLM families; an operator maps them to their
own with ``--query NAME=PROMQL`` (e.g. ``cpu=container_cpu_usage_seconds_total{container="api"}``
on Kubernetes, where cAdvisor counts the container's CPU).

Which numbers come out, and which stay the base workload's:

* the utilization law's columns are the message POSTs, the streamed deltas, the API reads and the
  JWT refreshes. What moves with the POSTs is the POST's own CPU; the work at a stream's end (token
  counting, the answer's writes) comes right after its last delta and so moves with the deltas.
  capplan's keys are mapped so both measured totals hold (see _split_message): cpu.message and
  cpu.stream_delta are fitted, token counting and a title job's CPU keep the base's values;
* cpu.api_read (per other API request) and cpu.refresh (per JWT refresh). A demand the range does
  not pin (its 95% interval wider than +-50%: typically refreshes, a few a minute of a few
  milliseconds) is not reported; the base value stays and the output says why. Every type still takes part in the fit, so its work does not bias the others;
* llm.time_to_first_token and llm.token_rate: mean from the histograms' ``_sum``/``_count`` (exact),
  the spread (cv) from their buckets; llm.output_tokens: tokens per finished stream.

Windows in which a process restarted (a counter reset), a series appeared (a counter created at its
first increment) or samples are missing are left out of the fit: their increase is only approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from capplan.calibrate.accesslog import request_type
from capplan.calibrate.fit import DemandFit, Fitted, fit_demands
from capplan.calibrate.prometheus import Increases, Series, Source, align, counter_increases
from capplan.errors import CapplanError
from capplan.model.workload import Workload
from capplan.sim.build import mean_deltas

JOB = 'job="librechat"'
QUERIES = {
    "cpu": f"process_cpu_seconds_total{{{JOB}}}",
    "requests": f"http_requests_total{{{JOB}}}",
    "deltas": f"librechat_stream_deltas_total{{{JOB}}}",
    "output_tokens": f"librechat_output_tokens_total{{{JOB}}}",
    "ttft_sum": f"librechat_time_to_first_token_seconds_sum{{{JOB}}}",
    "ttft_count": f"librechat_time_to_first_token_seconds_count{{{JOB}}}",
    "ttft_bucket": f"librechat_time_to_first_token_seconds_bucket{{{JOB}}}",
    "token_rate_sum": f"librechat_stream_token_rate_sum{{{JOB}}}",
    "token_rate_count": f"librechat_stream_token_rate_count{{{JOB}}}",
    "token_rate_bucket": f"librechat_stream_token_rate_bucket{{{JOB}}}",
}
MIN_OBSERVATIONS = 30             # histogram observations (streams) below which a mean is not fitted
MAX_OVERFLOW_SHARE = 0.01         # observations past the last finite bucket: above this the cv is not read
BOOTSTRAP = 400


@dataclass(frozen=True)
class Estimate:
    """A fitted workload number from the metrics: its 95% interval, what it rests on, its fit."""

    key: str
    fitted: Fitted
    basis: str
    cv: float | None = None


@dataclass
class MetricFigures:
    estimates: list[Estimate] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)     # workload key -> why it is not fitted
    demand: DemandFit | None = None
    windows_dropped: int = 0                                  # approximate windows left out (restart, new series, gap)


def parse_queries(items: list[str]) -> dict[str, str]:
    """``NAME=PROMQL`` overrides over the default queries; an unknown name is an error."""
    queries = dict(QUERIES)
    for item in items:
        name, sep, promql = item.partition("=")
        name = name.strip()
        if not sep or not promql.strip():
            raise CapplanError(f"{item!r} is not NAME=PROMQL", field="--query")
        if name not in QUERIES:
            raise CapplanError(f"unknown query {name!r} (known: {', '.join(QUERIES)})", field="--query")
        queries[name] = promql.strip()
    return queries


def _by_type(series: list[Series], source: str) -> dict[str, Increases]:
    """Request counter series grouped into capplan's request types by their method and route labels."""
    groups: dict[str, list[Series]] = {}
    for s in series:
        route = s.labels.get("route") or s.labels.get("path") or s.labels.get("handler")
        if route is None:
            raise CapplanError("a request series has no route, path or handler label: the requests cannot be "
                               "told apart by type", field=source)
        groups.setdefault(request_type(s.labels.get("method", "GET").upper(), route), []).append(s)
    return {kind: counter_increases(items, f"{source}: {kind}") for kind, items in groups.items()}


def fit_cpu(source: Source, queries: dict[str, str], seed: int = 0) -> tuple[DemandFit, int, float, int]:
    """The utilization-law fit of CPU seconds on message POSTs, streamed deltas and API reads.

    Returns the fit, the number of approximate windows left out, the window length and the
    number of processes (CPU series) the busy time was summed over."""
    cpu_series = source.fetch("cpu", queries["cpu"])
    cpu = counter_increases(cpu_series, f"cpu ({queries['cpu']})")
    requests = _by_type(source.fetch("requests", queries["requests"]), f"requests ({queries['requests']})")
    deltas = counter_increases(source.fetch("deltas", queries["deltas"]), f"deltas ({queries['deltas']})")
    if "message" not in requests:
        raise CapplanError("no message POST series (route /api/agents/chat/... or /api/ask): the per-message "
                           "CPU cannot be fitted", field=f"requests ({queries['requests']})")
    columns = {"message": requests["message"], "stream_delta": deltas}
    columns.update({kind: requests[kind] for kind in ("api_read", "refresh") if kind in requests})
    dt, values, reset = align({"cpu": cpu, **columns}, "prometheus")
    for kind in ("api_read", "refresh"):   # a type with no requests in the range is not a column
        if kind in columns and not values[kind].any():
            del columns[kind]
    keep = ~reset
    if keep.sum() < reset.size / 2:
        raise CapplanError(f"{int(reset.sum())} of {reset.size} windows hold a process restart (counter reset), a "
                           "series that appeared or a gap in the samples: pick a steadier range", field="prometheus")
    fit = fit_demands(values["cpu"][keep], {k: values[k][keep] for k in columns}, dt[keep], seed=seed,
                      source=f"cpu ({queries['cpu']})", require_all=False)
    # processes: the series whose CPU moved in the range (a process gone before it, whose last
    # value Prometheus still returns for a few minutes, is not one)
    return fit, int(reset.sum()), float(np.median(dt)), sum(1 for s in cpu_series if np.diff(s.v).any())


def _ratio(num: np.ndarray, den: np.ndarray, seed: int) -> Fitted:
    """sum(num) / sum(den) with a bootstrap-over-windows 95% interval."""
    rng = np.random.default_rng(seed)
    w = num.size
    draws = np.empty(BOOTSTRAP)
    for b in range(BOOTSTRAP):
        rows = rng.integers(0, w, w)
        d = den[rows].sum()
        draws[b] = num[rows].sum() / d if d > 0 else np.nan
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return Fitted(float(num.sum() / den.sum()), float(low), float(high))


def histogram_cv(buckets: list[Series], source: str) -> float | None:
    """The coefficient of variation of a histogram's observations over the range, from its
    cumulative ``le`` buckets (each bucket's observations at its midpoint); None when more than 1%
    fall past the last finite bound, where the buckets say nothing about the values."""
    per_le: dict[float, list[Series]] = {}
    for s in buckets:
        le = s.labels.get("le")
        if le is None:
            raise CapplanError("a bucket series has no le label", field=source)
        per_le.setdefault(float(le), []).append(s)
    bounds = sorted(per_le)
    counts = np.array([counter_increases(per_le[b], source).increase.sum() for b in bounds])
    cells = np.diff(np.concatenate([[0.0], counts]))
    total = counts[-1]
    if total <= 0 or not math.isinf(bounds[-1]) or len(bounds) < 3:
        return None
    if cells[-1] > MAX_OVERFLOW_SHARE * total:
        return None
    lower = np.concatenate([[0.0], bounds[:-2]])
    mid = (lower + np.array(bounds[:-1])) / 2.0
    n = np.clip(cells[:-1], 0.0, None)
    mean = float((n * mid).sum() / n.sum())
    var = float((n * (mid - mean) ** 2).sum() / n.sum())
    return math.sqrt(max(var, 0.0)) / mean if mean > 0 else None


def _histogram(source: Source, queries: dict[str, str], name: str, key: str, what: str, seed: int,
               figures: MetricFigures) -> None:
    sums = counter_increases(source.fetch(f"{name}_sum", queries[f"{name}_sum"]), queries[f"{name}_sum"])
    counts = counter_increases(source.fetch(f"{name}_count", queries[f"{name}_count"]), queries[f"{name}_count"])
    _, values, _ = align({"sum": sums, "count": counts}, queries[f"{name}_count"])
    n = int(values["count"].sum())
    if n < MIN_OBSERVATIONS:
        figures.missing[key] = f"{n} {what} in the range; need {MIN_OBSERVATIONS}"
        return
    cv = histogram_cv(source.fetch(f"{name}_bucket", queries[f"{name}_bucket"]), queries[f"{name}_bucket"])
    figures.estimates.append(Estimate(key, _ratio(values["sum"], values["count"], seed),
                                      f"{n:,} {what}, histogram sum/count (prometheus)", cv))
    if cv is None:
        figures.missing[f"{key} (cv)"] = "over 1% of observations past the histogram's last bucket"


def _split_message(fit: DemandFit, base: Workload, gof: str, figures: MetricFigures) -> None:
    """The counters see two things: the POST's CPU (A, per message) and, per delta, the delta's own
    work plus its share of the work at the stream's end (B): the answer ends right after its last
    delta, so that work moves with the deltas, not with the POSTs. capplan's workload has the POST
    run cpu.message + cpu.token_count and the stream's end cpu.token_count again. Token counting
    itself cannot be told apart in counters: it keeps the base's value t, and the rest follows so
    that both measured totals hold exactly: cpu.message = A - t, cpu.stream_delta = B - t / E[deltas]."""
    t = base.cpu.token_count.mean
    deltas = mean_deltas(base.llm.output_tokens, base.llm.token_rate, base.llm.coalesce_window,
                         base.llm.tokens_per_chunk)
    if "message" in fit.demand_s:
        own = fit.combination({"message": 1.0}, shift=-t)
        if own.low > 0:
            figures.estimates.append(Estimate("cpu.message", own, f"the POST's {_ms(fit.point['message'])} less "
                                              f"token counting's {_ms(t)} (the base's); {gof}"))
        else:
            figures.missing["cpu.message"] = (f"the POST's CPU ({_ms(fit.point['message'])}) is not clearly more than "
                                              f"the base's token counting ({_ms(t)})")
    if "stream_delta" in fit.demand_s:
        own = fit.combination({"stream_delta": 1.0}, shift=-t / deltas)
        if own.low > 0:
            figures.estimates.append(Estimate("cpu.stream_delta", own, f"{_ms(fit.point['stream_delta'])} per delta "
                                              f"less the stream end's token counting over {deltas:.3g} deltas; {gof}"))
        else:
            figures.missing["cpu.stream_delta"] = "not clearly more than the stream end's token counting per delta"
    figures.missing["cpu.token_count"] = "runs inside the POST and at the stream's end: not separable in counters"
    figures.missing["cpu.title"] = "a title job runs a title call after its POST: not separable in counters"


def metric_figures(source: Source, queries: dict[str, str], base: Workload, seed: int = 0) -> MetricFigures:
    """Every figure the metrics support over ``base`` (whose token counting and answer length split
    the CPU the counters cannot), and why the others are not fitted."""
    figures = MetricFigures()
    fit, dropped, window, processes = fit_cpu(source, queries, seed)
    figures.demand, figures.windows_dropped = fit, dropped
    gof = (f"utilization law over {fit.windows} windows of {window:g} s, R\u00b2 {fit.r2:.3f}"
           + (f", {dropped} approximate window{'s' if dropped > 1 else ''} left out (a restart, a new series or a "
              "gap)" if dropped else "") + " (prometheus)")
    for kind, why in fit.unpinned.items():
        figures.missing[f"cpu.{kind}"] = why
    _split_message(fit, base, gof, figures)
    if fit.background is not None:   # the fit's background is summed over the processes
        b = fit.background
        figures.estimates.append(Estimate("cpu.background", Fitted(b.value / processes, b.low / processes,
                                                                   b.high / processes),
                                          f"busy share no request explains, per process ({processes}); {gof}"))
    for kind, what in (("api_read", "API read"), ("refresh", "JWT refresh")):
        if kind in fit.demand_s:
            figures.estimates.append(Estimate(f"cpu.{kind}", fit.demand_s[kind], gof))
        elif kind not in fit.unpinned:
            figures.missing[f"cpu.{kind}"] = f"no {what} requests in the range"
    _histogram(source, queries, "ttft", "llm.time_to_first_token", "streams", seed, figures)
    _histogram(source, queries, "token_rate", "llm.token_rate", "streams", seed, figures)
    tokens = counter_increases(source.fetch("output_tokens", queries["output_tokens"]), queries["output_tokens"])
    streams = _by_type(source.fetch("requests", queries["requests"]), queries["requests"]).get("stream")
    if streams is None:
        figures.missing["llm.output_tokens"] = "no stream GET series (route /api/agents/chat/stream/...)"
    else:
        _, values, _ = align({"tokens": tokens, "streams": streams}, queries["output_tokens"])
        n = int(values["streams"].sum())
        if n < MIN_OBSERVATIONS:
            figures.missing["llm.output_tokens"] = f"{n} finished streams in the range; need {MIN_OBSERVATIONS}"
        else:
            figures.estimates.append(Estimate("llm.output_tokens", _ratio(values["tokens"], values["streams"], seed),
                                              f"{n:,} streams, tokens per finished stream (prometheus)"))
    return figures


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3g} ms"
