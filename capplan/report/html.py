"""``capplan report``: one self-contained HTML file, its charts also written as PNGs beside it.

:func:`build_report` reads the JSON documents other commands print (``capplan sweep --json``, and
optionally ``capplan recommend --json`` and ``capplan day --json``), draws the charts
(:mod:`capplan.report.charts`, matplotlib) and renders ``templates/report/report.html.j2``. Every
chart is embedded as a ``data:`` URI and the page carries a Content-Security-Policy that allows
nothing else to load: it opens offline, from a file, with no CDN and no network. A chart whose data
is missing is left out and the page says why, in one line. Output is deterministic: the same
documents give byte-identical files (no clock, no randomness, no matplotlib version stamp).
"""

from __future__ import annotations

import base64
import json
import struct
from decimal import Decimal
from functools import lru_cache, partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import jinja2

from capplan import __version__
from capplan.data import data_dir
from capplan.day.run import violates
from capplan.errors import CapplanError
from capplan.files import ensure_dir, write_atomic
from capplan.report.money import usd

TEMPLATE = "report/report.html.j2"

#: The charts in the page's order: key (the PNG is ``<stem>-<key>.png``) and heading.
CHARTS: tuple[tuple[str, str], ...] = (
    ("p95", "API p95 latency against users"),
    ("ttft", "Time to first token against users"),
    ("cost", "Monthly cost against users"),
    ("bill", "The recommended plan's bill"),
    ("tornado", "Sensitivity (tornado)"),
    ("uncertainty", "Uncertainty bands"),
    ("day", "A day with the autoscalers"),
)


def build_report(sweep: dict, recommend: dict | None, day: dict | None, out: Path) -> list[Path]:
    """Write the report to ``out`` (the .html) and each chart as ``<stem>-<chart>.png`` beside it.

    ``sweep`` is the document ``capplan sweep --json`` prints; ``recommend`` (``capplan recommend
    --json``) adds the stacked bill of the winner, ``day`` (``capplan day --json``) the timeline. Each
    file is written atomically (the PNGs first, the HTML last). Returns the paths written, the HTML
    first. A PNG of a chart left out this time is not touched.
    """
    try:
        from capplan.report import charts
    except ImportError as exc:  # matplotlib is the optional extra 'report'
        raise CapplanError(f"the HTML report needs matplotlib ({exc}); install it with: pip install 'capplan[report]'",
                           field="report") from None
    out = Path(out)
    if out.is_dir():
        raise CapplanError("is a directory, expected the report's .html file", field=str(out))
    _check_kind(sweep)
    drawn: dict[str, tuple[bytes, str]] = {}
    omitted: dict[str, str] = {}
    builders: dict[str, Callable[[], tuple[Callable[[], bytes], str] | str]] = {
        "p95": lambda: _p95(charts, sweep),
        "ttft": lambda: _ttft(charts, sweep),
        "cost": lambda: _cost(charts, sweep),
        "bill": lambda: _bill(charts, recommend),
        "tornado": lambda: _tornado(charts, sweep, recommend),
        "uncertainty": lambda: _uncertainty(charts, sweep),
        "day": lambda: _day(charts, day),
    }
    context = _context(sweep, recommend, day)
    planned = {}
    for key, _ in CHARTS:   # read every document before drawing anything: a bad one fails fast
        source = "recommend" if key == "bill" else "day" if key == "day" else "sweep"
        with _reading(source):
            planned[key] = builders[key]()
    for key, result in planned.items():
        if isinstance(result, str):
            omitted[key] = result
        else:
            draw, caption = result
            drawn[key] = (draw(), caption)

    ensure_dir(out.parent, field=str(out.parent))
    written: list[Path] = []
    page: list[dict[str, Any]] = []
    for key, heading in CHARTS:
        if key in omitted:
            page.append({"key": key, "heading": heading, "omitted": omitted[key]})
            continue
        png, caption = drawn[key]
        path = out.with_name(f"{out.stem}-{key}.png")
        write_atomic(path, png)
        written.append(path)
        width, height = png_size(png)
        page.append({"key": key, "heading": heading, "omitted": None, "caption": caption, "file": path.name,
                     "alt": f"Chart: {heading}", "width": width, "height": height,
                     "src": "data:image/png;base64," + base64.b64encode(png).decode("ascii")})
    html = _environment().get_template(TEMPLATE).render(
        context, charts=page, chart_count=sum(1 for c in page if not c["omitted"]))
    write_atomic(out, html)
    return [out, *written]


