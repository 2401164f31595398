"""The loopback testbed: a small real LibreChat-shaped stack, started and stopped by one script.

    nginx (the nginx.conf `capplan render --target compose` writes, ports substituted, TLS 1.3)
      -> N Node.js/Express API processes (server.js: LibreChat's routes, one event loop each)
           -> PostgreSQL 15 through a pg pool (MongoDB has no Debian package)
           -> Redis 7: rate-limit counters, and every streamed delta through PUBLISH/SUBSCRIBE
           -> a mock LLM (mockllm.js: time to first token, answer length and token rate drawn
              from the workload's distributions)
    Prometheus scrapes the API processes' prom-client metrics every second.
    A closed-loop load generator (loadgen.js) plays users who think, send, and read the stream.

The API processes run on core 0; everything else (nginx, PostgreSQL, Redis, the mock LLM, the load
generator, Prometheus) on the other cores, so the API's CPU is the one resource under test and the
harness does not steal from it. On a one-core machine nothing is pinned (and the figures mean less).

Every number the servers use comes from one capplan workload file (testbed.yaml): the same file
capplan predicts with, so "configured" and "modelled" cannot drift apart.

    python bench/testbed/stack.py run --users 40 --duration 60 --out /tmp/tb-run
        starts the stack, runs the load, saves the access log, the load generator's records and the
        Prometheus answers capplan calibrate reads, stops everything (also on Ctrl-C or an error).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "testbed.yaml"
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCRAPE_S = 0.5
START_TIMEOUT_S = 30.0


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL it when the process that started it dies, even by SIGKILL,
    so a killed run leaves no server behind (Linux prctl PR_SET_PDEATHSIG)."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)   # 1 = PR_SET_PDEATHSIG


def stop_on_sigterm() -> None:
    """SIGTERM (a CI runner cancelling, `kill`) unwinds like Ctrl-C, so every `with Stack()` stops
    what it started."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cores() -> tuple[str | None, str | None]:
    """(the API's cores, everything else's) for taskset; (None, None) on a one-core machine."""
    available = sorted(os.sched_getaffinity(0))
    if len(available) < 2:
        return None, None
    return str(available[0]), ",".join(str(c) for c in available[1:])


def server_config(workload_path: Path = WORKLOAD) -> dict:
    """The servers' JSON config from the capplan workload (one source for both)."""
    from capplan.model.loader import load_workload

    w = load_workload(workload_path)

    def dist(d) -> dict:
        return {"kind": d.kind, "mean": d.mean, "cv": d.effective_cv}

    return {
        "cpu": {"message": dist(w.cpu.message), "token_count": dist(w.cpu.token_count),
                "api_read": dist(w.cpu.api_read), "refresh": dist(w.cpu.refresh), "title": dist(w.cpu.title),
                "stream_delta": {"kind": "deterministic", "mean": w.cpu.stream_delta, "cv": 0}},
        "llm": {"time_to_first_token": dist(w.llm.time_to_first_token), "output_tokens": dist(w.llm.output_tokens),
                "token_rate": dist(w.llm.token_rate), "title_call": dist(w.llm.title_call)},
        "db": {"pool_size": 10, "history_limit": 50,
               "extra_writes": int(round(w.mongo.writes_per_turn - 1 + w.mongo.search_sync_writes))},
        "redis_ops_per_request": int(round(w.caches.redis_ops_per_request)),
        "think_time": dist(w.think_time),
        "new_conversation_share": w.new_conversation_share,
        "api_reads_per_message": w.api_reads_per_message,
        "refresh_interval_s": w.refresh_interval,
    }


