"""The capplan command line: parse, call the library, format. Nothing else lives here."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from capplan import __version__
from capplan.errors import CapplanError
from capplan.units import parse_duration

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Capacity planner and cost estimator for self-hosted LibreChat.")
# Piped output (CI logs, files) gets a wide page so tables don't wrap cell by cell.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _version(value: bool):
    if value:
        print(f"capplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                 help="Print the version and exit.")] = False):
    """Forecast, price, render and gate LibreChat deployments."""


class _LazyProgress:
    """A progress bar on stderr that appears only once a run has taken more than a second."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = total, label, enabled and err.is_terminal
        self.start = time.monotonic()
        self.done = 0
        self.progress: Progress | None = None
        self.task = None

    def advance(self):
        self.done += 1
        if not self.enabled:
            return
        if self.progress is None and time.monotonic() - self.start > 1.0:
            self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=err, transient=True)
            self.progress.start()
            self.task = self.progress.add_task(self.label, total=self.total, completed=self.done)
        elif self.progress is not None:
            self.progress.update(self.task, completed=self.done)

    def close(self):
        if self.progress is not None:
            self.progress.stop()


def _seconds(value: Optional[str], field: str) -> Optional[float]:
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise CapplanError(str(exc), field=field) from None
    if seconds < 0:
        raise CapplanError("must not be negative", field=field)
    return seconds


@app.command()
def tiers():
    """List the architectures with the seed document's claimed user range."""
    from rich.table import Table

    from capplan.model.loader import bundled_tier_names, load_tier
    from capplan.report.table import claimed

    table = Table(title="Architectures (scenarios/)", title_justify="left")
    for col in ("tier", "title", "seed's claimed users", "replicas x processes", "proxy", "redis", "queue", "mongo"):
        table.add_column(col)
    for name in bundled_tier_names():
        t = load_tier(name)
        svc = ", ".join(f"{s.name} {s.replicas}x{s.processes}" for s in t.services)
        mongo = f"{t.mongo.shards} shard(s), {1 + t.mongo.secondaries} node(s)"
        table.add_row(t.name, t.title, claimed(t.claimed_users.min, t.claimed_users.max), svc,
                      f"{t.proxy.kind} ({t.idle_timeout_s:.0f} s)", "yes" if t.redis.enabled else "no",
                      t.queue.kind if t.queue else "-", mongo)
    out.print(table)


@app.command()
def simulate(
    users: Annotated[int, typer.Option(help="Registered users.")] = 3000,
    tier: Annotated[Optional[list[str]], typer.Option("--tier", help="Tier to run (repeatable; default: all).")] = None,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML (default: bundled LibreChat workload).")] = None,
    scenario: Annotated[Optional[Path], typer.Option(help="A tier or textbook network YAML file to run instead.")] = None,
    duration: Annotated[Optional[str], typer.Option(help="Measured time per replication, e.g. 300s, 10min (default: from the message rate).")] = None,
    warmup: Annotated[Optional[str], typer.Option(help="Discarded warm-up time per replication (default 60 s).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same inputs and seed give identical output.")] = 1,
    replications: Annotated[int, typer.Option(help="Independent replications (>= 2) for 95% intervals.")] = 5,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: CPU count).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
):
    """Forecast latency percentiles and saturation of each architecture at USERS registered users."""
    from capplan.forecast import RunSettings, forecast_tiers
    from capplan.model.loader import load_scenario, load_tier, load_workload, bundled_tier_names
    from capplan.model.network import NetworkModel
    from capplan.report import json as jsonr
    from capplan.report.table import simulate_table

    if users <= 0:
        raise CapplanError(f"must be a positive number of registered users, got {users}", field="--users")
    if workers is not None and workers < 1:
        raise CapplanError("must be at least 1", field="--workers")
    settings = RunSettings(duration=_seconds(duration, "--duration"), warmup=_seconds(warmup, "--warmup"),
                           replications=replications, seed=seed, workers=workers)
    if scenario is not None:
        model = load_scenario(scenario)
        if isinstance(model, NetworkModel):
            _simulate_network(model, settings, json_out)
            return
        chosen = [model]
    else:
        names = tier or bundled_tier_names()
        chosen = [load_tier(n) for n in names]
    wl = load_workload(workload)
    progress = _LazyProgress(len(chosen) * settings.replications, "simulating", enabled=True)
    try:
        forecasts = forecast_tiers(chosen, wl, users, settings, on_done=progress.advance)
    finally:
        progress.close()
    if json_out:
        sys.stdout.write(jsonr.dumps(jsonr.simulate_document(users, seed, wl.name, forecasts)))
        return
    out.print(simulate_table(forecasts))
    for f in forecasts:
        for w in f.warnings:
            out.print(f"[yellow]warning[/yellow] {f.tier}: {w}")
    out.print(f"[dim]{forecasts[0].replications} replications per tier, seed {seed}; percentiles are means over "
              "replications (95% intervals in --json); 'analytic' is the M/M/c + fixed-point screen.[/dim]")


def _simulate_network(model, settings, json_out: bool):
    from rich.table import Table

    from capplan.report import json as jsonr
    from capplan.report.table import seconds
    from capplan.sim.runner import simulate as run

    net = model.compile()
    duration = settings.duration if settings.duration is not None else model.duration
    warmup = settings.warmup if settings.warmup is not None else model.warmup
    progress = _LazyProgress(settings.replications, "simulating", enabled=True)
    try:
        result = run(net, duration=duration, warmup=warmup, replications=settings.replications, seed=settings.seed,
                     workers=settings.workers, on_done=progress.advance)
    finally:
        progress.close()
    doc = jsonr.network_document(model.name, settings.seed, result, [s.name for s in model.stations],
                                 [c.name for c in model.classes])
    if json_out:
        sys.stdout.write(jsonr.dumps(doc))
        return
    table = Table(title=f"{model.name}: response time per class", title_justify="left")
    for col in ("class", "mean", "p50", "p95", "p99", "samples"):
        table.add_column(col, justify="right")
    for name, m in doc["classes"].items():
        table.add_row(name, *(seconds(m[k]) if m[k] is not None else "-" for k in ("mean", "p50", "p95", "p99")),
                      f"{m['samples']:,}")
    out.print(table)
    st = Table(title="stations", title_justify="left")
    for col in ("station", "utilization", "P(wait)", "mean wait", "in system", "throughput/s"):
        st.add_column(col, justify="right")
    for name, s in doc["stations"].items():
        st.add_row(name, f"{s['utilization']:.3f}", f"{s['p_wait']:.3f}", seconds(s["wait_s"]["mean"]),
                   f"{s['in_system']:.3f}", f"{s['throughput_per_s']:.3f}")
    out.print(st)


def main() -> None:
    try:
        app()
    except CapplanError as exc:
        err.print(f"error: {exc}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except ValidationError as exc:
        from capplan.model.loader import validation_message

        err.print(f"error: {validation_message(exc, 'input')}", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
