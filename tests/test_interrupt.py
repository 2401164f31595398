"""Stopping cleanly (issue 15): SIGINT, SIGTERM, SIGKILL of the parent and --time-limit leave no worker
running, no partial file, no cache entry and no JSON on stdout; the exit code says why, in one line.

The end-to-end cases start a real ``python -m capplan.cli`` run that would take far longer than the
test (simulate at 1,000,000 users; recommend and check at 200,000, minutes of sizing), in a session
of its own: every process it starts, however deep and even once orphaned, carries that session id,
so "nothing left running" is "no live process in the session" (a zombie waiting for init to reap it
has already ended). The run is signalled once its workers exist. Budget: under a minute on 2 cores.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from capplan import stop

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux)")

GONE_WITHIN_S = 5.0       # the issue asks for 2 s; the bound leaves room for a loaded CI machine
START_WITHIN_S = 30.0     # for the run to get as far as its worker processes
LIMIT_SLACK_S = 4.0       # past --time-limit: the interpreter's start-up (~1 s) and the 2 s to stop

PLAN = textwrap.dedent("""\
    kind: plan
    name: interrupt-test
    users: {now: 200000, forecast: 200000}
    providers: [aws, gcp]
    regions: {aws: us-east-1, gcp: us-central1}
    tier: auto
    slo: {p95: 2s, ttft_p95: 5s, max_error_rate: 0.01}
    budget: {monthly_usd: 1500000, scope: infrastructure}
    purchase: on_demand
    seed: 1
    replications: 4
    today: 2026-11-27
""")

# each runs for minutes when left alone (and prints JSON only when done)
COMMANDS = {
    "simulate": ["simulate", "--users", "1000000", "--tier", "tier2", "--workers", "2", "--json"],
    "recommend": ["recommend", "--users", "200000", "--today", "2026-11-27", "--json"],
    "check": ["check", "plan.yaml", "--format", "json", "--cache-dir", "cache"],
}


# --- processes ---------------------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    """/proc/PID/stat fields from the state on (state, ppid, pgrp, session, ...); None: no such process."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return text[text.rindex(")") + 2:].split()


def _alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _session(sid: int) -> set[int]:
    """Live processes of session ``sid``: the run and everything it started, orphans included."""
    members = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None and fields[0] not in ("Z", "X") and int(fields[3]) == sid:
                members.add(int(entry))
    return members


def _until(condition, seconds: float, step: float = 0.02) -> float | None:
    """Seconds until ``condition()`` held, None if it did not within ``seconds``."""
    start = time.monotonic()
    while True:
        if condition():
            return time.monotonic() - start
        if time.monotonic() - start > seconds:
            return None
        time.sleep(step)


