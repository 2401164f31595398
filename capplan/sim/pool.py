"""Jobs in forked worker processes that never outlive the run.

Why not ``concurrent.futures.ProcessPoolExecutor``: it has no way to end a job that is running
(``shutdown(cancel_futures=True)`` only drops queued ones and then waits for the rest, minutes for a
long replication), and a parent killed by a signal left its workers running as orphans. Here:

* The parent forks the workers itself, in the thread that calls :func:`run_parallel` (the main thread
  in the CLI), and hands them job *indices* over a pipe: the jobs themselves are inherited through
  the fork, never pickled. Results come back in job order whatever the order they finish in.
* Stopping: the parent waits in short polls inside ``capplan.stop.deferred()`` and calls
  ``stop.check()`` between them, so SIGINT, SIGTERM or the time limit is acted on within a poll
  (:data:`POLL_S`); an exception of any kind (a failed job too) kills every worker (SIGKILL: they
  hold nothing that needs cleaning up) and reaps it before it propagates.
* A worker whose parent dies, even by SIGKILL, ends by itself: on Linux ``prctl(PR_SET_PDEATHSIG,
  SIGKILL)`` (it fires when the *thread* that forked the worker ends; that thread is blocked in
  :func:`run_parallel` until the workers are reaped, so it outlives them), and everywhere a daemon
  thread in the worker that compares ``os.getppid()`` with the parent's pid every :data:`WATCH_S`.
* Workers ignore SIGINT (Ctrl-C at a terminal reaches the whole process group: the parent decides)
  and die silently on SIGTERM, so an interruption prints nothing from them.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading
import time
import traceback
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from multiprocessing.connection import wait
from typing import Any, Callable, Sequence

from capplan import stop

POLL_S = 0.1       # the parent's longest wait between looks at stop requests
WATCH_S = 0.5      # a worker's look at whether its parent is still there
REAP_S = 2.0       # how long the parent waits for killed or finished workers to be gone

PR_SET_PDEATHSIG = 1


class RemoteTraceback(Exception):
    """The traceback of an exception raised in a worker (the ``__cause__`` of the one re-raised)."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text

    def __str__(self) -> str:
        return f'\n"""\n{self.text}"""'


def run_parallel(fn: Callable[[Any], Any], jobs: Sequence[Any], workers: int,
                 on_done: Callable[[], None] | None = None) -> list[Any]:
    """``[fn(job) for job in jobs]`` in ``min(workers, len(jobs))`` forked processes, in job order.

    ``fn`` and ``jobs`` reach the workers through the fork. An exception raised by ``fn`` is raised
    here (with the worker's traceback as its cause) after every worker is gone; so is a
    :class:`capplan.stop.Stopped` request, and ``BrokenProcessPool`` when a worker dies on its own.
    """
    results: list[Any] = [None] * len(jobs)
    if not jobs:
        return results
    ctx = get_context("fork")
    pool: list[_Worker] = []
    finished = False
    with stop.deferred():
        try:
            parent = os.getpid()
            for _ in range(min(max(1, workers), len(jobs))):
                stop.check()
                here, there = ctx.Pipe()
                proc = ctx.Process(target=_serve, args=(there, fn, jobs, parent), daemon=True,
                                   name="capplan-worker")
                proc.start()
                there.close()
                pool.append(_Worker(proc, here))
            queue = iter(range(len(jobs)))
            for worker in pool:
                worker.give(next(queue, None))
            left = len(jobs)
            while left:
                stop.check()
                busy = [w for w in pool if w.job is not None]
                ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=POLL_S))
                for worker in busy:
                    if worker.conn not in ready and worker.proc.sentinel not in ready:
                        continue
                    index, ok, payload = worker.receive()
                    if index is None:                       # gone without a word: killed from outside
                        stop.check()                        # (a signal that also reached us explains it)
                        raise BrokenProcessPool(f"a worker process ended abruptly ({_how(worker.proc)}) "
                                                "while running a replication")
                    if not ok:
                        exc, text = payload
                        raise exc from RemoteTraceback(text)
                    results[index] = payload
                    left -= 1
                    worker.give(next(queue, None))
                    if on_done:
                        on_done()
            finished = True
        finally:
            _close(pool, gently=finished)
    return results


class _Worker:
    def __init__(self, proc, conn):
        self.proc, self.conn = proc, conn
        self.job: int | None = None

    def give(self, index: int | None) -> None:
        self.job = index
        if index is not None:
            try:
                self.conn.send(index)
            except OSError:
                pass                   # the worker is gone: its sentinel says so at the next wait

    def receive(self) -> tuple[int | None, bool, Any]:
        try:
            if self.conn.poll():
                return self.conn.recv()
        except (EOFError, OSError):
            pass
        return None, False, None


def _how(proc) -> str:
    code = proc.exitcode
    if code is None:
        return "still running"
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


def _close(pool: list[_Worker], gently: bool) -> None:
    """Every worker gone and reaped: told to stop after a finished run, killed otherwise."""
    for worker in pool:
        if gently:
            try:
                worker.conn.send(None)
            except OSError:
                pass
        elif worker.proc.exitcode is None:
            worker.proc.kill()
    until = time.monotonic() + REAP_S
    for worker in pool:
        worker.proc.join(max(0.0, until - time.monotonic()))
        if worker.proc.exitcode is None:
            worker.proc.kill()
            worker.proc.join()
        worker.conn.close()


# --- in the worker ------------------------------------------------------------------------------------


def _serve(conn, fn, jobs, parent: int) -> None:
    _guard(parent)
    while True:
        try:
            index = conn.recv()
        except (EOFError, OSError):
            return
        if index is None:
            return
        try:
            message = (index, True, fn(jobs[index]))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the parent
            message = (index, False, _portable(exc))
        try:
            conn.send(message)
        except (pickle.PicklingError, TypeError, AttributeError) as exc:   # a result that does not pickle
            conn.send((index, False, _portable(exc)))
        except OSError:
            return


def _portable(exc: BaseException) -> tuple[BaseException, str]:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - anything that does not survive the trip
        exc = RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc, text


def _guard(parent: int) -> None:
    """A worker's first steps: its own signal dispositions, and ending when its parent does."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name in ("SIGTERM", "SIGALRM", "SIGHUP"):
            if hasattr(signal, name):
                signal.signal(getattr(signal, name), signal.SIG_DFL)
    except ValueError:
        pass                        # not settable here: an inherited handler ends the worker instead
    if sys.platform.startswith("linux"):
        _parent_death_signal(signal.SIGKILL)
    if os.getppid() != parent:      # the parent died before the guard was up
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent,), name="capplan-parent-watch", daemon=True).start()


def _parent_death_signal(signum: int) -> None:
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)
    except (OSError, AttributeError):
        pass                        # no prctl here: the watcher thread still ends the worker


def _watch_parent(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_S)
    os._exit(1)
