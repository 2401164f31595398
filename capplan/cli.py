"""The capplan command line: parse, call the library, format. Nothing else lives here."""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from pydantic import ValidationError

try:  # Typer >= 0.2x vendors click as typer._click; older releases use click itself
    from typer._click.exceptions import MissingParameter, NoArgsIsHelpError, UsageError
except ImportError:  # pragma: no cover
    from click.exceptions import MissingParameter, NoArgsIsHelpError, UsageError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from capplan import __version__, stop
from capplan.errors import CapplanError
from capplan.limits import check_users
from capplan.report.money import usd
from capplan.units import parse_duration

def _hide_flag_types() -> None:
    """Typer's rich help prints every flag as ``--json <bool>``, which reads as if it took a value
    (``--json true`` is then rejected): show no type for flags."""
    option = getattr(typer.core, "TyperOption", None)
    shown = getattr(option, "display_type_rich", None)
    if shown is None or getattr(shown, "_capplan", False):
        return

    def display_type_rich(self, ctx):
        return None if getattr(self, "is_flag", False) else shown(self, ctx)

    display_type_rich._capplan = True
    option.display_type_rich = display_type_rich


_hide_flag_types()


def _examples(lines: list[str]) -> str:
    """A command's --help epilog: one example per line (rich help keeps the line breaks)."""
    return "[bold]Examples[/bold]\n\n" + "\n\n".join(f"  [cyan]$ {line}[/cyan]" for line in lines)

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Capacity planner and cost estimator for self-hosted LibreChat.")
# Piped output (CI logs, files) gets a wide page so tables don't wrap cell by cell.
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _warn(text: str, prefix: str = "") -> None:
    """A warning line; its text is printed literally (price ids like [global] are not markup)."""
    from rich.text import Text

    out.print(Text.assemble(("warning", "yellow"), " ", prefix, text))


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
            if self.total is not None and self.done > self.total:
                self.total = None
            self.task = self.progress.add_task(self.label, total=self.total, completed=self.done)
        elif self.progress is not None:
            if self.total is not None and self.done > self.total:
                # the planner ran more rounds than estimated: the total is unknown, not "80/20"
                # (rich's update(total=None) keeps the old total; a new task without one is indeterminate)
                self.total = None
                self.progress.remove_task(self.task)
                self.task = self.progress.add_task(self.label, total=None, completed=self.done)
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


def _time_limit_option(ctx: typer.Context, param: typer.CallbackParam, value: Optional[str]):
    """--time-limit / CAPPLAN_TIME_LIMIT to (seconds, how to name it), checked before anything runs."""
    if value is None:
        return None
    try:
        from typer._click.core import ParameterSource
    except ImportError:  # pragma: no cover
        from click.core import ParameterSource
    from_env = ctx.get_parameter_source(param.name) == ParameterSource.ENVIRONMENT
    field = "--time-limit (from CAPPLAN_TIME_LIMIT)" if from_env else "--time-limit"
    # the clock starts now, with the command: the loading before the long part counts too
    return stop.parse_time_limit(value, field), f"--time-limit {value.strip()}", time.monotonic()


TimeLimit = Annotated[Optional[str], typer.Option(
    "--time-limit", envvar="CAPPLAN_TIME_LIMIT", callback=_time_limit_option, show_default=False,
    help="Stop cleanly after this long (e.g. 30s, 5m, 1h; a number is seconds): exit 2, nothing written.")]


class _Run:
    """What the command is busy with (for the one line an interruption prints) and, once its result
    is computed, the deferred region that lets the output complete before a signal ends the run."""

    doing: Optional[str] = None
    done = False                               # the result is computed: the output is under way
    output: Optional[stop.deferred] = None


@contextmanager
def _working(activity: str, limit):
    """The long part of a command: named for the interruption line, cut by --time-limit."""
    _Run.doing = activity
    if limit is None:
        yield
        return
    seconds, label, started = limit
    with stop.time_limit(max(seconds - (time.monotonic() - started), 0.001), label):
        yield


def _finished() -> None:
    """The result is computed: from here on a signal waits until the output is complete (a JSON
    document is printed whole, the files of a render all written), then ends the run (see main)."""
    _Run.doing, _Run.done = None, True
    if _Run.output is None:
        _Run.output = stop.deferred()
        _Run.output.__enter__()


def _end_output(exc: Optional[BaseException]) -> None:
    """Leave the output region: raises a signal that arrived during the output (when ``exc`` is None)."""
    region, _Run.output = _Run.output, None
    if region is not None:
        region.__exit__(type(exc) if exc is not None else None, exc, None)


@app.command(epilog=_examples(['capplan tiers']))
def tiers():
    """List the architectures with the seed document's claimed user range (and the bundled variants)."""
    from rich.table import Table

    from capplan.model.loader import bundled_tier_names, load_tier
    from capplan.model.tier import QUEUE_NOTE
    from capplan.model.timeouts import path_timers
    from capplan.report.table import claimed

    table = Table(title="Architectures (scenarios/; variants after the line)", title_justify="left")
    for col in ("tier", "title", "seed's claimed users", "replicas x processes", "proxy (stream timers)", "redis",
                "queue / event bus", "mongo"):
        table.add_column(col)
    main = bundled_tier_names()
    for name in bundled_tier_names(variants=True):
        t = load_tier(name)
        if name not in main and name == bundled_tier_names(variants=True)[len(main)]:
            table.add_section()
        svc = ", ".join(f"{s.name} {s.replicas}x{s.processes}" for s in t.services)
        mongo = f"{t.mongo.shards} shard(s), {1 + t.mongo.secondaries} node(s)"
        timers = ", ".join(f"{p.kind} {p.timer} {p.seconds:g} s" for p in path_timers(t)) or "none"
        queue = "-"
        if t.queue_enabled:
            queue = f"bull x{t.queue.workers} (needs a code change)"
        elif t.event_bus is not None:
            queue = f"{t.event_bus.kind} event bus"
        table.add_row(t.name, t.title, claimed(t.claimed_users.min, t.claimed_users.max), svc,
                      f"{t.proxy.kind} ({timers})", "yes" if t.redis.enabled else "no", queue, mongo)
    out.print(table)
    out.print(f"[dim]bull: the seed's queue {QUEUE_NOTE}.[/dim]")