class Run:
    """``capplan ARGS`` in ``cwd``, in a session of its own, stdout and stderr to files."""

    def __init__(self, args: list[str], cwd: Path, env: dict[str, str] | None = None,
                 argv: list[str] | None = None):
        self.cwd = cwd
        self.out, self.err = cwd / "stdout.txt", cwd / "stderr.txt"
        clean = {k: v for k, v in os.environ.items() if not k.startswith("CAPPLAN_")}
        argv = argv or [sys.executable, "-m", "capplan.cli", *args]
        with open(self.out, "wb") as out, open(self.err, "wb") as err:
            self.proc = subprocess.Popen(argv, cwd=cwd, stdout=out,
                                         stderr=err, stdin=subprocess.DEVNULL, start_new_session=True,
                                         env={**clean, **(env or {})})
        self.sid = self.proc.pid

    def workers(self) -> set[int]:
        return _session(self.sid) - {self.proc.pid}

    def wait_for_workers(self) -> set[int]:
        found: set[int] = set()

        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the run ended (exit {self.proc.returncode}) before it started workers:"
                                     f" {self.stderr()}")
            found.update(self.workers())
            return bool(found)

        assert _until(started, START_WITHIN_S) is not None, "no worker process appeared"
        time.sleep(0.3)       # let them get busy
        return found | self.workers()

    def stderr_lines(self) -> list[str]:
        return [line for line in self.stderr().splitlines() if line.strip()]

    def stderr(self) -> str:
        return self.err.read_text(errors="replace")

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def cleanup(self) -> None:
        """Backstop so a failing case does not leave CPU burners behind for the rest of the suite."""
        for pid in _session(self.sid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(5)


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    (tmp_path / "plan.yaml").write_text(PLAN)
    return tmp_path


@pytest.fixture
def runs():
    started: list[Run] = []
    yield started
    for run in started:
        run.cleanup()


def _needs_a_pool(command: str) -> None:
    if command != "simulate" and (os.cpu_count() or 1) < 2:
        pytest.skip("recommend and check run in process on one core (no --workers option)")


def _nothing_left(run: Run) -> None:
    assert not (run.cwd / "cache").exists() or list((run.cwd / "cache").iterdir()) == [], \
        f"cache entries left: {list((run.cwd / 'cache').iterdir())}"
    leftovers = [p.name for p in run.cwd.iterdir() if p.name not in ("plan.yaml", "stdout.txt", "stderr.txt", "cache")]
    assert leftovers == [], f"files left in the working folder: {leftovers}"


# --- the signals --------------------------------------------------------------------------------------


@pytest.mark.parametrize("command", list(COMMANDS))
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_whole_run(command: str, signum: int, workdir: Path, runs):
    _needs_a_pool(command)
    run = Run(COMMANDS[command], workdir)
    runs.append(run)
    workers = run.wait_for_workers()
    sent = time.monotonic()
    if signum == signal.SIGINT:
        os.killpg(run.sid, signum)        # Ctrl-C at a terminal reaches the whole process group
    else:
        os.kill(run.proc.pid, signum)     # what a CI runner sends to the job's process
    everything_gone = _until(lambda: run.proc.poll() is not None and not _session(run.sid), GONE_WITHIN_S)
    assert everything_gone is not None, (
        f"{time.monotonic() - sent:.1f} s after {signal.Signals(signum).name}: still running "
        f"{sorted(_session(run.sid))} (parent exit {run.proc.poll()}; workers were {sorted(workers)})")
    assert not any(_alive(pid) for pid in workers)
    assert run.proc.returncode == 128 + signum, run.stderr()
    lines = run.stderr_lines()
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"error: interrupted by {signal.Signals(signum).name} while "), lines
    assert "nothing was written" in lines[0]
    assert run.stdout() == "", "a result was printed although the run was interrupted"
    _nothing_left(run)


@pytest.mark.parametrize("command", list(COMMANDS))
def test_workers_end_by_themselves_when_the_parent_is_killed(command: str, workdir: Path, runs):
    _needs_a_pool(command)
    run = Run(COMMANDS[command], workdir)
    runs.append(run)
    workers = run.wait_for_workers()
    os.kill(run.proc.pid, signal.SIGKILL)   # no handler runs: the workers must notice on their own
    run.proc.wait(5)
    gone = _until(lambda: not _session(run.sid), GONE_WITHIN_S)
    assert gone is not None, f"orphaned workers still running: {sorted(_session(run.sid))} (were {sorted(workers)})"
    assert run.stdout() == ""
    _nothing_left(run)


# --- the time limit -----------------------------------------------------------------------------------


@pytest.mark.parametrize("command, extra, env", [
    ("simulate", [], {}),
    ("simulate", ["--workers", "1"], {}),                    # in process: the replication itself is cut
    ("check", [], {}),
    ("recommend", [], {"CAPPLAN_TIME_LIMIT": "3s"}),         # the environment variable
], ids=["simulate-pool", "simulate-in-process", "check", "recommend-env"])
def test_the_time_limit_stops_the_run_cleanly(command: str, extra: list[str], env: dict, workdir: Path, runs):
    _needs_a_pool(command)
    args = [*COMMANDS[command], *extra]
    if "CAPPLAN_TIME_LIMIT" not in env:
        args += ["--time-limit", "3s"]
    start = time.monotonic()
    run = Run(args, workdir, env)
    runs.append(run)
    ended = _until(lambda: run.proc.poll() is not None, 3 + LIMIT_SLACK_S)
    took = time.monotonic() - start
    assert ended is not None, f"still running {took:.1f} s into a 3 s limit: {run.stderr()}"
    assert run.proc.returncode == 2, run.stderr()
    assert 3.0 <= took, f"stopped after {took:.1f} s, before its 3 s limit"
    lines = run.stderr_lines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: --time-limit 3s reached while "), lines
    assert lines[0].endswith("; nothing was written"), lines
    assert _until(lambda: not _session(run.sid), 2.0) is not None, f"left running: {sorted(_session(run.sid))}"
    assert run.stdout() == ""
    _nothing_left(run)


