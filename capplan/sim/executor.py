"""Where replications run: this machine's processes, or a Dask distributed cluster.

An executor maps a function over jobs and returns the results in job order. Every job carries its
own ``SeedSequence`` child (``capplan.sim.runner``), so the results do not depend on which executor
ran them, on how many workers it had, or on the order the jobs finished in: a sweep on a Dask
cluster is byte-identical to the same sweep run locally.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence

from capplan import stop
from capplan.errors import CapplanError

EXECUTORS = ("local", "dask")


class Executor(Protocol):
    def map(self, fn: Callable[[Any], Any], jobs: Sequence[Any],
            on_done: Callable[[], None] | None = None) -> list[Any]: ...


class LocalExecutor:
    """Forked worker processes on this machine (``capplan.sim.pool``), or this process when
    ``workers`` is 1 or there is one job."""

    def __init__(self, workers: int):
        self.workers = workers

    def __enter__(self) -> "LocalExecutor":
        return self               # nothing to start: the pool lives for one map call

    def __exit__(self, *exc) -> None:
        return None

    def map(self, fn, jobs, on_done=None):
        from capplan.sim.pool import run_parallel

        if self.workers <= 1 or len(jobs) <= 1:
            out = []
            for job in jobs:
                stop.check()
                out.append(fn(job))
                if on_done:
                    on_done()
            return out
        return run_parallel(fn, jobs, self.workers, on_done)


class DaskExecutor:
    """Jobs as tasks on Dask distributed: an existing scheduler (``tcp://host:8786``) or, without
    one, a ``LocalCluster`` of ``workers`` single-threaded worker processes started for the run and
    closed after it. Use as a context manager."""

    def __init__(self, scheduler: str | None = None, workers: int = 2):
        self.scheduler = scheduler
        self.workers = workers
        self.client = None
        self.cluster = None

    def __enter__(self) -> "DaskExecutor":
        try:
            from dask.distributed import Client, LocalCluster
        except ImportError:
            raise CapplanError("the Dask executor needs Dask distributed: pip install 'capplan[dask]'",
                               field="--executor") from None
        if self.scheduler is None:
            # one thread per worker: a replication is pure Python, so threads would share one GIL
            self.cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                        dashboard_address=None, silence_logs=50)
            self.client = Client(self.cluster)
        else:
            try:
                self.client = Client(self.scheduler, timeout="10s")
            except OSError as exc:
                raise CapplanError(f"cannot reach the Dask scheduler at {self.scheduler}: {exc}",
                                   field="--scheduler") from None
        return self

    def __exit__(self, *exc) -> None:
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        self.client = self.cluster = None

    def map(self, fn, jobs, on_done=None):
        from dask.distributed import as_completed

        if self.client is None:
            raise RuntimeError("DaskExecutor.map outside its `with` block")
        # pure=False: equal jobs are still separate tasks (each is one replication to run)
        futures = self.client.map(fn, list(jobs), pure=False)
        try:
            for _ in as_completed(futures):
                stop.check()
                if on_done:
                    on_done()
            return self.client.gather(futures)
        except BaseException:
            self.client.cancel(futures)
            raise


def make_executor(kind: str, workers: int | None, scheduler: str | None = None):
    """The executor named ``kind`` (local or dask), a context manager the caller enters (a Dask one
    starts or joins its cluster there)."""
    from capplan.sim.runner import default_workers

    if kind not in EXECUTORS:
        raise CapplanError(f"unknown executor {kind!r} (choose from: {', '.join(EXECUTORS)})", field="--executor")
    if scheduler is not None and kind != "dask":
        raise CapplanError("--scheduler needs --executor dask", field="--scheduler")
    workers = default_workers() if workers is None else workers
    if kind == "dask":
        return DaskExecutor(scheduler, workers)
    return LocalExecutor(workers)