@app.command(epilog=_examples(['capplan simulate --users 3000', 'capplan simulate --users 3000 --tier tier2 --json > forecast.json', 'capplan simulate --scenario scenarios/textbook/mm1.yaml', 'capplan workload show > my-workload.yaml && capplan simulate --users 3000 --workload my-workload.yaml']))
def simulate(
    users: Annotated[Optional[int], typer.Option(help="Registered users (default 3000; not with --scenario).", show_default=False)] = None,
    tier: Annotated[Optional[list[str]], typer.Option("--tier", help="Tier to run (repeatable; default: all).")] = None,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML (default: bundled LibreChat workload).")] = None,
    scenario: Annotated[Optional[Path], typer.Option(help="A tier or textbook network YAML file to run instead.")] = None,
    duration: Annotated[Optional[str], typer.Option(help="Measured time per replication, e.g. 300s, 10min (default: from the message rate).")] = None,
    warmup: Annotated[Optional[str], typer.Option(help="Discarded warm-up time per replication (default 60 s).")] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same inputs and seed give identical output.")] = 1,
    replications: Annotated[int, typer.Option(help="Independent replications (>= 2) for 95% intervals.")] = 5,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (default: CPU count).")] = None,
    provider: Annotated[Optional[str], typer.Option(help="Apply this provider's load balancer timer (aws, gcp, azure) to tiers behind the cloud's load balancer (default: each provider's is reported).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of the table.")] = False,
    time_limit: TimeLimit = None,
):
    """Forecast latency percentiles, failures and a verdict (stable, saturated, unstable) for each architecture at USERS registered users."""
    from capplan.forecast import RunSettings, forecast_tiers
    from capplan.model.loader import load_scenario, load_tier, load_workload, bundled_tier_names
    from capplan.model.network import NetworkModel
    from capplan.report import json as jsonr
    from capplan.report.table import simulate_table

    if scenario is not None:
        # a scenario file is the whole model: these would be silently ignored
        given = [name for name, value in (("--users", users), ("--tier", tier), ("--workload", workload)) if value]
        if given:
            raise CapplanError(f"--scenario runs the file's own model; drop {' and '.join(given)} (a tier file "
                               "runs at 3,000 users with the bundled workload)", field=given[0])
    users = check_users(3000 if users is None else users)
    chosen_provider = _providers(provider, one=True) if provider is not None else None
    settings = RunSettings(duration=_seconds(duration, "--duration"), warmup=_seconds(warmup, "--warmup"),
                           replications=replications, seed=seed, workers=workers, provider=chosen_provider)
    if scenario is not None:
        model = load_scenario(scenario)
        if isinstance(model, NetworkModel):
            _simulate_network(model, settings, json_out, time_limit)
            return
        chosen = [model]
    else:
        names = tier or bundled_tier_names()
        chosen = [load_tier(n) for n in names]
    wl = load_workload(workload)
    progress = _LazyProgress(len(chosen) * settings.replications, "simulating", enabled=True)
    try:
        with _working("simulating", time_limit):
            forecasts = forecast_tiers(chosen, wl, users, settings, on_done=progress.advance)
    finally:
        progress.close()
    _finished()
    if json_out:
        sys.stdout.write(jsonr.dumps(jsonr.simulate_document(users, seed, wl.name, forecasts)))
        return
    out.print(simulate_table(forecasts))
    for f in forecasts:
        for w in f.warnings:
            _warn(w, prefix=f"{f.tier}: ")
    out.print(f"[dim]{forecasts[0].replications} replications per tier, seed {seed}; percentiles are means over "
              "replications (95% intervals in --json); 'offered' is the load users ask for (the analytic screen), "
              "'carried' what the simulation served; an unstable tier's latencies are lower bounds ('growing') "
              "or a run with no steady state yet ('unsettled': run longer).[/dim]")


def _simulate_network(model, settings, json_out: bool, time_limit=None):
    from rich.table import Table

    from capplan.report import json as jsonr
    from capplan.report.table import seconds
    from capplan.sim.build import compile_network
    from capplan.sim.runner import simulate as run

    from capplan.limits import check_events
    from capplan.screen import screen

    net = compile_network(model)
    duration = settings.duration if settings.duration is not None else model.duration
    warmup = settings.warmup if settings.warmup is not None else model.warmup
    check_events(screen(net).events_per_s, warmup, duration,
                 field="--duration" if settings.duration is not None else f"{model.name}: duration")
    progress = _LazyProgress(settings.replications, "simulating", enabled=True)
    try:
        with _working("simulating", time_limit):
            result = run(net, duration=duration, warmup=warmup, replications=settings.replications,
                         seed=settings.seed, workers=settings.workers, on_done=progress.advance)
    finally:
        progress.close()
    _finished()
    doc = jsonr.network_document(model.name, settings.seed, result, [s.name for s in model.stations],
                                 [c.name for c in model.classes],
                                 infinite={s.name for s in model.stations if s.discipline == "is"})
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
    for col in ("station", "utilization", "P(wait)", "mean wait", "in system", "throughput/s", "blocking"):
        st.add_column(col, justify="right")
    for name, s in doc["stations"].items():
        util = "infinite servers" if s["utilization"] is None else f"{s['utilization']:.3f}"
        wait = "-" if s["wait_s"]["mean"] is None else seconds(s["wait_s"]["mean"])
        st.add_row(name, util, f"{s['p_wait']:.3f}", wait, f"{s['in_system']:.3f}", f"{s['throughput_per_s']:.3f}",
                   f"{s['blocking']['mean']:.4f}")
    out.print(st)
    if len(doc["classes"]) > 1:
        pc = Table(title="classes at each station (mean number present: Little's law)", title_justify="left")
        for col in ("station", "class", "throughput/s", "in system", "utilization share", "mean wait"):
            pc.add_column(col, justify="right")
        for name, s in doc["stations"].items():
            for cls, c in s["classes"].items():
                share = "-" if c["utilization_share"] is None else f"{c['utilization_share']['mean']:.3f}"
                wait = "-" if c["wait_s"]["mean"] is None else seconds(c["wait_s"]["mean"])
                pc.add_row(name, cls, f"{c['throughput_per_s']['mean']:.3f}", f"{c['in_system']['mean']:.3f}", share,
                           wait)
        out.print(pc)


def _today(value: Optional[str]):
    import datetime as dt

    if value is None:
        return dt.date.today()  # the clock is read here, at the edge; --today pins it for byte-identical output
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise CapplanError(f"not a date (YYYY-MM-DD): {value!r}", field="--today") from None


def _providers(value: str, one: bool = False, field: str = "--provider") -> list[str] | str:
    """Comma-separated provider names (validated); ``one``: exactly one, returned as a string."""
    from capplan.cost.prices import known_providers

    names = [p.strip().lower() for p in value.split(",") if p.strip()]
    if one and len(names) > 1:
        raise CapplanError(f"takes one provider, got {len(names)} ({value}); run once per provider, or use "
                           "`capplan recommend --provider ...` to compare them", field=field)
    known = known_providers()
    for name in names:
        if name not in known:
            raise CapplanError(f"unknown provider {name!r} (known: {', '.join(known)})", field=field)
    if not names:
        raise CapplanError("name at least one provider", field=field)
    return names[0] if one else list(dict.fromkeys(names))


