"""What one replication measured (capplan.sim.engine fills it, capplan.sim.runner summarises it)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from capplan.sim.stats import Histogram


@dataclass
class StationDetail:
    """Per-class figures at one station and the time-average distribution of the number present
    (kept for textbook networks)."""

    state_probs: list[float]                      # P(N = n) for n < state_limit, then P(N >= state_limit)
    class_throughput: dict[str, float]            # departures per second by class
    class_work: dict[str, float]                  # server-seconds of work per second by class
    class_in_system: dict[str, float]             # time-average number present by class (Little: X_k x W_k)
    class_wait: dict[str, Histogram]              # FCFS: time in queue; PS/IS: time beyond the service demand


@dataclass
class ReplicationResult:
    """Everything one replication measured after its warm-up and MSER-5 truncation (plus whole-run
    conservation counters)."""

    measured_time: float
    metrics: dict[str, Histogram]
    station_util: dict[str, list[float]]          # busy servers / servers, per instance
    station_in_system: dict[str, float]           # time-average number at the station (all instances)
    station_throughput: dict[str, float]          # completions per second (all instances)
    station_waits: dict[str, Histogram]
    station_rejects: dict[str, int]
    pool_util: dict[str, list[float]]
    pool_waits: dict[str, Histogram]
    pool_rejects: dict[str, int]
    group_mean_streams: dict[str, list[float]]
    group_peak_streams: dict[str, list[int]]
    group_peak_memory_mib: dict[str, list[float]]
    group_memory_limit_mib: dict[str, float | None]
    rejected: dict[str, int]                      # reason -> count in the measured window
    arrivals: int                                 # requests that arrived in the measured window
    completed: int
    streams_total: int
    station_work: dict[str, float] = field(default_factory=dict)      # completed service demand per second
    station_detail: dict[str, StationDetail] = field(default_factory=dict)
    providers: dict[str, dict[str, float]] = field(default_factory=dict)  # calls, throttled (429s), failed, retries, tokens
    forked: int = 0                               # detached event jobs started (an event bus, title calls)
    # per stream in the window: the longest silence the client saw and the length from the POST's
    # answer to the last delta (float32: a timer set's cut share is exact over the union of its cuts)
    stream_gaps: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    stream_totals: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.float32))
    longest_stream_s: float = 0.0                 # the longest stream simulated in the window
    # steady state: warm-up found by MSER-5 beyond the fixed one, the number present per micro-batch
    # (the whole measured window; the kept part starts at kept_from) and the trend test on the kept part
    truncated_s: float = 0.0
    mser_at_limit: bool = False
    in_system_series: list[float] = field(default_factory=list)
    kept_from: int = 0
    trend_growing: bool = False
    trend_growth: float = 0.0
    trend_p: float = 1.0
    mean_present: float = 0.0
    # whole-run conservation: entered == completed + rejected + in_flight
    run_entered: int = 0
    run_completed: int = 0
    run_rejected: int = 0
    run_in_flight: int = 0
