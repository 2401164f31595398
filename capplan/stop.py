"""Stopping a run cleanly: SIGINT, SIGTERM and a time limit become exceptions, raised where it is safe.

The CLI installs the handlers (:func:`handling_signals` around the whole command, :func:`time_limit`
around the computation); library code never prints or exits, it only lets :class:`Stopped` propagate.

Two modes, like KeyboardInterrupt with a guard:

* Normally the handler raises at once, wherever the main thread is: that is what interrupts a long
  in-process SimPy run (``env.run`` is one long call with no hook of ours inside).
* Inside :func:`deferred` the handler only records the request; the code there calls :func:`check` at
  safe points (the worker pool between polls, see ``capplan.sim.pool``) or the request is raised when
  the region ends. Used where an exception at an arbitrary bytecode could leave something half-done:
  the pool's own bookkeeping and teardown, and the CLI printing a finished result (a JSON document is
  printed whole or not at all).

The time limit is a deadline that :func:`check` compares with the clock, plus, in the main thread on
POSIX, a SIGALRM timer (``setitimer``) whose handler follows the same two modes, so an in-process run
is cut promptly too.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from capplan.errors import CapplanError
from capplan.units import parse_duration

MAX_TIME_LIMIT_S = 366 * 86400.0


class Stopped(BaseException):
    """The run was stopped before it finished: not an error in the input. A BaseException (like
    KeyboardInterrupt) so that no ``except Exception`` on the way out swallows it."""


class Interrupted(Stopped):
    """SIGINT or SIGTERM arrived. ``exit_code`` is the shell's convention, 128 + the signal number."""

    def __init__(self, signum: int):
        self.signum = int(signum)
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + self.signum
        super().__init__(f"interrupted by {self.name}")


class TimeLimitReached(Stopped):
    """The time limit ran out; ``label`` says which limit (e.g. ``--time-limit 30s``)."""

    def __init__(self, seconds: float, label: str):
        self.seconds = seconds
        self.label = label
        super().__init__(f"{label} reached")


class _State:
    def __init__(self) -> None:
        self.pid: int | None = None           # the process whose handlers these are (not a forked child)
        self.depth = 0                        # nesting of deferred() regions
        self.pending: Stopped | None = None   # a request recorded inside a deferred region
        self.deadline: float | None = None    # time.monotonic() when the time limit runs out
        self.limit: tuple[float, str] | None = None


_state = _State()


def parse_time_limit(text: str, field: str = "--time-limit") -> float:
    """Seconds from "30s", "5m", "1h" or a bare number of seconds; more than 0 and finite."""
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise CapplanError(f"not a time limit: {text!r} (use e.g. 30s, 5m, 1h, or 90 for seconds)",
                           field=field) from None
    if seconds <= 0:
        raise CapplanError(f"must be more than 0 s, got {text!r}", field=field)
    if seconds > MAX_TIME_LIMIT_S:
        raise CapplanError(f"must be at most 366 days, got {text!r}", field=field)
    return seconds


def _request(signum: int) -> Stopped | None:
    if signum == getattr(signal, "SIGALRM", None):
        if _state.limit is None:
            return None                      # a timer that outlived its limit: nothing to stop
        return TimeLimitReached(*_state.limit)
    return Interrupted(signum)


def _on_signal(signum, frame) -> None:
    if os.getpid() != _state.pid:
        # a process forked from ours before it set its own handlers (a pool worker's first instants):
        # end quietly, the parent reports
        os._exit(128 + signum)
    request = _request(signum)
    if request is None:
        return
    if _state.depth:
        if not isinstance(_state.pending, Interrupted):   # a signal outranks the time limit
            _state.pending = request
        return
    raise request


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _restore(signum: int, previous) -> None:
    signal.signal(signum, previous if previous is not None else signal.SIG_DFL)


@contextmanager
def handling_signals() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` (see the module notes) until the block ends.
    Outside the main thread signals cannot be handled: the block then changes nothing."""
    if not _in_main_thread():
        yield
        return
    catch = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {s: signal.getsignal(s) for s in catch}
    _state.pid = os.getpid()
    _state.pending = None
    for s in catch:
        signal.signal(s, _on_signal)
    try:
        yield
    finally:
        for s, handler in previous.items():
            _restore(s, handler)
        _state.pending = None


@contextmanager
def time_limit(seconds: float | None, label: str = "the time limit") -> Iterator[None]:
    """Raise :class:`TimeLimitReached` when ``seconds`` have passed inside the block (None: no limit)."""
    if seconds is None:
        yield
        return
    alarm = _in_main_thread() and hasattr(signal, "setitimer") and hasattr(signal, "SIGALRM")
    _state.deadline = time.monotonic() + seconds
    _state.limit = (seconds, label)
    previous = None
    if alarm:
        previous = signal.getsignal(signal.SIGALRM)
        _state.pid = os.getpid()
        signal.signal(signal.SIGALRM, _on_signal)
        signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        _state.limit = None                  # first: a SIGALRM from here on is ignored
        _state.deadline = None
        if alarm:
            signal.setitimer(signal.ITIMER_REAL, 0)
            _restore(signal.SIGALRM, previous)
        if isinstance(_state.pending, TimeLimitReached):
            _state.pending = None


def check() -> None:
    """Raise the stop request recorded so far (a signal, or the time limit run out), if any."""
    request = _state.pending
    if request is not None:
        _state.pending = None
        raise request
    if _state.deadline is not None and time.monotonic() >= _state.deadline and _state.limit is not None:
        raise TimeLimitReached(*_state.limit)


class deferred:
    """Inside the block, stop requests are recorded instead of raised; :func:`check` raises them at a
    safe point, and the block raises a request still pending when it ends normally."""

    def __enter__(self) -> "deferred":
        _state.depth += 1
        return self

    def __exit__(self, kind, value, tb) -> bool:
        _state.depth -= 1
        if _state.depth == 0:
            if kind is None:
                check()
            else:
                _state.pending = None        # already on the way out: the exception in flight tells why
        return False