def _tier_list(text: str):
    """--tiers: comma-separated tier names, or all (the bundled tiers), loaded."""
    from capplan.model.loader import bundled_tier_names, load_tier

    names = bundled_tier_names() if text.strip().lower() == "all" else [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise CapplanError("name at least one tier, or all", field="--tiers")
    tiers = []
    for name in dict.fromkeys(names):
        try:
            tiers.append(load_tier(name))
        except CapplanError as exc:
            raise CapplanError(str(exc).removeprefix("--tier: "), field="--tiers") from None
    return tiers


def _slo(p95: str, ttft: Optional[str], error_rate: float):
    from capplan.planner import SLO

    return SLO(p95_s=_seconds(p95, "--slo-p95"), ttft_p95_s=_seconds(ttft, "--slo-ttft-p95"),
               max_error_rate=error_rate)


def _deploy_options(*, require_ha: bool, instance: str | None, mongodb: str, redis: str, search: bool,
                    aks_tier: str | None, memory_hpa: bool = False, min_replicas: int | None = None):
    """CLI spellings (self-hosted, standard ...) to DeployOptions; bad values name the option."""
    from capplan.deploy import DeployOptions

    for flag, value in (("--mongodb", mongodb), ("--redis", redis)):
        if value.replace("-", "_") not in ("auto", "managed", "self_hosted"):
            raise CapplanError(f"must be auto, managed or self_hosted, got {value!r}", field=flag)
    tier = None
    if aks_tier is not None:
        tier = {"free": "Free", "standard": "Standard"}.get(aks_tier.strip().lower())
        if tier is None:
            raise CapplanError(f"must be Free or Standard, got {aks_tier!r}", field="--aks-tier")
    if min_replicas is not None and min_replicas < 1:
        raise CapplanError(f"must be at least 1, got {min_replicas}", field="--min-replicas")
    return DeployOptions(require_ha=require_ha, app_instance=instance, mongodb=mongodb.replace("-", "_"),
                         redis=redis.replace("-", "_"), search=search, aks_tier=tier, memory_hpa=memory_hpa,
                         min_replicas=min_replicas)


@app.command(epilog=_examples(['capplan cost --tier tier2 --provider aws --users 3000', 'capplan cost --tier tier2 --provider gcp --users 3000 --mongodb managed --json']))
def cost(
    tier: Annotated[str, typer.Option(help="Tier to price (see `capplan tiers`).")],
    provider: Annotated[str, typer.Option(help="aws, gcp or azure.")],
    users: Annotated[int, typer.Option(help="Registered users.")],
    region: Annotated[Optional[str], typer.Option(help="Region; must be the price book's (e.g. us-east-1).")] = None,
    instance: Annotated[Optional[str], typer.Option(help="Force the app node type (a price row id).")] = None,
    as_defined: Annotated[bool, typer.Option("--as-defined", help="Price the tier's own counts instead of the planner's sizing.")] = False,
    mongodb: Annotated[str, typer.Option(help="MongoDB: auto, managed (Atlas; URI in the Secret) or self_hosted (in the compose file / StatefulSets on a data node group).")] = "auto",
    redis: Annotated[str, typer.Option(help="Redis: auto (compose: in the compose file; Kubernetes: managed), managed or self_hosted.")] = "auto",
    search: Annotated[bool, typer.Option("--search/--no-search", help="LibreChat's Meilisearch (SEARCH=true): modelled, priced and rendered.")] = True,
    aks_tier: Annotated[Optional[str], typer.Option("--aks-tier", help="AKS control plane: Free or Standard (default: Standard with --require-ha).")] = None,
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO used to size the tier.")] = "2s",
    require_ha: Annotated[bool, typer.Option("--require-ha", help="At least 2 replicas and zones.")] = False,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per simulation.")] = 4,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (YYYY-MM-DD; default: today).")] = None,
    prices: Annotated[Optional[Path], typer.Option("--prices", help="A price-book file (e.g. from `capplan prices refresh`) instead of the bundled pricing/<provider>.yaml.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    time_limit: TimeLimit = None,
):
    """The monthly bill of one tier on one provider at USERS users, line by line."""
    from capplan.cost.bill import bill_deployment
    from capplan.deploy.demand import demand
    from capplan.cost.purchase import compare_purchase_options, unit_costs
    from capplan.cost.prices import load_llm_prices, load_price_book, load_price_book_file
    from capplan.deploy import build_deployment
    from capplan.forecast import RunSettings, forecast_tiers
    from capplan.model.loader import load_tier, load_workload
    from capplan.planner import size_tiers
    from capplan.report import json as jsonr
    from capplan.report.table import bill_table, purchase_table

    check_users(users)
    name = _providers(provider, one=True)
    if prices is not None:
        try:
            book = load_price_book_file(prices, name)
        except CapplanError as exc:
            raise CapplanError(str(exc), field="--prices") from None
    else:
        book = load_price_book(name)
    if region is not None and region != book.region:
        raise CapplanError(f"no {name} prices for region {region!r}: {prices or f'pricing/{name}.yaml'} covers "
                           f"{book.region}", field="--region")
    if instance is not None:
        try:
            book.get(instance)
        except CapplanError as exc:
            raise CapplanError(str(exc), field="--instance") from None
    deploy_options = _deploy_options(require_ha=require_ha, instance=instance, mongodb=mongodb, redis=redis,
                                     search=search, aks_tier=aks_tier)
    date = _today(today)
    llm = load_llm_prices()
    t = load_tier(tier)
    wl = load_workload(workload)
    llm.get(wl.traffic.llm_model)
    settings = RunSettings(replications=replications, seed=seed)
    notes = []
    progress = _LazyProgress(settings.replications * 4, "simulating", enabled=True)
    serves = True
    try:
        with _working("sizing and simulating", time_limit):
            if as_defined:
                sized, forecast = t, forecast_tiers([t], wl, users, settings, on_done=progress.advance)[0]
                serves = forecast.verdict == "stable"
                if not serves:
                    notes.append(f"as defined in scenarios/{t.name}.yaml it cannot serve {users:,} users: "
                                 f"{forecast.verdict} at {forecast.bottleneck}")
            else:
                plan = size_tiers([t], wl, users, _slo(slo_p95, None, 0.01), require_ha, settings,
                                  on_progress=progress.advance)[0]
                sized = plan.sized
                if plan.feasible:
                    forecast = plan.forecast
                    notes.append(f"sized by the planner: {plan.reason}")
                else:
                    serves = False
                    forecast = plan.forecast or forecast_tiers([sized], wl, users, settings,
                                                               on_done=progress.advance)[0]
                    notes.append(f"cannot serve {users:,} users within the SLO ({plan.reason}); priced at the "
                                 "largest sizing tried, on the offered demand")
    finally:
        progress.close()
    _finished()
    deployment = build_deployment(sized, forecast, wl, book, deploy_options)
    bill = bill_deployment(deployment, book, llm, today=date)
    options = compare_purchase_options(deployment, book, llm, today=date)
    d = demand(sized, forecast, wl)
    units = unit_costs(bill, d.active_users, max(d.messages_per_month, 1))
    if prices is not None:
        notes.append(f"prices from {prices}, not the bundled pricing/{name}.yaml")
    if json_out:
        sources = {row.id: row.source for row in book.rows}
        doc = {"capplan_version": __version__, "tier": t.name, "provider": name, "region": book.region,
               "users": users, "seed": seed, "today": date.isoformat(), "active_users": d.active_users,
               "messages_per_month": d.messages_per_month, "priced_as": "defined" if as_defined else "sized",
               "serves_load": serves, "verdict": forecast.verdict,
               "node_groups": jsonr.node_groups_dict(deployment),
               "bill": jsonr.bill_dict(bill, units), "purchase_options": jsonr.purchase_dict(options),
               "prices": {"file": None if prices is None else str(prices),
                          "sources": {l.price_row_id: sources[l.price_row_id] for l in bill.lines
                                      if l.price_row_id in sources}},
               "slo_figures": jsonr.slo_figures(forecast), "notes": notes}
        sys.stdout.write(jsonr.dumps(doc))
        return
    title = (f"capplan cost: {t.name} on {name} ({book.region}), {users:,} users, "
             f"{d.messages_per_month:,} messages/month offered")
    if not serves:
        title += f": CANNOT SERVE THIS LOAD ({forecast.verdict})"
    out.print(bill_table(bill, title))
    out.print(f"per active user / month: {usd(units.per_active_user_usd)}   per 1,000 messages: "
              f"{usd(units.per_1000_messages_usd)} (infrastructure {usd(units.infrastructure_per_1000_messages_usd)})")
    out.print(purchase_table(options))
    for note in notes:
        out.print(f"[dim]{note}[/dim]")
    for warning in bill.warnings:
        _warn(warning)


@app.command(epilog=_examples(['capplan recommend --users 3000', 'capplan recommend --users 3000 --provider aws --require-ha --slo-p95 500ms --json > rec.json']))
def recommend(
    users: Annotated[int, typer.Option(help="Registered users.")],
    provider: Annotated[str, typer.Option(help="Comma-separated providers.")] = "aws,gcp,azure",
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO.")] = "2s",
    slo_ttft_p95: Annotated[Optional[str], typer.Option("--slo-ttft-p95", help="p95 time-to-first-token SLO.")] = None,
    max_error_rate: Annotated[float, typer.Option(help="Largest acceptable share of rejected requests.")] = 0.01,
    require_ha: Annotated[bool, typer.Option("--require-ha", help="Only highly available sizings (>= 2 replicas).")] = False,
    survive: Annotated[Optional[str], typer.Option("--survive", help="node or zone: size the API so the SLO holds with one lost (N+1), and say what it costs.")] = None,
    tier: Annotated[Optional[list[str]], typer.Option("--tier", help="Restrict to these tiers (repeatable).")] = None,
    mongodb: Annotated[str, typer.Option(help="MongoDB: auto, managed (Atlas) or self_hosted.")] = "auto",
    redis: Annotated[str, typer.Option(help="Redis: auto, managed or self_hosted (compose tiers only).")] = "auto",
    search: Annotated[bool, typer.Option("--search/--no-search", help="LibreChat's Meilisearch (SEARCH=true).")] = True,
    aks_tier: Annotated[Optional[str], typer.Option("--aks-tier", help="AKS control plane: Free or Standard (default: Standard with --require-ha).")] = None,
    memory_hpa: Annotated[bool, typer.Option("--memory-hpa", help="Also scale the API on memory (a Node heap rarely shrinks: scales out, seldom back).")] = False,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per simulation.")] = 4,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (YYYY-MM-DD).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    time_limit: TimeLimit = None,
):
    """The cheapest tier x provider sizing whose simulated p95 meets the SLO, with the why."""
    deploy_options = _deploy_options(require_ha=require_ha, instance=None, mongodb=mongodb, redis=redis,
                                     search=search, aks_tier=aks_tier, memory_hpa=memory_hpa)
    from capplan.forecast import RunSettings
    from capplan.model.loader import bundled_tier_names, load_tier, load_workload
    from capplan.planner import recommend as run_recommend
    from capplan.planner import seed_band
    from capplan.report import json as jsonr
    from capplan.report.table import recommend_table

    check_users(users)
    if survive is not None and survive not in ("node", "zone"):
        raise CapplanError(f"must be node or zone, got {survive!r}", field="--survive")
    providers = _providers(provider)
    slo = _slo(slo_p95, slo_ttft_p95, max_error_rate)
    date = _today(today)
    tiers = [load_tier(n) for n in (tier or bundled_tier_names())]
    wl = load_workload(workload)
    settings = RunSettings(replications=replications, seed=seed)
    progress = _LazyProgress(len(tiers) * replications, "sizing and simulating", enabled=True)
    try:
        with _working("sizing and simulating", time_limit):
            rec = run_recommend(tiers, wl, users, providers, slo, require_ha, settings, today=date,
                                on_progress=progress.advance, options=deploy_options, survive=survive)
    finally:
        progress.close()
    _finished()
    if json_out:
        sys.stdout.write(jsonr.dumps(jsonr.recommend_document(rec, seed)))
        if rec.winner is None:
            raise typer.Exit(1)
        return
    if not rec.options:
        out.print("[red]no tier meets the SLO at this scale[/red]")
    else:
        out.print(recommend_table(rec))
        win = rec.winner
        f = win.plan.forecast
        util = f.utilization.get(f.bottleneck)
        out.print(f"[bold]recommended:[/bold] {win.plan.tier.name} on {win.provider}, "
                  f"{usd(win.bill.infrastructure_usd)}/month infrastructure ({usd(win.bill.total_usd)} with LLM tokens)")
        headroom = f"; bottleneck {f.bottleneck} at {util.mean:.0%} ({1 - util.mean:.0%} headroom)" if util else ""
        out.print(f"  why: cheapest of {len(rec.options)} priced options that meet the SLO (rule: smallest sizing "
                  f"under 70% CPU / 80% memory whose simulated p95 upper bound is within the SLO, then lowest "
                  f"monthly infrastructure cost); {win.plan.reason}{headroom}")
        if "survive" in win.choices:
            sv = win.choices["survive"]
            out.print(f"  survives a {sv['loss']}: {sv['api_replicas']} API pods where the peak needs "
                      f"{sv['peak_needs']}, {usd(sv['extra_monthly_usd'], signed=True)}/month for it")
        for p in providers:
            best, second = rec.best_on(p), rec.runner_up(p)
            band = seed_band(users, p)
            if best is None:
                continue
            line = f"  {p}: best {best.plan.tier.name} {usd(best.bill.infrastructure_usd)}"
            if second:
                line += f"; runner-up {second.plan.tier.name} {usd(second.bill.infrastructure_usd)}"
            if band:
                scale, lo, hi = band
                ours = float(best.bill.infrastructure_usd)
                inside = ours >= lo and (hi is None or ours <= hi)
                diff = "inside" if inside else f"{usd(ours - (lo if ours < lo else hi), signed=True)} vs the band"
                line += f"; seed's {scale} band {usd(lo)}-{'' if hi is None else usd(hi)} ({diff})"
            out.print(line)
    for p in rec.plans:
        if not p.feasible:
            out.print(f"[dim]  {p.tier.name}: not feasible: {p.reason}[/dim]")
    out.print(f"[dim]{rec.simulations} simulations run; the analytic screen turned down {rec.screen_rejections} "
              "candidate sizings that would otherwise each have needed one[/dim]")
    if rec.winner:
        for warning in rec.winner.bill.warnings:
            _warn(warning)
    else:
        raise typer.Exit(1)  # like `check`: 1 means the SLO cannot be met; 2 is bad input


@app.command(epilog=_examples(['capplan render --tier tier2 --provider aws --users 3000 --out deploy/', 'capplan render --from rec.json --out deploy/', 'capplan render --from capplan.yaml --dry-run']))
def render(
    ctx: typer.Context,
    tier: Annotated[Optional[str], typer.Option(help="Tier to size and render.")] = None,
    provider: Annotated[Optional[str], typer.Option(help="aws, gcp or azure.")] = None,
    users: Annotated[Optional[int], typer.Option(help="Registered users.")] = None,
    from_file: Annotated[Optional[Path], typer.Option("--from", help="A plan file, or a saved `recommend --json` / `check --format json`.")] = None,
    out_dir: Annotated[Optional[Path], typer.Option("--out", help="Directory to write into.")] = None,
    target: Annotated[Optional[str], typer.Option(help="Comma-separated: compose,k8s,istio,cluster,prometheus (default: all).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the files instead of writing them.")] = False,
    force: Annotated[bool, typer.Option("--force", help="Overwrite files capplan did not write.")] = False,
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO used to size the tier.")] = "2s",
    require_ha: Annotated[bool, typer.Option("--require-ha")] = False,
    mongodb: Annotated[str, typer.Option(help="MongoDB: auto, managed (Atlas) or self_hosted.")] = "auto",
    redis: Annotated[str, typer.Option(help="Redis: auto, managed or self_hosted (compose tiers only).")] = "auto",
    search: Annotated[bool, typer.Option("--search/--no-search", help="LibreChat's Meilisearch (SEARCH=true).")] = True,
    aks_tier: Annotated[Optional[str], typer.Option("--aks-tier", help="AKS control plane: Free or Standard (default: Standard with --require-ha).")] = None,
    memory_hpa: Annotated[bool, typer.Option("--memory-hpa", help="Also scale the API on memory (a Node heap rarely shrinks: scales out, seldom back).")] = False,
    min_replicas: Annotated[Optional[int], typer.Option("--min-replicas", help="The API HPA's minimum for a daily curve (default: the peak sizing). `capplan day --min-replicas` simulates the same.")] = None,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per simulation.")] = 4,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (YYYY-MM-DD).")] = None,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", envvar="CAPPLAN_CACHE_DIR", help="Result cache for --from PLAN (shared with `capplan check`).")] = Path(".capplan-cache"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Always recompute a --from PLAN.")] = False,
    time_limit: TimeLimit = None,
):
    """Deployable, validated manifests carrying the planner's sizing."""
    from capplan.render.engine import TARGETS
    from capplan.render.plan import load_deploy, render_plan
    from capplan.render.writer import write_output

    if from_file is not None:
        # the file carries the sizing: these would be silently ignored
        given = _given(ctx, ("tier", "provider", "users", "workload", "slo_p95", "require_ha", "mongodb", "redis",
                             "search", "aks_tier", "memory_hpa", "min_replicas", "seed", "replications"))
        if given:
            raise CapplanError(f"--from {from_file} carries the sizing; drop {', '.join(given)} (or drop --from "
                               "to size here)", field=given[0])

    # None: every target that applies to the plan (compose-only plans have no Kubernetes files)
    targets = [t.strip() for t in target.split(",") if t.strip()] if target else None
    for t in targets or []:
        if t not in TARGETS:
            raise CapplanError(f"unknown target {t!r} (known: {', '.join(TARGETS)})", field="--target")
    if not dry_run and out_dir is None:
        raise CapplanError("say where to write (--out DIR) or use --dry-run", field="--out")
    if not dry_run and out_dir.exists() and not out_dir.is_dir():   # before sizing, not after it
        raise CapplanError("exists and is not a folder", field=f"--out {out_dir}")
    if from_file is not None and from_file.suffix in (".yaml", ".yml") and _is_plan(from_file):
        # a plan file: its recommendation (cached like `capplan check`) supplies the sizing
        from capplan.check import cached_compute, load_plan

        plan = load_plan(from_file)
        date = _today(today) if today is not None else (plan.today or _today(None))
        with _working(f"sizing {from_file}", time_limit):
            rec, _ = cached_compute(plan, from_file, date, None if no_cache else cache_dir, write=not dry_run)
        if rec.get("chosen") is None:
            raise CapplanError("no tier meets the plan's SLO: nothing to render", field=str(from_file))
        deploy = rec["chosen"]["deploy"]
    elif from_file is not None:
        from capplan.render.plan import deployment_of

        deploy = load_deploy(from_file)
        try:
            deployment_of(deploy)
        except CapplanError as exc:
            raise CapplanError(str(exc), field=str(from_file)) from None
    else:
        from capplan.forecast import RunSettings
        from capplan.model.loader import load_tier, load_workload
        from capplan.planner import recommend as run_recommend

        missing = [n for n, v in (("--tier", tier), ("--provider", provider), ("--users", users)) if v is None]
        if missing:
            raise CapplanError(f"needed unless --from is given: {', '.join(missing)}", field=missing[0])
        check_users(users)
        providers = [_providers(provider, one=True)]
        t = load_tier(tier)
        progress = _LazyProgress(replications * 3, "sizing", enabled=True)
        try:
            with _working("sizing and simulating", time_limit):
                rec = run_recommend([t], load_workload(workload), users, providers, _slo(slo_p95, None, 0.01),
                                    require_ha, RunSettings(replications=replications, seed=seed),
                                    today=_today(today), on_progress=progress.advance, options=_deploy_options(
                                        require_ha=require_ha, instance=None, mongodb=mongodb, redis=redis,
                                        search=search, aks_tier=aks_tier, memory_hpa=memory_hpa,
                                        min_replicas=min_replicas))
        finally:
            progress.close()
        if rec.winner is None:
            raise CapplanError(f"{t.name} cannot meet the SLO at {users:,} users: {rec.plans[0].reason}", field="--tier")
        deploy = rec.winner.deploy
    files = render_plan(deploy, targets)
    _finished()   # every file written, or none
    if dry_run:
        for path, text in files.items():
            sys.stdout.write(f"# --- {path} ---\n{text}")
        return
    result = write_output(files, out_dir, force=force, prune=targets)
    for path in result.written:
        out.print(str(path), highlight=False)
    for path in result.removed:
        out.print(f"removed {path} (written by an earlier render, not part of this plan)", highlight=False)
    for path in result.kept:
        _warn(f"{path}: written by an earlier render but edited by hand since; kept (delete it if it is stale)")