def png_size(png: bytes) -> tuple[int, int]:
    """Width and height in pixels, from the PNG's IHDR chunk."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


@lru_cache(maxsize=2)
def _environment_for(folder: str) -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(folder), undefined=jinja2.StrictUndefined,
                              autoescape=True, keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True)


def _environment() -> jinja2.Environment:
    return _environment_for(str(data_dir("templates")))


class _reading:
    """Turn a missing or mistyped field of an input document into one CapplanError naming the document."""

    def __init__(self, what: str):
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, exc, tb) -> bool:
        if kind is not None and issubclass(kind, (KeyError, TypeError, ValueError, IndexError, AttributeError,
                                                   ArithmeticError)):
            detail = f"missing field {exc}" if kind is KeyError else f"{kind.__name__}: {exc}"
            raise CapplanError(f"not a document capplan {self.what} --json writes ({detail})",
                               field=self.what) from exc
        return False


def _check_kind(sweep: Any) -> None:
    if not isinstance(sweep, dict) or sweep.get("kind") != "sweep":
        raise CapplanError("not a sweep document (expected the JSON `capplan sweep --json` prints, \"kind\": \"sweep\")",
                           field="sweep")


# -- reading the documents ---------------------------------------------------------------------------

def _vary_key(vary: dict | None) -> str:
    return json.dumps(vary or {}, sort_keys=True)


def _vary_text(vary: dict | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted((vary or {}).items()))


def _money(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def _seconds(value: float | None) -> str:
    if value is None:
        return "none"
    return f"{value * 1000:.0f} ms" if value < 0.1 else f"{value:g} s"


def _share(value: float | None) -> str:
    return "none" if value is None else f"{value:.2%}".replace(".00%", "%")


def _line_keys(sweep: dict) -> list[tuple[str, str]]:
    """(tier, vary key) of every line, tiers in the sweep's order, variants in order of appearance."""
    order = {t: i for i, t in enumerate(sweep["tiers"])}
    keys = list(dict.fromkeys((p["tier"], _vary_key(p.get("vary"))) for p in sweep["points"]))
    variants = list(dict.fromkeys(v for _, v in keys))
    return sorted(keys, key=lambda k: (order.get(k[0], len(order)), k[0], variants.index(k[1])))


def _latency_lines(sweep: dict, field: str) -> list[dict]:
    keys = _line_keys(sweep)
    tiers = list(dict.fromkeys([*sweep["tiers"], *(t for t, _ in keys)]))
    variants = list(dict.fromkeys(v for _, v in keys))
    lines = []
    for tier, vkey in keys:
        pts = [p for p in sweep["points"] if p["tier"] == tier and _vary_key(p.get("vary")) == vkey]
        vary = json.loads(vkey)
        lines.append({
            "label": f"{tier} ({_vary_text(vary)})" if vary else tier,
            "color": tiers.index(tier), "dash": variants.index(vkey),
            "points": [(int(p["users"]), p["verdict"],
                        None if p.get(field) is None else tuple(float(x) for x in p[field]),
                        bool(p.get("meets_slo", True))) for p in pts],
        })
    return lines


def _p95(charts, sweep: dict) -> tuple[Callable[[], bytes], str] | str:
    if not sweep["points"]:
        return "the sweep has no points"
    lines = _latency_lines(sweep, "api_p95_s")
    slo = sweep["slo"].get("p95_s")
    draw = partial(charts.latency_chart, lines, slo,
                   title=f"API p95 latency against registered users ({sweep['workload']})", ylabel="API p95 latency")
    caption = (f"The API's p95 latency at each swept user count, one line per tier, the band its 95% confidence "
               f"interval over {sweep['replications']} replications; the dashed red line is the SLO "
               f"({_seconds(slo)}). The strip below gives each simulation's verdict: an unstable one (its queue "
               f"keeps growing) has no p95, so the line stops there and the strip marks the region \"unstable\".")
    return draw, caption


