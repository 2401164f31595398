"""The bounds every run stays inside, checked up front so a request past them is refused in one line
instead of exhausting memory or never ending.

Each bound is far past any self-hosted LibreChat deployment, and each keeps one replication within
minutes and a few hundred MiB on a 2-core machine. The README's "Limits" section lists them.
"""

from __future__ import annotations

import math

from capplan.errors import CapplanError

MAX_USERS = 10_000_000            # registered users: beyond the largest public self-hosted LibreChat by 100x
MAX_REPLICATIONS = 100            # a 95% interval is already narrow at 10-20
MAX_WORKERS = 256                 # worker processes
MAX_SEED = 2**63 - 1              # numpy's SeedSequence takes any non-negative integer; this keeps it a 64-bit one
MAX_RUN_S = 30 * 86_400.0         # simulated seconds per replication (warm-up and measured window, each)
MAX_REPLICAS = 1_000              # replicas of one service, nodes of one database, workers of one queue
MAX_PROCESSES = 256               # processes (cluster workers) per replica
MAX_POPULATION = 1_000_000        # customers of a closed class in a network file (each is an object in memory)
MAX_SERVERS = 100_000             # servers of one station / tokens of one pool per instance
MAX_EVENTS = 30_000_000           # expected engine events per replication (~100 s of one core at ~300,000 events/s)


def check_int(value: int, field: str, low: int, high: int, what: str = "") -> int:
    """``value`` within [low, high], else a one-line error naming ``field`` and the bound."""
    if not low <= value <= high:
        bound = f"at least {low:,}" if value < low else f"at most {high:,}"
        raise CapplanError(f"must be {bound}{what}, got {value:,}", field=field)
    return value


def check_users(users: int, field: str = "--users") -> int:
    if users <= 0:
        raise CapplanError(f"must be a positive number of registered users, got {users:,}", field=field)
    return check_int(users, field, 1, MAX_USERS, " (capplan's limit on registered users)")


def check_seed(seed: int, field: str = "--seed") -> int:
    return check_int(seed, field, 0, MAX_SEED)


def check_run_seconds(seconds: float | None, field: str, positive: bool) -> float | None:
    """A simulated time: finite, not negative (positive when ``positive``), at most MAX_RUN_S."""
    if seconds is None:
        return None
    if not math.isfinite(seconds):
        raise CapplanError("must be a finite time", field=field)
    if seconds < 0 or (positive and seconds == 0):
        raise CapplanError("must be positive" if positive else "must not be negative", field=field)
    if seconds > MAX_RUN_S:
        raise CapplanError(f"must be at most {MAX_RUN_S / 86_400:g} days of simulated time per replication, "
                           f"got {seconds / 86_400:,.4g} days", field=field)
    return seconds


def check_events(events_per_s: float, warmup: float, duration: float, field: str = "--duration") -> None:
    """Refuse a replication whose expected engine events exceed MAX_EVENTS, saying the longest run that fits."""
    events = events_per_s * (warmup + duration)
    if events > MAX_EVENTS:
        longest = max(MAX_EVENTS / events_per_s - warmup, 0.0)
        raise CapplanError(
            f"{warmup + duration:,.0f} s at {events_per_s:,.4g} events/s is {events:.3g} engine events per "
            f"replication; the limit is {MAX_EVENTS:,} (at most {longest:,.0f} s measured here)", field=field)