def _given(ctx: typer.Context, names: tuple[str, ...]) -> list[str]:
    """The options among ``names`` the user typed (or set through the environment), as flags."""
    from typer.core import TyperOption

    try:
        from typer._click.core import ParameterSource
    except ImportError:  # pragma: no cover
        from click.core import ParameterSource
    flags = {p.name: max(p.opts, key=len) for p in ctx.command.params if isinstance(p, TyperOption)}
    return [flags.get(n, n) for n in names
            if ctx.get_parameter_source(n) in (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)]


def _is_plan(path: Path) -> bool:
    from capplan.model.loader import read_yaml

    data = read_yaml(path)
    return isinstance(data, dict) and data.get("kind") == "plan"


@app.command(epilog=_examples(["capplan day --tier tier2 --users 3000",
                                "capplan day --tier tier2 --users 3000 --profile consumer --min-replicas 3 --json > day.json",
                                "capplan day --tier tier2 --users 3000 --profile my-hourly-counts.csv",
                                "capplan day --tier tier2 --users 3000 --inject mongo@10:00 --inject llm-slow@14:00/30m*3"]))
def day(
    tier: Annotated[str, typer.Option(help="Tier to run through the day (a Kubernetes tier: see `capplan tiers`).")],
    users: Annotated[int, typer.Option(help="Registered users.")],
    profile: Annotated[str, typer.Option(help="business, consumer, business-week, a profile .yaml or an hourly .csv (hour,count).")] = "business",
    provider: Annotated[str, typer.Option(help="aws, gcp or azure (node type, node start-up time, prices).")] = "aws",
    min_replicas: Annotated[Optional[int], typer.Option("--min-replicas", help="The API HPA's minimum (default: 2 with --require-ha, else 1; above the peak sizing it raises the floor and the bill). `capplan render --min-replicas` writes the same HPA.")] = None,
    inject: Annotated[Optional[list[str]], typer.Option("--inject", help="An incident KIND@HH:MM\\[/DURATION]\\[*FACTOR] (repeatable): mongo (a primary election, 12 s), redis (a failover, 30 s), llm-slow (x3 for 30 min), llm-429 (5 min), pod, node or zone (lost; the run shows the recovery).")] = None,
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO (sizing, and SLO-violation minutes).")] = "2s",
    max_error_rate: Annotated[float, typer.Option(help="Largest acceptable share of failed requests in a minute.")] = 0.01,
    require_ha: Annotated[bool, typer.Option("--require-ha", help="At least 2 replicas and zones.")] = False,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per sizing simulation.")] = 4,
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON (the whole per-minute timeline).")] = False,
    time_limit: TimeLimit = None,
):
    """A day of traffic (or a week) through the tier's peak sizing with the rendered HPA and the cluster
    autoscaler at work: per-minute users, pods, nodes, CPU, p95 latency and failures, SLO-violation
    minutes, and the month's cost autoscaled next to fixed at peak size."""
    from capplan.day.plan import plan_day
    from capplan.forecast import RunSettings
    from capplan.model.loader import load_profile, load_tier, load_workload
    from capplan.report.day import cost_table, day_json, day_table

    check_users(users)
    if min_replicas is not None and min_replicas < 1:
        raise CapplanError(f"must be at least 1, got {min_replicas}", field="--min-replicas")
    from capplan.day.failures import parse_injection

    name = _providers(provider, one=True)
    slo = _slo(slo_p95, None, max_error_rate)
    injections = [parse_injection(text) for text in inject or []]
    prof = load_profile(profile)
    for inj in injections:
        if inj.at >= prof.seconds:
            raise CapplanError(f"{inj.kind} at day {int(inj.at // 86400) + 1} is past the profile's "
                               f"{len(prof.days)} day(s)", field="--inject")
    t = load_tier(tier)
    wl = load_workload(workload)
    deploy_options = _deploy_options(require_ha=require_ha, instance=None, mongodb="auto", redis="auto", search=True,
                                     aks_tier=None)
    sizing = _LazyProgress(replications * 3, "sizing the peak", enabled=True)
    minutes = _LazyProgress(int(prof.seconds // 60), "simulating the day (minutes)", enabled=True)
    try:
        with _working("sizing and simulating the day", time_limit):
            plan = plan_day(t, wl, users, name, prof, slo, min_replicas, require_ha,
                            RunSettings(replications=replications, seed=seed), deploy_options, today=_today(None),
                            on_progress=sizing.advance, on_minute=lambda done, total: minutes.advance(),
                            injections=injections)
    finally:
        sizing.close()
        minutes.close()
    _finished()
    if json_out:
        from capplan.report import json as jsonr

        sys.stdout.write(jsonr.dumps(day_json(plan, slo.p95_s, slo.max_error_rate, __version__, seed)))
        return
    r = plan.result
    out.print(day_table(plan, slo.p95_s, slo.max_error_rate))
    out.print(cost_table(plan))
    violations = r.slo_violation_minutes(slo.p95_s, slo.max_error_rate)
    out.print(f"SLO-violation minutes: {violations} of {len(r.minutes)} (p95 > {slo.p95_s:g} s or over "
              f"{slo.max_error_rate:.0%} failed); app node-hours {r.node_hours():.1f}; pods {min(m.pods_ready for m in r.minutes)}"
              f"-{max(m.pods_ready for m in r.minutes)} (peak sizing {plan.peak_replicas}, HPA {r.hpa_min}-{r.hpa_max})",
              highlight=False)
    if prof.peak_hour_share() and abs(prof.peak_hour_share() - wl.demand.peak_hour_share) > 0.01:
        _warn(f"profile {prof.name}: its busiest hour carries {prof.peak_hour_share():.1%} of a day's messages, "
              f"the workload's peak hour {wl.demand.peak_hour_share:.1%}: the peak sizing and the day's peak differ")


@app.command(epilog=_examples(["capplan sweep --users 500..20000 --tiers all --providers aws",
                               "capplan sweep --users 1000,3000,10000 --tiers tier1,tier2 --vary llm.token_rate.mean=25,50,100",
                               "capplan sweep --users 500..20000 --executor dask --scheduler tcp://scheduler:8786 --json > sweep.json"]))
def sweep(
    users: Annotated[str, typer.Option(help="User counts: LOW..HIGH (--points counts on a log scale) or a list 500,1000,3000.")],
    points: Annotated[int, typer.Option(help="User counts in a LOW..HIGH range.")] = 8,
    tiers: Annotated[str, typer.Option("--tiers", help="Comma-separated tiers, or all (the bundled tiers).")] = "all",
    providers: Annotated[str, typer.Option("--providers", help="Comma-separated providers to price each point on.")] = "aws",
    vary: Annotated[Optional[list[str]], typer.Option("--vary", help="PATH=V1,V2,...: a workload or tier field's values to sweep too (repeatable; every combination runs).")] = None,
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO.")] = "2s",
    slo_ttft_p95: Annotated[Optional[str], typer.Option("--slo-ttft-p95", help="p95 time-to-first-token SLO.")] = None,
    max_error_rate: Annotated[float, typer.Option(help="Largest acceptable share of failed requests.")] = 0.01,
    resolution: Annotated[float, typer.Option(help="Capacity bisection stops within this share of the count.")] = 0.02,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per point.")] = 4,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes (local), or Dask workers of a LocalCluster (default: CPU count).")] = None,
    executor: Annotated[str, typer.Option(help="local (processes on this machine) or dask (Dask distributed).")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(help="A Dask scheduler address (tcp://host:8786); without it --executor dask starts a LocalCluster.")] = None,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (YYYY-MM-DD).")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the sweep as one JSON document.")] = False,
    csv_out: Annotated[bool, typer.Option("--csv", help="Print one CSV row per point.")] = False,
    uncertainty: Annotated[int, typer.Option(help="Sample the workload's ranges N times (Latin hypercube): P10/P50/P90 of the API replicas the planner needs and of the monthly bill.")] = 0,
    sensitivity: Annotated[bool, typer.Option("--sensitivity", help="Each range alone at its low and high end: a tornado of the p95 and bill swings.")] = False,
    at: Annotated[Optional[str], typer.Option("--at", help="User counts for --uncertainty and --sensitivity (default: every count swept).")] = None,
    time_limit: TimeLimit = None,
):
    """Every tier at a range of user counts: verdicts, p95, monthly bills, each tier's capacity at the SLO and the break-even points where the cheapest tier changes."""
    from capplan.forecast import RunSettings
    from capplan.model.loader import load_workload
    from capplan.report import json as jsonr
    from capplan.report import sweep as report
    from capplan.sim.executor import make_executor
    from capplan.sweep.fields import parse_vary
    from capplan.sweep.run import run_sweep, users_grid

    if json_out and csv_out:
        raise CapplanError("choose one of --json and --csv", field="--csv")
    counts = users_grid(users, points)
    at_counts = None
    if at is not None:
        try:
            at_counts = users_grid(at)
        except CapplanError as exc:
            raise CapplanError(str(exc).removeprefix("--users: "), field="--at") from None
    if uncertainty:
        from capplan.sweep.uncertainty import check_samples

        check_samples(uncertainty)
    if at is not None and not (uncertainty or sensitivity):
        raise CapplanError("goes with --uncertainty N or --sensitivity", field="--at")
    chosen = _tier_list(tiers)
    prov = _providers(providers, field="--providers")
    slo = _slo(slo_p95, slo_ttft_p95, max_error_rate)
    varied = [parse_vary(v) for v in vary or []]
    wl = load_workload(workload)
    settings = RunSettings(replications=replications, seed=seed, workers=workers)
    run_on = make_executor(executor, workers, scheduler)
    progress = _LazyProgress(len(counts) * len(chosen) * replications, "sweeping", enabled=True)
    try:
        with _working("sweeping", time_limit):
            with run_on:
                result = run_sweep(chosen, wl, counts, prov, slo, settings, varied, run_on,
                                   today=_today(today), resolution=resolution, on_done=progress.advance,
                                   uncertainty=uncertainty, sensitivity=sensitivity, at=at_counts)
    finally:
        progress.close()
    _finished()
    if json_out:
        sys.stdout.write(jsonr.dumps(report.sweep_document(result, wl.name)))
        return
    if csv_out:
        sys.stdout.write(report.sweep_csv(result))
        return
    out.print(report.capacity_table(result))
    out.print(report.break_even_table(result))
    for p in prov:
        out.print(report.grid_table(result, p))
    if result.spreads:
        out.print(report.uncertainty_table(result))
    for tornado in result.tornados:
        out.print(report.tornado_table(tornado))
    out.print(f"[dim]{result.simulations} simulations of {replications} replications (seed {seed}); each tier as "
              "defined in scenarios/ (its replicas fixed): for the sizing that meets the SLO at one count, "
              "`capplan recommend`.[/dim]")