def _ttft(charts, sweep: dict) -> tuple[Callable[[], bytes], str] | str:
    lines = [line for line in _latency_lines(sweep, "ttft_p95_s") if any(p[2] for p in line["points"])]
    if not lines:
        return "no tier has a time-to-first-token figure in the sweep (no streamed LLM answers measured)"
    skipped = [t for t in dict.fromkeys(p["tier"] for p in sweep["points"])
               if not any(line["label"].split(" (")[0] == t for line in lines)]
    slo = sweep["slo"].get("ttft_p95_s")
    draw = partial(charts.latency_chart, lines, slo, title="Time to first token (p95) against registered users",
                   ylabel="TTFT p95")
    caption = ("The p95 time to the first streamed token at each swept user count, one line per tier with its "
               "95% confidence band; " + (f"the dashed red line is the TTFT SLO ({_seconds(slo)})" if slo else
                                          "no TTFT SLO is set, so no line")
               + ". Unstable simulations have no figure and are marked in the strip."
               + (f" Left out (no TTFT): {', '.join(skipped)}." if skipped else ""))
    return draw, caption


def _cost(charts, sweep: dict) -> tuple[Callable[[], bytes], str] | str:
    rows = sweep.get("cheapest") or []
    if not rows:
        return "the sweep names no cheapest tier at any user count"
    providers = list(dict.fromkeys([*sweep["providers"], *(r["provider"] for r in rows)]))
    variants = list(dict.fromkeys(_vary_key(r.get("vary")) for r in rows))
    lines = []
    for provider in providers:
        for vkey in variants:
            pts = [r for r in rows if r["provider"] == provider and _vary_key(r.get("vary")) == vkey]
            if not pts:
                continue
            vary = json.loads(vkey)
            lines.append({"label": f"{provider} ({_vary_text(vary)})" if vary else provider,
                          "color": providers.index(provider), "dash": variants.index(vkey),
                          "points": [(int(r["users"]), None if r.get("monthly_usd") is None or r.get("tier") is None
                                      else float(Decimal(str(r["monthly_usd"]))), r.get("tier")) for r in pts]})
    marks: dict[tuple, list[str]] = {}
    for b in sweep.get("break_even") or []:
        if b.get("users") is None:
            continue
        why = b.get("why") or ""
        # capacity: the cheaper tier holds up to ``users``; cost: the bills cross between users and to_users
        end = None if why == "capacity" or b.get("to_users") is None else int(b["to_users"])
        key = (int(b["users"]), end or 0, b["from"], b.get("to") or "", why, _vary_text(b.get("vary")))
        marks.setdefault(key, []).append(b["provider"])
    break_even = []
    for (users, end, frm, to, why, vary), who in sorted(marks.items()):
        detail = "; ".join(x for x in (why, ", ".join(who), vary) if x)
        break_even.append({"users": users, "to_users": end or None,
                           "label": f"{users:,}: {frm} \u2192 {to or 'no tier'} ({detail})"})
    draw = partial(charts.cost_chart, lines, break_even, title="Monthly cost of the cheapest tier meeting the SLO")
    caption = ("Monthly infrastructure cost against registered users, one line per provider, each point the "
               "cheapest tier that meets the SLO at that count (the marker says which tier; an x on the axis: no "
               "tier does). The break-evens, where the cheapest tier changes, are marked with the reason and the "
               "providers: a dotted line where the cheaper tier stops meeting the SLO (capacity), a grey band "
               "where the two tiers' bills cross (cost).")
    return draw, caption