def test_render_interrupted_while_sizing_writes_nothing(workdir: Path, runs):
    run = Run(["render", "--tier", "tier2", "--provider", "aws", "--users", "200000", "--today", "2026-11-27",
               "--out", "deploy"], workdir)
    runs.append(run)
    run.wait_for_workers()
    os.kill(run.proc.pid, signal.SIGTERM)
    assert _until(lambda: run.proc.poll() is not None and not _session(run.sid), GONE_WITHIN_S) is not None
    assert run.proc.returncode == 143
    assert not (workdir / "deploy").exists() or list((workdir / "deploy").rglob("*")) == []
    assert len(run.stderr_lines()) == 1, run.stderr_lines()


# --- the worker's own watch on its parent ---------------------------------------------------------------

ORPHAN = """
import sys, time
from capplan.sim import pool
if sys.argv[1] == "watcher-only":
    pool._parent_death_signal = lambda signum: None     # as where prctl does not exist
else:
    pool.WATCH_S = 3600.0                                # PR_SET_PDEATHSIG alone
pool.run_parallel(lambda job: time.sleep(600), [1, 2], 2)
"""


@pytest.mark.parametrize("mechanism", ["watcher-only", "pdeathsig-only"])
def test_each_guard_alone_ends_an_orphaned_worker(mechanism: str, tmp_path: Path, runs):
    if mechanism == "pdeathsig-only" and not sys.platform.startswith("linux"):
        pytest.skip("PR_SET_PDEATHSIG is Linux's")
    script = tmp_path / "orphan.py"
    script.write_text(ORPHAN)
    run = Run([], tmp_path, argv=[sys.executable, str(script), mechanism])
    runs.append(run)
    assert _until(lambda: len(run.workers()) == 2, START_WITHIN_S) is not None
    os.kill(run.proc.pid, signal.SIGKILL)
    run.proc.wait(5)
    gone = _until(lambda: not _session(run.sid), 3.0)
    assert gone is not None, f"{mechanism}: orphans still running: {sorted(_session(run.sid))}"
    assert run.stderr() == ""


# --- in the library -----------------------------------------------------------------------------------


def test_a_signal_raises_at_once_outside_a_deferred_region():
    with stop.handling_signals():
        with pytest.raises(stop.Interrupted) as caught:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)
    assert caught.value.exit_code == 143 and caught.value.name == "SIGTERM"


def test_a_signal_during_the_output_waits_until_it_is_complete():
    finished = False
    with stop.handling_signals():
        with pytest.raises(stop.Interrupted):
            with stop.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(0.05)          # the handler has run, and recorded the request
                finished = True
    assert finished


def test_the_time_limit_interrupts_a_long_in_process_call():
    start = time.monotonic()
    with pytest.raises(stop.TimeLimitReached) as caught:
        with stop.time_limit(0.2, "--time-limit 0.2s"):
            while time.monotonic() - start < 10:      # a long pure-Python loop, as SimPy's env.run
                pass
    assert time.monotonic() - start < 1.0
    assert str(caught.value) == "--time-limit 0.2s reached"


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("5m", 300), ("1h", 3600), ("90", 90), ("2.5min", 150)])
def test_time_limit_forms(text: str, seconds: float):
    assert stop.parse_time_limit(text) == seconds