def npm_ci() -> None:
    """The Node packages from the lockfile (once; a no-op when node_modules matches it)."""
    marker = HERE / "node_modules" / ".package-lock.json"
    lock = HERE / "package-lock.json"
    if marker.exists() and marker.stat().st_mtime >= lock.stat().st_mtime:
        return
    subprocess.run(["npm", "ci", "--omit=dev", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                   check=True, stdout=subprocess.DEVNULL)


def rewrite_nginx(conf: str, *, upstreams: list[int], http_port: int, https_port: int, run: Path,
                  cert: Path, key: Path) -> str:
    """capplan's rendered compose nginx.conf on loopback: the same directives, with the compose
    service `api` replaced by one server line per API process and the paths and ports moved under
    the run folder. Fails loudly when the rendered file no longer has a line it rewrites."""
    replacements = [
        ("worker_processes auto;", "worker_processes 1;"),       # one core for all the harness
        ("pid /var/run/nginx.pid;", f"pid {run}/nginx.pid;"),
        ("error_log /var/log/nginx/error.log warn;", f"error_log {run}/error.log warn;"),
        ("access_log /var/log/nginx/access.log upstream_timing;", f"access_log {run}/access.log upstream_timing;\n"
         f"    client_body_temp_path {run}/tmp/body; proxy_temp_path {run}/tmp/proxy;\n"
         f"    fastcgi_temp_path {run}/tmp/fastcgi; uwsgi_temp_path {run}/tmp/uwsgi; scgi_temp_path {run}/tmp/scgi;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"),
        ("listen 443 ssl;", f"listen 127.0.0.1:{https_port} ssl;"),
        ("ssl_certificate /etc/nginx/tls/librechat-tls.crt;", f"ssl_certificate {cert};"),
        ("ssl_certificate_key /etc/nginx/tls/librechat-tls.key;", f"ssl_certificate_key {key};"),
    ]
    for old, new in replacements:
        if old not in conf:
            raise RuntimeError(f"the rendered nginx.conf has no line {old!r}: update stack.py's rewrite")
        conf = conf.replace(old, new)
    lines = conf.splitlines()
    out = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("server api:"):
            options = stripped.split(" ", 2)[2]   # max_fails=.. fail_timeout=..;
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}server 127.0.0.1:{p} {options}" for p in upstreams]
        else:
            out.append(line)
    if not any("server 127.0.0.1:" in line for line in out):
        raise RuntimeError("the rendered nginx.conf has no `server api:PORT` upstream line")
    return "\n".join(out) + "\n"