def _bill(charts, recommend: dict | None) -> tuple[Callable[[], bytes], str] | str:
    if recommend is None:
        return "no recommendation given (the output of capplan recommend --json)"
    win = recommend.get("chosen")
    if not win:
        return f"no plan meets the SLO at {int(recommend['users']):,} users, so there is no bill to show"

    def parts(option: dict) -> list[tuple[str, float]]:
        sums: dict[str, Decimal] = {}
        for line in option["bill"]["lines"]:
            if line["component"] != "llm":
                sums[line["component"]] = sums.get(line["component"], Decimal(0)) + Decimal(str(line["monthly_usd"]))
        return [(name, float(v)) for name, v in sums.items()]

    bars = [{"label": f"{win['provider']}: {win['tier']} (recommended)", "parts": parts(win)}]
    for provider, option in (recommend.get("best_per_provider") or {}).items():
        if provider != win["provider"] and option and option.get("bill"):
            bars.append({"label": f"{provider}: {option['tier']} (its best)", "parts": parts(option)})
    bill = win["bill"]
    llm = _money(bill.get("llm_usd")) or Decimal(0)
    whole = [("infrastructure", float(Decimal(str(bill["infrastructure_usd"])))),
             ("LLM tokens", float(llm))] if llm > 0 else None
    draw = partial(charts.bill_chart, bars, whole,
                   title=f"Monthly bill at {int(recommend['users']):,} users, by component")
    caption = (f"The recommended plan ({win['tier']} on {win['provider']}, {usd(bill['infrastructure_usd'])} a month "
               f"of infrastructure) stacked by bill component, above the best plan on each other provider for "
               f"comparison." + (f" Right: its whole bill, {usd(bill['total_usd'])} with {usd(llm)} of LLM tokens."
                                 if whole else ""))
    return draw, caption


def _pair(values: Any, read: Callable[[Any], float]) -> tuple[float, float] | None:
    """(at the low end, at the high end), or None when either end has no figure."""
    if not values or values[0] is None or values[1] is None:
        return None
    return read(values[0]), read(values[1])


def _usd_float(value: Any) -> float:
    return float(Decimal(str(value)))


def _tornado(charts, sweep: dict, recommend: dict | None) -> tuple[Callable[[], bytes], str] | str:
    groups = sweep.get("sensitivity")
    if not groups:
        return "no uncertain inputs in the workload, so nothing to vary one at a time"
    # one group per tier, user count, variant and provider: the recommended provider's if there, else the first
    chosen = ((recommend or {}).get("chosen") or {}).get("provider")
    group = next((g for g in groups if g.get("provider") == chosen), groups[0])
    if not group["rows"]:
        return "the sensitivity run has no rows"
    provider = group["provider"]
    data = [{"label": r["input"], "low": float(r["low"]), "high": float(r["high"]), "unit": r.get("unit") or "",
             "p95": _pair(r.get("p95_s"), float), "cost": _pair(r.get("monthly_usd"), _usd_float)}
            for r in group["rows"]]
    where = f"{group['tier']} at {int(group['users']):,} users" + (
        f" ({_vary_text(group.get('vary'))})" if group.get("vary") else "")
    draw = partial(charts.tornado_chart, data, cost_label=f"monthly cost on {provider}",
                   title=f"How far each uncertain input moves the results: {where}")
    caption = (f"Each uncertain input moved alone from its low to its high end, the others as given, for {where}: "
               f"the bar spans the API p95 (left) and the monthly cost on {provider} (right) at the two ends (open "
               "circle: the input's low end, filled: its high end); the widest p95 swing is on top."
               + (f" One of {len(groups)} such runs." if len(groups) > 1 else ""))
    return draw, caption