def _json_file(path: Optional[Path], option: str) -> Optional[dict]:
    """A JSON document capplan printed (sweep, recommend, day), read for the report."""
    import json

    from capplan.files import read_text

    if path is None:
        return None
    try:
        doc = json.loads(read_text(path, field=f"{option} {path}"))
    except ValueError as exc:
        raise CapplanError(f"{path}: not JSON ({exc})", field=option) from None
    if not isinstance(doc, dict):
        raise CapplanError(f"{path}: not a JSON object", field=option)
    return doc


@app.command(epilog=_examples(["capplan report --users 3000 --out report.html",
                               "capplan day --tier tier2 --users 3000 --json > day.json && capplan report --users 3000 --day day.json",
                               "capplan sweep --users 500..20000 --json > sweep.json && capplan report --sweep sweep.json --recommend rec.json"]))
def report(
    users: Annotated[Optional[int], typer.Option(help="Registered users: the recommendation, and a sweep from N/5 to 5N around it.")] = None,
    out_file: Annotated[Path, typer.Option("--out", help="The HTML file (its charts are also written beside it as PNGs).")] = Path("report.html"),
    sweep_file: Annotated[Optional[Path], typer.Option("--sweep", help="Draw this `capplan sweep --json` document instead of running a sweep.")] = None,
    recommend_file: Annotated[Optional[Path], typer.Option("--recommend", help="Draw this `capplan recommend --json` document (with --sweep).")] = None,
    day_file: Annotated[Optional[Path], typer.Option("--day", help="Add this `capplan day --json` timeline.")] = None,
    tiers: Annotated[str, typer.Option("--tiers", help="Comma-separated tiers, or all.")] = "all",
    providers: Annotated[str, typer.Option("--providers", help="Comma-separated providers.")] = "aws,gcp,azure",
    slo_p95: Annotated[str, typer.Option("--slo-p95", help="p95 API latency SLO.")] = "2s",
    max_error_rate: Annotated[float, typer.Option(help="Largest acceptable share of failed requests.")] = 0.01,
    uncertainty: Annotated[int, typer.Option(help="Samples of the workload's ranges for the uncertainty bands (0: none).")] = 10,
    sensitivity: Annotated[bool, typer.Option("--sensitivity/--no-sensitivity", help="The tornado of the workload's ranges.")] = True,
    workload: Annotated[Optional[Path], typer.Option(help="Workload YAML.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 1,
    replications: Annotated[int, typer.Option(help="Replications per simulation.")] = 4,
    workers: Annotated[Optional[int], typer.Option(help="Worker processes, or Dask workers.")] = None,
    executor: Annotated[str, typer.Option(help="local or dask.")] = "local",
    scheduler: Annotated[Optional[str], typer.Option(help="A Dask scheduler address (with --executor dask).")] = None,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (YYYY-MM-DD).")] = None,
    time_limit: TimeLimit = None,
):
    """One self-contained HTML page with charts: p95 and TTFT against users per tier, cost against users, the recommended bill, the tornado, the uncertainty bands and a day's timeline."""
    from capplan.forecast import RunSettings
    from capplan.model.loader import load_workload
    from capplan.report.html import build_report
    from capplan.sim.executor import make_executor

    day_doc = _json_file(day_file, "--day")
    if sweep_file is not None:
        if users is not None:
            raise CapplanError("draws the sweep given: leave out --users, or --sweep to compute one", field="--users")
        sweep_doc, rec_doc = _json_file(sweep_file, "--sweep"), _json_file(recommend_file, "--recommend")
        _Run.doing = "drawing"
    else:
        if recommend_file is not None:
            raise CapplanError("goes with --sweep (without it capplan computes both)", field="--recommend")
        if users is None:
            raise CapplanError("give --users N (or --sweep FILE to draw a saved sweep)", field="--users")
        from capplan.report.assemble import assemble

        check_users(users)
        chosen = _tier_list(tiers)
        prov = _providers(providers, field="--providers")
        slo = _slo(slo_p95, None, max_error_rate)
        if uncertainty:
            from capplan.sweep.uncertainty import check_samples

            check_samples(uncertainty)
        wl = load_workload(workload)
        settings = RunSettings(replications=replications, seed=seed, workers=workers)
        run_on = make_executor(executor, workers, scheduler)
        progress = _LazyProgress(None, "simulating for the report", enabled=True)
        try:
            with _working("simulating for the report", time_limit):
                with run_on:
                    inputs = assemble(users, chosen, wl, prov, slo, settings, run_on, uncertainty, sensitivity,
                                      today=_today(today), on_done=progress.advance)
        finally:
            progress.close()
        sweep_doc, rec_doc = inputs.sweep, inputs.recommend
    _finished()   # from here a signal waits until every file is written
    written = build_report(sweep_doc, rec_doc, day_doc, out_file)
    out.print(f"wrote {written[0]} and {len(written) - 1} chart(s) beside it")


@app.command(epilog=_examples(['capplan init && capplan check']))
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example plan.")] = Path("capplan.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
):
    """Write a commented example plan file for `capplan check`."""
    from capplan.model.plan import EXAMPLE

    from capplan.files import write_text

    if path.is_dir():
        raise CapplanError("is a directory; name the plan file to write, e.g. capplan.yaml", field=str(path))
    if path.exists() and not force:
        raise CapplanError("exists; use --force to overwrite", field=str(path))
    write_text(path, EXAMPLE)
    out.print(f"wrote {path}", highlight=False)


@app.command(epilog=_examples(['capplan check capplan.yaml', 'capplan check capplan.yaml --format markdown > comment.md', 'capplan check capplan.yaml --baseline baseline.json --max-increase 10%']))
def check(
    plan: Annotated[Path, typer.Argument(help="Plan file.")] = Path("capplan.yaml"),
    format: Annotated[str, typer.Option("--format", help="table, markdown or json.")] = "table",
    baseline: Annotated[Optional[Path], typer.Option(help="An earlier `capplan check --format json` output.")] = None,
    max_increase: Annotated[Optional[str], typer.Option("--max-increase", help="Fail past this cost increase vs the baseline, e.g. 10%.")] = None,
    cache_dir: Annotated[Path, typer.Option("--cache-dir", envvar="CAPPLAN_CACHE_DIR", help="Result cache.")] = Path(".capplan-cache"),
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Always recompute.")] = False,
    today: Annotated[Optional[str], typer.Option(help="Date for price-age warnings (default: the plan's, else today).")] = None,
    time_limit: TimeLimit = None,
):
    """CI gate: exit 0 within budget and SLO, 1 if either is broken (reasons listed), 2 on bad input."""
    from capplan.check import cached_compute, check_max_increase, load_baseline, load_plan, verdict
    from capplan.model.plan import _percent
    from capplan.report import json as jsonr
    from capplan.report.markdown import check_markdown
    from capplan.report.table import check_table

    if format not in ("table", "markdown", "json"):
        raise CapplanError(f"must be table, markdown or json, got {format!r}", field="--format")
    p = load_plan(plan)
    limit = None
    if max_increase is not None:
        try:
            limit = _percent(max_increase)
        except ValueError as exc:
            raise CapplanError(str(exc), field="--max-increase") from None
        check_max_increase(limit)
    base = load_baseline(baseline, p) if baseline is not None else None
    date = _today(today) if today is not None else (p.today or _today(None))
    progress = _LazyProgress(p.replications * 5, "checking", enabled=format != "json")
    try:
        with _working(f"checking {plan}", time_limit):
            rec, cache = cached_compute(p, plan, date, None if no_cache else cache_dir, on_progress=progress.advance)
    finally:
        progress.close()
    _finished()
    doc = verdict(p, rec, base, limit)
    if format == "json":
        sys.stdout.write(jsonr.dumps(doc))
    elif format == "markdown":
        sys.stdout.write(check_markdown(doc))
    else:
        out.print(check_table(doc))
        for reason in doc["reasons"]:
            from rich.text import Text

            out.print(Text.assemble(("x", "red"), " ", reason))
        for w in doc["warnings"]:
            _warn(w)
        out.print(f"[{'green' if doc['verdict'] == 'pass' else 'red'}]{doc['verdict'].upper()}[/]")
    err.print(f"[dim]cache: {cache}[/dim]")
    raise typer.Exit(doc["exit_code"])


@app.command(epilog=_examples(["capplan calibrate --messages messages.json --out fitted.yaml",
                                "capplan calibrate --messages messages.json --access-log access.log --out fitted.yaml",
                                "capplan calibrate --prometheus http://127.0.0.1:9090 --start 2026-11-28T09:00:00Z "
                                "--end 2026-11-28T10:00:00Z --save-prometheus saved/ --out fitted.yaml",
                                "capplan calibrate --prometheus saved/ --base my-workload.yaml --out fitted.yaml",
                                "capplan simulate --users 3000 --workload fitted.yaml"]))
def calibrate(
    messages: Annotated[Optional[Path], typer.Option(help="A LibreChat messages export (mongoexport JSON lines).")] = None,
    access_log: Annotated[Optional[Path], typer.Option("--access-log", help="An nginx access log in the format `capplan render` writes.")] = None,
    prometheus: Annotated[Optional[str], typer.Option(help="A Prometheus server's URL (capplan issues the queries) or a folder of saved query_range answers, one NAME.json per query.")] = None,
    start: Annotated[Optional[str], typer.Option(help="With a live --prometheus: the range's start (RFC 3339 or unix seconds).")] = None,
    end: Annotated[Optional[str], typer.Option(help="With a live --prometheus: the range's end (default: now).")] = None,
    step: Annotated[str, typer.Option(help="With a live --prometheus: the window of the fit (e.g. 15s; at least the scrape interval).")] = "15s",
    query: Annotated[Optional[list[str]], typer.Option(help="NAME=PROMQL: your series for one of capplan's queries (repeatable). Names: cpu, requests, deltas, output_tokens, ttft_sum, ttft_count, ttft_bucket, token_rate_sum, token_rate_count, token_rate_bucket.")] = None,
    save_prometheus: Annotated[Optional[Path], typer.Option("--save-prometheus", help="Save a live server's answers in this folder (rerun later with --prometheus FOLDER).")] = None,
    base: Annotated[str, typer.Option(help="The workload the fitted numbers go over: a bundled name (librechat, reasoning, seed-limits) or a .yaml file.")] = "librechat",
    out_file: Annotated[Optional[Path], typer.Option("--out", help="Write the fitted workload here (default: print it).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite --out.")] = False,
    seed: Annotated[int, typer.Option(help="Seed of the bootstrap intervals.")] = 0,
):
    """Fit a workload from what LibreChat and its servers already record: the demand side (how often, when and how much people ask) from the messages export and the access log, CPU per request and the LLM's pace from Prometheus; a 95% interval per number."""
    import os

    from rich.table import Table

    from capplan.calibrate.accesslog import load_log
    from capplan.calibrate.messages import load_messages, message_figures
    from capplan.calibrate.workload import check_loads, rows_from, workload_text
    from capplan.files import write_text
    from capplan.limits import check_seed
    from capplan.model.loader import bundled_workloads, load_workload

    if messages is None and access_log is None and prometheus is None:
        raise CapplanError("give at least one source: --messages, --access-log and/or --prometheus", field="--messages")
    check_seed(seed)
    live = prometheus is not None and prometheus.startswith(("http://", "https://"))
    if not live:
        for name, given in (("--start", start), ("--end", end), ("--save-prometheus", save_prometheus)):
            if given is not None:
                raise CapplanError("only with a live --prometheus URL", field=name)
    if out_file is not None and out_file.exists() and not force:
        raise CapplanError("exists; use --force to overwrite", field=f"--out {out_file}")
    bundled = bundled_workloads()
    if base in bundled and not Path(base).is_file():
        base_workload, extends = load_workload(base), base
    elif base.endswith((".yaml", ".yml")):
        if not Path(base).is_file():
            raise CapplanError("no such file", field="--base")
        base_workload = load_workload(Path(base))
        # written relative to where the fitted file goes, so it loads from there
        target_dir = (out_file.parent if out_file is not None else Path(".")).resolve()
        extends = Path(os.path.relpath(Path(base).resolve(), target_dir)).as_posix()
    else:
        raise CapplanError(f"unknown workload {base!r} (bundled: {', '.join(bundled)}, or a .yaml file)", field="--base")
    figures = message_figures(load_messages(messages), seed=seed) if messages is not None else None
    log = load_log(access_log) if access_log is not None else None
    metrics = None
    if prometheus is not None:
        from capplan.calibrate.metrics import metric_figures, parse_queries
        from capplan.calibrate.prometheus import Source

        step_s = _seconds(step, "--step")
        if not 0 < step_s <= 3600:
            raise CapplanError("must be more than 0 s and at most 1 h", field="--step")
        stop = _instant(end, "--end") if end is not None else time.time()
        source = Source(prometheus, start=_instant(start, "--start") if start is not None else None,
                        end=stop if live else None, step_s=step_s, save=save_prometheus)
        metrics = metric_figures(source, parse_queries(query or []), base_workload, seed=seed)
    sources = {"messages": messages.name if messages else "", "access_log": access_log.name if access_log else ""}
    rows, missing = rows_from(base_workload, figures, log, sources, seed, metrics)
    used = ", ".join(str(p) for p in (messages, access_log, prometheus) if p is not None)
    if not rows:
        raise CapplanError("nothing could be fitted: " + "; ".join(f"{k}: {why}" for k, why in missing.items()),
                           field=used)
    header = (f"capplan calibrate from {used}\n"
              f"fitted over `{base}`; intervals are bootstrap 95% (seed {seed})")
    text = workload_text(rows, extends, f"{base_workload.name}-calibrated", header)
    check_loads(text, str(out_file or Path("fitted-workload.yaml")))
    if out_file is None:
        sys.stdout.write(text)
        return
    write_text(out_file, text, field=f"--out {out_file}")
    table = Table(title=f"{base_workload.name} default vs fitted", title_justify="left")
    for col in ("workload key", "default", "fitted", "95% interval", "based on"):
        table.add_column(col, justify="right" if col in ("default", "fitted") else "left")
    for row in rows:
        shape = f" (cv {row.cv:.2f})" if row.cv is not None else ""
        table.add_row(row.key, f"{row.default:.4g}", f"{row.fitted.value:.4g}{shape}",
                      f"{row.fitted.low:.4g}-{row.fitted.high:.4g}", row.basis)
    out.print(table)
    for key, why in missing.items():
        _warn(f"{key}: not fitted ({why}); {base_workload.name}'s value kept")
    out.print(f"wrote {out_file}; use it with: capplan simulate --users N --workload {out_file}", highlight=False)


def _instant(text: str, field: str) -> float:
    """Unix seconds from a number or an RFC 3339 time (a bare date-time is UTC)."""
    import datetime as dt
    import math

    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds) or seconds < 0:
            raise CapplanError(f"{text!r} is not a time", field=field)
        return seconds
    try:
        when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise CapplanError(f"{text!r} is neither unix seconds nor an RFC 3339 time (2026-11-28T09:00:00Z)",
                           field=field) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return when.timestamp()


