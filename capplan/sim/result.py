"""What one replication measured (capplan.sim.engine fills it, capplan.sim.runner summarises it)."""

from __future__ import annotations

from dataclasses import dataclass

from capplan.sim.stats import Histogram


@dataclass
class ReplicationResult:
    """Everything one replication measured after warm-up (plus whole-run conservation counters)."""

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
    streams_over_idle_timeout: int                # whole stream longer than the proxy timeout
    streams_silent_over_idle_timeout: int         # time to first token alone exceeds it: cut
    longest_stream_s: float = 0.0                 # the longest stream simulated in the window
    # whole-run conservation: entered == completed + rejected + in_flight
    run_entered: int = 0
    run_completed: int = 0
    run_rejected: int = 0
    run_in_flight: int = 0