def _uncertainty(charts, sweep: dict) -> tuple[Callable[[], bytes], str] | str:
    u = sweep.get("uncertainty")
    if not u:
        return "no uncertain inputs in the workload, so no bands to draw"
    rows = u.get("by_users") or []
    if not rows:
        return "the uncertainty run left no user count to show"
    providers = list(dict.fromkeys([*sweep["providers"], *(p for r in rows for p in r.get("monthly_usd") or {})]))
    variants = list(dict.fromkeys(_vary_key(r.get("vary")) for r in rows))

    def label(name: str, vkey: str) -> str:
        vary = json.loads(vkey)
        return f"{name} ({_vary_text(vary)})" if vary else name

    def spread(pcts: dict | None, read: Callable[[Any], float]) -> tuple[float, float, float] | None:
        if not pcts or any(pcts.get(q) is None for q in ("p10", "p50", "p90")):
            return None     # no sizing met the SLO in enough samples for these percentiles
        return read(pcts["p10"]), read(pcts["p50"]), read(pcts["p90"])

    cost_lines, replica_lines = [], []
    for vkey in variants:
        mine = [r for r in rows if _vary_key(r.get("vary")) == vkey]
        for provider in providers:
            pts = [(int(r["users"]), *q, r["tier"]) for r in mine
                   if (q := spread((r.get("monthly_usd") or {}).get(provider), _usd_float))]
            if pts:
                cost_lines.append({"label": label(provider, vkey), "color": providers.index(provider),
                                   "points": pts})
        pts = [(int(r["users"]), *q, r["tier"]) for r in mine if (q := spread(r.get("replicas"), float))]
        if pts:
            replica_lines.append({"label": label("API replicas", vkey), "color": len(providers) + variants.index(vkey),
                                  "points": pts})
    if not cost_lines and not replica_lines:
        return "no sample of the uncertainty run could be sized to meet the SLO"
    draw = partial(charts.uncertainty_chart, cost_lines, replica_lines,
                   title=f"Spread over {u['samples']} samples of the uncertain inputs")
    names = ", ".join(i["path"] for i in u.get("inputs") or [])
    infeasible = sum(int(r.get("infeasible") or 0) for r in rows)
    caption = (f"P10 to P90 (band) and P50 (line) of the monthly cost per provider (left) and of the API replicas "
               f"(right) over {u['samples']} samples of the uncertain inputs{' (' + names + ')' if names else ''}, "
               "each sample sized by the planner; the marker says which tier."
               + (f" {infeasible} sample(s) in all could not be sized to meet the SLO and are not in the bands."
                  if infeasible else ""))
    return draw, caption


def _day(charts, day: dict | None) -> tuple[Callable[[], bytes], str] | str:
    if day is None:
        return "no capplan day run given (the output of capplan day --json)"
    minutes = day["timeline"]
    if not minutes:
        return "the day run has an empty timeline"
    slo_s = day["slo"]["p95_s"]
    error_share = day["slo"]["max_error_rate"]
    bad = [violates(SimpleNamespace(api_p95_s=m["api_p95_s"], failed=m["failed"], requests=m["requests"]),
                    slo_s, error_share) for m in minutes]
    draw = partial(charts.timeline_chart, [m["t"] for m in minutes], [m["users"] for m in minutes],
                   [m["pods_ready"] for m in minutes], [m["nodes"] for m in minutes],
                   [m["api_p95_s"] for m in minutes], bad, slo_s,
                   title=f"capplan day: {day['tier']}, {int(day['users']):,} users, profile {day['profile']}")
    caption = (f"Minute by minute through the {day['profile']} profile on {day['tier']} for {int(day['users']):,} "
               "registered users, with the HPA and the cluster autoscaler at work: chat users in a session, Ready "
               "API pods and app nodes, and the API p95 against the SLO. Shaded minutes break the SLO (p95 over "
               f"{_seconds(slo_s)} or more than {_share(error_share)} of requests failing): {sum(bad)} of "
               f"{len(minutes)}.")
    return draw, caption


# -- the page ----------------------------------------------------------------------------------------

def _users_text(value: Any) -> str:
    return "-" if value is None else f"{int(value):,}"