from capplan.cli_prices import app as _prices_app  # noqa: E402  (`capplan prices refresh`)

app.add_typer(_prices_app, name="prices")

workload_app = typer.Typer(no_args_is_help=True, help="Workloads: the traffic and service times capplan simulates.")
app.add_typer(workload_app, name="workload")


@workload_app.command("show", epilog=_examples(["capplan workload show > my-workload.yaml",
                                                 "capplan simulate --users 3000 --workload my-workload.yaml"]))
def workload_show(
    name: Annotated[str, typer.Argument(help="A bundled workload (librechat, reasoning, seed-limits).")] = "librechat",
):
    """Print a bundled workload file, comments and sources included: the starting point for your own."""
    from capplan.files import read_text
    from capplan.model.loader import bundled_workloads

    bundled = bundled_workloads()
    if name not in bundled:
        raise CapplanError(f"unknown workload {name!r} (bundled: {', '.join(bundled)})", field="NAME")
    sys.stdout.write(read_text(bundled[name]))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _fail(message: str) -> None:
    err.print(f"error: {_one_line(message)}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(2)


def _stopped(what: str, code: int) -> None:
    """The run was stopped (a signal, --time-limit): one line saying what was cut short."""
    if _Run.done:
        message = f"{what} after the output was complete"
    elif _Run.doing is not None:
        message = f"{what} while {_Run.doing}; nothing was written"
    else:
        message = f"{what}; nothing was written"
    err.print(f"error: {_one_line(message)}", highlight=False, markup=False, soft_wrap=True)
    sys.exit(code)


def _usage_message(exc: UsageError) -> str:
    """Typer's usage errors as ``--option: what is wrong (see 'capplan cmd --help')``."""
    param = getattr(exc, "param", None)
    opts = getattr(param, "opts", None) or []
    name = max(opts, key=len) if opts else getattr(param, "name", None)
    message = exc.format_message() if not isinstance(exc, typer.BadParameter) else exc.message
    if isinstance(exc, MissingParameter):
        message = "required, not given"
    elif isinstance(exc, typer.BadParameter) and message.startswith("Input should be a valid "):
        kind = message[len("Input should be a valid "):].split(",")[0]
        message = f"must be {'an' if kind[0] in 'aeiou' else 'a'} {kind}"
    hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
    text = f"{name}: {message}" if name and not message.startswith(("No such option", "Got unexpected")) else message
    return text.rstrip(".") + hint


def main() -> None:
    """The entry point: every user-facing failure is one ``error:`` line on stderr and exit code 2.

    Typer runs in non-standalone mode so usage errors (a non-integer, a missing or unknown option)
    come back as exceptions instead of Typer's boxed message; the library's CapplanError and
    pydantic's ValidationError name the field; an OSError that reached here without a path-aware
    wrapper still names its file. Anything else is a bug and keeps its traceback.
    """
    from capplan.files import os_error_message

    _Run.doing, _Run.done = None, False
    try:
        with stop.handling_signals():
            try:
                code = app(standalone_mode=False, prog_name="capplan")
            except BaseException as exc:
                _end_output(exc)
                raise
            _end_output(None)
    except stop.Interrupted as exc:
        _stopped(f"interrupted by {exc.name}", exc.exit_code)
    except stop.TimeLimitReached as exc:
        _stopped(f"{exc.label} reached", 2)
    except NoArgsIsHelpError as exc:
        print(exc.ctx.get_help() if exc.ctx else "")
        sys.exit(2)
    except UsageError as exc:
        _fail(_usage_message(exc))
    except typer.Abort:
        _fail("aborted")
    except CapplanError as exc:
        _fail(str(exc))
    except ValidationError as exc:
        from capplan.model.loader import validation_message

        _fail(validation_message(exc, "input"))
    except BrokenPipeError:
        sys.stderr = None  # the reader went away (e.g. `| head`): nothing left to say
        sys.exit(1)
    except OSError as exc:
        _fail(f"{exc.filename or 'file'}: {os_error_message(exc, 'access')}")
    except MemoryError:
        _fail("out of memory: lower --users, --duration or --replications (see the README's Limits)")
    sys.exit(code or 0)


if __name__ == "__main__":
    main()