@dataclass
class Stack:
    """The running testbed. Use as a context manager: everything it started is stopped on exit."""

    replicas: int = 1
    workdir: Path | None = None
    workload: Path = WORKLOAD
    procs: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    ports: dict[str, object] = field(default_factory=dict)

    def __enter__(self) -> "Stack":
        self.run = Path(self.workdir or tempfile.mkdtemp(prefix="capplan-testbed-"))
        marker = self.run / ".capplan-testbed"
        if self.run.exists() and any(self.run.iterdir()):
            # a previous run's database, time series and access log would leak into this one
            if not marker.exists():
                raise RuntimeError(f"{self.run} is not empty and not a testbed folder: give an empty or new one")
            shutil.rmtree(self.run)
        self.run.mkdir(parents=True, exist_ok=True)
        marker.touch()
        self.api_cores, self.other_cores = cores()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        if self.workdir is None:   # a folder of our own making: logs, database and time series go with it
            shutil.rmtree(self.run, ignore_errors=True)

    # -- processes -----------------------------------------------------------------------------
    def _pin(self, argv: list[str], api: bool = False) -> list[str]:
        cpus = self.api_cores if api else self.other_cores
        return ["taskset", "-c", cpus, *argv] if cpus else argv

    def _spawn(self, name: str, argv: list[str], api: bool = False, user: str | None = None, **kw) -> subprocess.Popen:
        argv = self._pin(argv, api)
        if user is not None:   # setpriv execs (no forked parent left) and keeps the parent-death signal
            argv = ["setpriv", f"--reuid={user}", f"--regid={user}", "--init-groups", "--pdeathsig=SIGKILL", "--", *argv]
        log = open(self.run / f"{name}.log", "ab")
        proc = subprocess.Popen(argv, stdout=kw.pop("stdout", log), stderr=log, start_new_session=True,
                                preexec_fn=_die_with_parent, **kw)
        self.procs.append((name, proc))
        return proc

    def stop(self) -> None:
        """SIGTERM every process group started (newest first), SIGKILL what is left after 5 s."""
        for _, proc in reversed(self.procs):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + 5.0
        for _, proc in reversed(self.procs):
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        self.procs.clear()
        pg = getattr(self, "pg", None)
        if pg is not None:
            if (pg / "postmaster.pid").exists():   # pg_ctl's own shutdown, in case SIGTERM was not enough
                subprocess.run(self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(pg), "-m", "immediate", "stop"]),
                               capture_output=True)
            shutil.rmtree(pg, ignore_errors=True)

    def _as_postgres(self, argv: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def _wait(self, what: str, ready, timeout: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.procs:
                if proc.poll() is not None:
                    tail = (self.run / f"{name}.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"{name} exited with {proc.returncode} while waiting for {what}:\n{tail}")
            with contextlib.suppress(OSError, ValueError):
                if ready():
                    return
            time.sleep(0.1)
        raise RuntimeError(f"{what} not ready within {timeout:.0f} s (logs in {self.run})")

    # -- start ---------------------------------------------------------------------------------
    def _start(self) -> None:
        npm_ci()
        config = server_config(self.workload)
        (self.run / "config.json").write_text(json.dumps(config, indent=1))
        self.config = config
        self._postgres()
        self._redis()
        llm = free_port()
        self._spawn("mockllm", ["node", str(HERE / "mockllm.js"), "--config", str(self.run / "config.json"),
                                "--port", str(llm), "--seed", "7"])
        self.ports["llm"] = llm
        api = [free_port() for _ in range(self.replicas)]
        for i, port in enumerate(api):
            self._spawn(f"api-{i}", ["node", str(HERE / "server.js"), "--config", str(self.run / "config.json"),
                                     "--port", str(port), "--replica", f"api-{i}",
                                     "--pg", f"postgres://postgres@127.0.0.1:{self.ports['pg']}/postgres",
                                     "--redis", f"redis://127.0.0.1:{self.ports['redis']}",
                                     "--llm", f"http://127.0.0.1:{llm}"], api=True)
        self.ports["api"] = api
        for port in api:
            self._wait(f"API on {port}", lambda p=port: _get(f"http://127.0.0.1:{p}/metrics").startswith("#"))
        self._nginx(api)
        self._prometheus(api)

    def _postgres(self) -> None:
        # Its own folder under the system temp dir: as root the server runs as `postgres`, which
        # must reach it (the run folder may sit in a private one, e.g. pytest's).
        pg = self.pg = Path(tempfile.mkdtemp(prefix="capplan-testbed-pg-"))
        port = free_port()
        if os.geteuid() == 0:
            shutil.chown(pg, "postgres")
        subprocess.run(self._as_postgres([str(PG_BIN / "initdb"), "-D", str(pg), "-U", "postgres", "-A", "trust",
                                          "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
                       check=True, capture_output=True)
        # fsync off: the disk is not under test (its latency would be this machine's, not a server's)
        self._spawn("postgres", [str(PG_BIN / "postgres"), "-D", str(pg), "-c", "listen_addresses=127.0.0.1",
                                 "-p", str(port), "-k", str(pg), "-c", "fsync=off", "-c", "synchronous_commit=off",
                                 "-c", "full_page_writes=off", "-c", "max_connections=200"],
                    user="postgres" if os.geteuid() == 0 else None)
        self.ports["pg"] = port
        self._wait("PostgreSQL", lambda: subprocess.run([str(PG_BIN / "pg_isready"), "-h", "127.0.0.1", "-p", str(port)],
                                                        capture_output=True).returncode == 0)

    def _redis(self) -> None:
        port = free_port()
        self._spawn("redis", ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(self.run)])
        self.ports["redis"] = port
        self._wait("Redis", lambda: _tcp_ok(port))

    def _nginx(self, api: list[int]) -> None:
        rendered = self.run / "render"
        if not (rendered / "compose" / "nginx.conf").exists():
            subprocess.run([sys.executable, "-m", "capplan.cli", "render", "--tier", "tier1", "--users", "500",
                            "--provider", "aws", "--target", "compose", "--out", str(rendered)],
                           check=True, capture_output=True)
        cert, key = self.run / "tls.crt", self.run / "tls.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
                        "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.run / "tmp" / sub).mkdir(parents=True, exist_ok=True)
        http_port, https_port = free_port(), free_port()
        conf = rewrite_nginx((rendered / "compose" / "nginx.conf").read_text(), upstreams=api, http_port=http_port,
                             https_port=https_port, run=self.run, cert=cert, key=key)
        if os.geteuid() == 0:
            conf = "user root;\n" + conf   # workers write the run folder's temp paths
        (self.run / "nginx.conf").write_text(conf)
        test = subprocess.run(["nginx", "-t", "-c", str(self.run / "nginx.conf"), "-p", str(self.run)],
                              capture_output=True, text=True)
        if test.returncode != 0:
            raise RuntimeError(f"nginx -t refused the rewritten conf:\n{test.stderr}")
        # One process (no master): the rendered directives as they are, and nothing left behind if
        # this script is killed (a master's workers would outlive it).
        self._spawn("nginx", ["nginx", "-c", str(self.run / "nginx.conf"), "-p", str(self.run),
                              "-g", "daemon off; master_process off;"])
        self.ports["https"] = https_port
        self._wait("nginx", lambda: _tcp_ok(https_port))

    def _prometheus(self, api: list[int]) -> None:
        port = free_port()
        targets = ", ".join(f"'127.0.0.1:{p}'" for p in api)
        (self.run / "prometheus.yml").write_text(
            f"global: {{scrape_interval: {SCRAPE_S * 1000:.0f}ms, evaluation_interval: 15s}}\n"
            f"scrape_configs:\n  - job_name: librechat\n    static_configs:\n      - targets: [{targets}]\n")
        self._spawn("prometheus", ["prometheus", f"--config.file={self.run / 'prometheus.yml'}",
                                   f"--storage.tsdb.path={self.run / 'tsdb'}",
                                   f"--web.listen-address=127.0.0.1:{port}"])
        self.ports["prometheus"] = port

        def all_up() -> bool:
            doc = json.loads(_get(f"http://127.0.0.1:{port}/api/v1/targets"))
            active = doc["data"]["activeTargets"]
            return len(active) == len(api) and all(t["health"] == "up" for t in active)

        self._wait("Prometheus scraping every API process", all_up)

    # -- load ----------------------------------------------------------------------------------
    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['prometheus']}"

    def api_cpu_seconds(self) -> float:
        """CPU seconds the API processes have used, from /proc (the kernel's count: it needs no
        scrape, so it holds when an overloaded event loop answers Prometheus too late)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for name, proc in self.procs:
            if name.startswith("api-"):
                fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
                total += (int(fields[11]) + int(fields[12])) / ticks   # utime, stime
        return total

    def api_waiting_seconds(self) -> float:
        """Seconds the API processes' event-loop threads were ready to run but waited for a core
        (the kernel's run-queue delay, /proc/PID/schedstat): time another task took from the loop,
        which the loop's own CPU count does not show."""
        total = 0.0
        for name, proc in self.procs:
            if name.startswith("api-"):
                total += int(Path(f"/proc/{proc.pid}/schedstat").read_text().split()[1]) / 1e9
        return total

    def load(self, users: int, duration_s: float, warmup_s: float, out: Path, read_rate: float | None = None,
             refresh_rate: float | None = None, seed: int = 1) -> dict:
        """Run the closed-loop load generator; returns its summary line, with the API's CPU seconds
        sampled every second while it ran (``cpu_samples``: [unix time, CPU seconds, seconds
        waiting for a core]). Reads and
        refreshes default to the workload's: api_reads_per_message x the users' nominal message
        rate, and one refresh per user per refresh_interval."""
        import threading
        c = self.config
        if read_rate is None:
            read_rate = users / (c["think_time"]["mean"] + 2.0) * c["api_reads_per_message"]
        if refresh_rate is None:
            refresh_rate = users / c["refresh_interval_s"]
        argv = ["node", str(HERE / "loadgen.js"), "--config", str(self.run / "config.json"),
                "--url", f"https://127.0.0.1:{self.ports['https']}", "--users", str(users),
                "--duration", f"{duration_s:g}", "--warmup", f"{warmup_s:g}",
                "--think", json.dumps(c["think_time"]), "--new-conversation-share", repr(c["new_conversation_share"]),
                "--read-rate", f"{read_rate:.6g}", "--refresh-rate", f"{refresh_rate:.6g}", "--out", str(out),
                "--seed", str(seed)]
        samples: list[list[float]] = []
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append([time.time(), self.api_cpu_seconds(), self.api_waiting_seconds()])
                done.wait(1.0)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            proc = subprocess.run(self._pin(argv), capture_output=True, text=True,
                                  timeout=warmup_s + duration_s + 120, preexec_fn=_die_with_parent)
        finally:
            done.set()
            sampler.join()
        if proc.returncode != 0:
            raise RuntimeError(f"loadgen exited {proc.returncode}: {proc.stderr[-2000:]}")
        summary = json.loads(proc.stdout.strip().splitlines()[-1])
        summary["cpu_samples"] = samples
        return summary

    def save_prometheus(self, start: float, end: float, folder: Path, step_s: float = 2.0) -> None:
        """Save the query_range answers capplan calibrate reads (one NAME.json per query), raw, so
        the run folder holds them even when a fit refuses them."""
        from capplan.calibrate.metrics import QUERIES

        folder.mkdir(parents=True, exist_ok=True)
        for name, query in QUERIES.items():
            args = urllib.parse.urlencode({"query": query, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                           "step": f"{step_s:g}"})
            (folder / f"{name}.json").write_text(_get(f"{self.prometheus_url}/api/v1/query_range?{args}"))


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as answer:   # noqa: S310 (loopback)
        return answer.read().decode()


def _tcp_ok(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="start the stack, run one load, save what calibrate and validate read, stop")
    run.add_argument("--users", type=int, default=20)
    run.add_argument("--duration", type=float, default=60.0, help="measured seconds (after the warm-up)")
    run.add_argument("--warmup", type=float, default=10.0)
    run.add_argument("--replicas", type=int, default=1)
    run.add_argument("--workload", type=Path, default=WORKLOAD)
    run.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    args.out.mkdir(parents=True, exist_ok=True)
    with Stack(replicas=args.replicas, workload=args.workload) as stack:
        start = time.time()
        summary = stack.load(args.users, args.duration, args.warmup, args.out / "loadgen.jsonl")
        end = time.time()
        time.sleep(2 * SCRAPE_S)   # the last scrape
        stack.save_prometheus(start + args.warmup, end, args.out / "prometheus")
        shutil.copy(stack.run / "access.log", args.out / "access.log")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