def _capacity_row(c: dict) -> dict[str, str]:
    """``users``: the largest count known to meet the SLO, ``bracket``: [that, the smallest known not to]
    (None: even the largest swept meets it, status "above"; users None: not even the smallest, "below")."""
    holds, fails = (list(c.get("bracket") or []) + [None, None])[:2]
    holds = c.get("users", holds)
    status = c.get("status") or ("below" if holds is None else "above" if fails is None else "found")
    if status == "below":
        text = f"fewer than {_users_text(fails)}" if fails is not None else "-"
    elif status == "above":
        text = f"at least {_users_text(holds)} (the largest swept)"
    else:
        text = _users_text(holds)
    probes = c.get("probes") or []
    return {"tier": c["tier"], "vary": _vary_text(c.get("vary")), "holds": text, "fails": _users_text(fails),
            "screen": _users_text(None if c.get("screen_users") is None else round(c["screen_users"])),
            "probes": f"{len(probes)} runs" if probes else "-"}


def _break_even_row(b: dict) -> dict[str, str]:
    users, to_users, why = b.get("users"), b.get("to_users"), b.get("why") or ""
    if why == "capacity":
        reason = f"{b['from']} holds up to {_users_text(users)}"
    elif why == "cost" and to_users is not None:
        reason = f"the bills cross between {_users_text(users)} and {_users_text(to_users)}"
    else:
        reason = why
    where = _users_text(users) if to_users in (None, users) else f"{_users_text(users)} to {_users_text(to_users)}"
    return {"provider": b["provider"], "vary": _vary_text(b.get("vary")), "users": where,
            "change": f"{b['from']} \u2192 {b.get('to') or 'no tier meets the SLO'}", "why": reason}


def _context(sweep: dict, recommend: dict | None, day: dict | None) -> dict[str, Any]:
    """Everything on the page but the charts (read before anything is drawn or written)."""
    with _reading("sweep"):
        slo = sweep["slo"]
        inputs = [
            ("users swept", ", ".join(f"{int(u):,}" for u in sweep["users"])),
            ("workload", str(sweep["workload"])),
            ("tiers", ", ".join(sweep["tiers"])),
            ("providers", ", ".join(sweep["providers"])),
            ("seed", str(sweep["seed"])),
            ("replications", str(sweep["replications"])),
            ("SLO", f"API p95 at most {_seconds(slo.get('p95_s'))}; "
                    + (f"TTFT p95 at most {_seconds(slo['ttft_p95_s'])}; " if slo.get("ttft_p95_s") else "no TTFT SLO; ")
                    + f"at most {_share(slo.get('max_error_rate'))} of requests failing"),
        ]
        if sweep.get("vary"):
            inputs.append(("varied", "; ".join(f"{k}: {', '.join(map(str, v))}"
                                               for k, v in sorted(sweep["vary"].items()))))
        capacity = [_capacity_row(c) for c in sweep.get("capacity") or []]
        break_even = [_break_even_row(b) for b in sweep.get("break_even") or []]
        title = f"capplan report: {sweep['workload']}"
    if recommend is not None:
        with _reading("recommend"):
            users = int(recommend["users"])
            win = recommend.get("chosen")
            inputs.insert(0, ("users", f"{users:,} (the recommendation)"))
            inputs.append(("recommended", "no plan meets the SLO" if not win else
                           f"{win['tier']} on {win['provider']}: {usd(win['monthly_usd'])} a month infrastructure, "
                           f"{usd(win.get('monthly_with_llm_usd'))} with LLM tokens"
                           + (f"; {win['why']}" if win.get("why") else "")))
            title += f", {users:,} users"
    if day is not None:
        with _reading("day"):
            inputs.append(("day", f"{day['tier']}, {int(day['users']):,} users, profile {day['profile']}: "
                                  f"{day['slo']['violation_minutes']} SLO-violation minutes; "
                                  f"{usd(day['cost']['autoscaled_monthly_usd'])} a month autoscaled, "
                                  f"{usd(day['cost']['fixed_monthly_usd'])} fixed at peak size"))
    return {
        "encoding": "utf-8",
        "title": title,
        "version": sweep.get("capplan") or __version__,
        "inputs": inputs,
        "capacity": capacity,
        "has_vary": bool(sweep.get("vary")),
        "break_even": break_even,
    }