@pytest.mark.parametrize("text", ["0", "0s", "-5s", "abc", "", "1e400s", "400d"])
def test_bad_time_limits_name_the_option(text: str):
    from capplan.errors import CapplanError

    with pytest.raises(CapplanError, match="^--time-limit: "):
        stop.parse_time_limit(text)


class _HalfWritten:
    """A file whose write stops half-way with a signal (what an interruption mid-write looks like)."""

    def __init__(self, real):
        self.real = real

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.real.close()
        return False

    def write(self, text):
        self.real.write(text[: len(text) // 2])
        self.real.flush()
        raise stop.Interrupted(signal.SIGTERM)

    def __getattr__(self, name):
        return getattr(self.real, name)


def _interrupt_writes(monkeypatch) -> None:
    """Every atomic write (capplan.files.replace_atomically: the cache's, render's) stops half-way."""
    real = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _HalfWritten(real(fd, *a, **k)))


def test_an_interrupted_cache_write_leaves_no_entry(tmp_path: Path, monkeypatch):
    from capplan import check

    (tmp_path / "plan.yaml").write_text(PLAN)
    plan = check.load_plan(tmp_path / "plan.yaml")
    cache = tmp_path / "cache"
    doc = {"chosen": None, "infeasible": {"x": "y" * 100_000}}
    monkeypatch.setattr(check, "compute", lambda *a, **k: doc)
    with monkeypatch.context() as m:
        _interrupt_writes(m)
        with pytest.raises(stop.Interrupted):
            check.cached_compute(plan, tmp_path / "plan.yaml", plan.today, cache)
    assert list(cache.iterdir()) == []          # neither the entry nor its temp file
    # the same write, not interrupted: one whole entry, read back as a hit
    assert check.cached_compute(plan, tmp_path / "plan.yaml", plan.today, cache) == (doc, "miss")
    assert [p.suffix for p in cache.iterdir()] == [".json"]
    assert check.cached_compute(plan, tmp_path / "plan.yaml", plan.today, cache) == (doc, "hit")


def test_an_interrupted_computation_leaves_no_cache_entry(tmp_path: Path, monkeypatch):
    from capplan import check

    (tmp_path / "plan.yaml").write_text(PLAN)
    plan = check.load_plan(tmp_path / "plan.yaml")

    def interrupted(*args, **kwargs):
        raise stop.TimeLimitReached(3, "--time-limit 3s")

    monkeypatch.setattr(check, "compute", interrupted)
    with pytest.raises(stop.TimeLimitReached):
        check.cached_compute(plan, tmp_path / "plan.yaml", plan.today, tmp_path / "cache")
    assert list((tmp_path / "cache").iterdir()) == []


def test_an_interrupted_render_write_keeps_the_old_file_and_no_temp(tmp_path: Path, monkeypatch):
    from capplan.render import writer
    from capplan.render.engine import HEADER_MARK

    old = f"# {HEADER_MARK} 0.0.0\nold: true\n"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "a.yaml").write_text(old)
    _interrupt_writes(monkeypatch)
    with pytest.raises(stop.Interrupted):
        writer.write_output({"a.yaml": f"# {HEADER_MARK} 0.1.0\n" + "new: true\n" * 10_000}, tmp_path / "out")
    assert (tmp_path / "out" / "a.yaml").read_text() == old
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["a.yaml"]


def test_results_do_not_depend_on_the_pool():
    """The pool returns results in job order, and a failing job's exception reaches the caller."""
    from capplan.sim.pool import RemoteTraceback, run_parallel

    assert run_parallel(lambda x: (x, os.getpid()) and x * x, list(range(7)), 3) == [x * x for x in range(7)]

    def fail(x):
        if x == 2:
            raise ValueError("job 2 failed")
        return x

    with pytest.raises(ValueError, match="job 2 failed") as caught:
        run_parallel(fail, [0, 1, 2, 3], 2)
    assert isinstance(caught.value.__cause__, RemoteTraceback)
    assert json.dumps(run_parallel(str, [1, 2], 2)) == '["1", "2"]'
