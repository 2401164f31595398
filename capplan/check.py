"""The CI gate: a plan in, a verdict (pass/fail with every reason), deltas against a baseline out.

The expensive part (recommend: simulations and pricing) is cached under a key that hashes every
input: the plan file, the workload, every bundled scenario and price file, capplan's version, the
seed and the date used for price-age warnings. The verdict is recomputed from the cached result on
every run (it is cheap), so a new baseline or --max-increase never needs a new simulation.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ValidationError

from capplan import __version__
from capplan.data import data_dir
from capplan.errors import CapplanError
from capplan.files import ensure_dir, read_text, replace_atomically, user_path
from capplan.model.loader import _validate, read_yaml, validation_message
from capplan.report.money import usd

EXIT_PASS, EXIT_FAIL, EXIT_BAD_INPUT = 0, 1, 2
DOC_SCHEMA = 2   # bumped when the cached recommend document changes shape (part of the cache key)


def _money(value: object) -> Decimal:
    """A finite amount of money from a JSON string or number (a hand-edited baseline may hold anything)."""
    try:
        amount = Decimal(str(value)) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
    except ArithmeticError:
        amount = None
    if amount is None or not amount.is_finite():
        raise ValueError(f"not an amount of money: {value!r}")
    return amount


Money = Annotated[Decimal, BeforeValidator(_money)]


def load_plan(path: Path):
    from capplan.model.plan import Plan

    return _validate(Plan, read_yaml(path), str(path))


def _files_digest(h, folder: Path) -> None:
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(folder)).encode())
        h.update(path.read_bytes())


def cache_key(plan_path: Path, workload_path: Path | None, today: dt.date, profile_path: Path | None = None) -> str:
    h = hashlib.sha256()
    h.update(f"capplan {__version__} doc-schema {DOC_SCHEMA}\n".encode())
    h.update(read_text(plan_path).encode())
    if workload_path is not None:
        h.update(read_text(workload_path, field=f"{plan_path}: workload {workload_path}").encode())
    if profile_path is not None:   # the day's own profile file (a bundled one is among the scenarios)
        h.update(read_text(profile_path, field=f"{plan_path}: day.profile {profile_path}").encode())
    _files_digest(h, data_dir("scenarios"))
    _files_digest(h, data_dir("pricing"))
    h.update(today.isoformat().encode())
    return h.hexdigest()


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_atomically(path, text)


def compute(plan, plan_path: Path, today: dt.date, on_progress=None) -> dict[str, Any]:
    """Run recommend for the plan's forecast users and return its JSON document."""
    from capplan.cost.prices import load_price_book
    from capplan.forecast import RunSettings
    from capplan.model.loader import bundled_tier_names, load_tier, load_workload
    from capplan.planner import SLO, recommend
    from capplan.report.json import recommend_document

    for provider, region in plan.regions.items():
        book = load_price_book(provider)
        if region != book.region:
            raise CapplanError(f"no {provider} prices for {region!r}: pricing/{provider}.yaml covers {book.region}",
                               field=f"{plan_path}: regions.{provider}")
    try:
        tiers = [load_tier(n) for n in bundled_tier_names()] if plan.tier == "auto" else [load_tier(plan.tier)]
    except CapplanError as exc:
        raise CapplanError(str(exc).removeprefix("--tier: "), field=f"{plan_path}: tier") from None
    workload = load_workload(plan.workload_path(plan_path), plan.workload_overrides)
    slo = SLO(p95_s=plan.slo.p95, ttft_p95_s=plan.slo.ttft_p95, max_error_rate=plan.slo.max_error_rate)
    from capplan.deploy import DeployOptions

    options = DeployOptions(require_ha=plan.require_ha, mongodb=plan.mongodb, redis=plan.redis, search=plan.search,
                            aks_tier=plan.aks_tier)
    settings = RunSettings(replications=plan.replications, seed=plan.seed)
    rec = recommend(tiers, workload, plan.users.forecast, list(plan.providers), slo, plan.require_ha, settings,
                    today=today, on_progress=on_progress, options=options, survive=plan.survive)
    doc = recommend_document(rec, plan.seed)
    if plan.day is not None:
        doc["day"] = _day(plan, plan_path, rec, workload, slo, settings, options, today)
    return doc


def _day(plan, plan_path: Path, rec, workload, slo, settings, options, today) -> dict[str, Any]:
    """The chosen tier and provider through the plan's day (what `capplan day` prints as JSON, summed up)."""
    from capplan.day.plan import plan_day
    from capplan.model.loader import load_profile

    try:
        profile = load_profile(plan.day.profile_spec(plan_path))
    except CapplanError as exc:
        raise CapplanError(str(exc).removeprefix("--profile: "), field=f"{plan_path}: day.profile") from None
    winner = rec.winner
    if winner is None:
        return {"profile": profile.name, "simulated": False, "why": "no tier meets the SLO"}
    if winner.deployment.platform != "kubernetes":
        return {"profile": profile.name, "simulated": False,
                "why": f"{winner.plan.tier.name} runs on Docker Compose: no autoscaler to run a day through"}
    day = plan_day(winner.plan.tier, workload, plan.users.forecast, winner.provider, profile, slo,
                   plan.day.min_replicas, plan.require_ha, settings, options, today=today, fixed=winner)
    r = day.result
    return {"profile": profile.name, "simulated": True, "minutes": len(r.minutes),
            "slo_violation_minutes": r.slo_violation_minutes(slo.p95_s, slo.max_error_rate),
            "hpa_min": r.hpa_min, "hpa_max": r.hpa_max,
            "pods_max": max(m.pods_ready for m in r.minutes), "node_hours": f"{r.node_hours():.3f}",
            "fixed_monthly_usd": f"{day.cost.fixed_usd:.2f}", "autoscaled_monthly_usd": f"{day.cost.autoscaled_usd:.2f}"}


def cached_compute(plan, plan_path: Path, today: dt.date, cache_dir: Path | None, on_progress=None,
                   write: bool = True) -> tuple[dict[str, Any], str]:
    """(recommend document, "hit" | "miss" | "off"). ``write=False`` reads the cache but leaves it
    as it was (a dry run changes nothing on disk)."""
    if cache_dir is None:
        return compute(plan, plan_path, today, on_progress), "off"
    profile = None
    if plan.day is not None and Path(plan.day.profile_spec(plan_path)).suffix.lower() in (".yaml", ".yml", ".csv"):
        profile = Path(plan.day.profile_spec(plan_path))
    key = cache_key(plan_path, plan.workload_path(plan_path), today, profile)
    if write:  # before the expensive part: a file where the folder should be fails now, not after it
        ensure_dir(cache_dir, field=f"--cache-dir {cache_dir}")
    path = Path(cache_dir) / f"{key}.json"
    if path.is_file():
        try:
            return json.loads(path.read_text(encoding="utf-8")), "hit"
        except (OSError, ValueError):
            pass  # a damaged cache entry is recomputed
    doc = compute(plan, plan_path, today, on_progress)
    if write:
        with user_path(path, "write the cache", field=f"--cache-dir {cache_dir}"):
            _atomic_write(path, json.dumps(doc, indent=1))
    return doc, "miss" if write else "miss (not written: dry run)"


def _usd(value: Decimal) -> str:
    return str(value.quantize(Decimal("0.01")))


def _line_costs(option: dict[str, Any], scope: str) -> dict[str, Decimal]:
    lines: dict[str, Decimal] = {}
    for line in option["bill"]["lines"]:
        if scope == "infrastructure" and line["component"] == "llm":
            continue
        key = f"{line['component']} ({line['price_row']})"
        lines[key] = lines.get(key, Decimal(0)) + Decimal(line.get("monthly_usd_exact", line["monthly_usd"]))
    return lines


def _cents_summing_to(values: dict[str, Decimal], total: Decimal) -> dict[str, Decimal]:
    """Each value in cents such that they add up to ``total`` rounded (largest remainder): the PR table's
    line deltas then sum to its total delta. Plain rounding when the values do not add up to ``total``."""
    cent = Decimal("0.01")
    floors = {k: (v / cent).to_integral_value(rounding="ROUND_FLOOR") for k, v in values.items()}
    target = (total / cent).to_integral_value(rounding="ROUND_HALF_EVEN")
    missing = int(target - sum(floors.values(), Decimal(0)))
    if not 0 <= missing <= len(values):
        return {k: v.quantize(cent) for k, v in values.items()}
    order = sorted(values, key=lambda k: (-(values[k] / cent - floors[k]), k))
    return {k: (floors[k] + (1 if k in order[:missing] else 0)) * cent for k in values}


def _monthly(option: dict[str, Any], purchase: str, scope: str) -> Decimal:
    total = next(Decimal(o["monthly_usd"]) for o in option["purchase_options"] if o["purchase"] == purchase)
    return total if scope == "total" else total - Decimal(option["bill"]["llm_usd"])


def verdict(plan, rec: dict[str, Any], baseline: dict[str, Any] | None = None,
            max_increase_pct: float | None = None) -> dict[str, Any]:
    """The check document: verdict, reasons, cost and SLO tables with deltas, warnings."""
    reasons: list[str] = []
    chosen = rec.get("chosen")
    max_increase = max_increase_pct if max_increase_pct is not None else plan.budget.max_increase_pct
    doc: dict[str, Any] = {
        "capplan_version": __version__, "plan": plan.name, "verdict": None, "exit_code": None, "reasons": reasons,
        "users": {"now": plan.users.now, "forecast": plan.users.forecast}, "seed": plan.seed,
        "tier": None, "provider": None, "chosen": chosen, "cost": None, "slo": [], "warnings": [], "price_warnings": [],
        "infeasible": rec.get("infeasible", {}),
    }
    if chosen is None:
        detail = "; ".join(f"{t}: {why}" for t, why in rec.get("infeasible", {}).items())
        reasons.append(f"SLO: no tier meets p95 <= {plan.slo.p95:g} s at {plan.users.forecast:,} users ({detail})")
    else:
        doc["tier"], doc["provider"] = chosen["tier"], chosen["provider"]
        scope = plan.budget.scope
        cost = _monthly(chosen, plan.purchase, scope)
        budget = Decimal(str(plan.budget.monthly_usd)).quantize(Decimal("0.01"))
        lines = _line_costs(chosen, scope)
        cost_doc: dict[str, Any] = {
            "scope": scope, "purchase": plan.purchase, "monthly_usd": _usd(cost), "budget_usd": _usd(budget),
            "margin_usd": _usd(budget - cost), "baseline_usd": None, "delta_usd": None, "delta_pct": None,
            "max_increase_pct": max_increase, "llm_usd": chosen["bill"]["llm_usd"],
            "lines": [{"line": k, "monthly_usd": _usd(v), "monthly_usd_exact": str(v), "baseline_usd": None,
                       "delta_usd": None} for k, v in lines.items()],
        }
        if cost > budget:
            reasons.append(f"budget: {usd(cost)}/month ({scope}, {plan.purchase}) exceeds {usd(budget)} "
                           f"by {usd(cost - budget)}")
        if baseline is not None:
            base_cost = Decimal(baseline["cost"]["monthly_usd"]) if baseline.get("cost") else None
            if base_cost is not None:
                delta = cost - base_cost
                pct = float(delta / base_cost * 100) if base_cost else None
                cost_doc.update(baseline_usd=_usd(base_cost), delta_usd=_usd(delta),
                                delta_pct=None if pct is None else round(pct, 2))
                base_lines = {l["line"]: Decimal(l.get("monthly_usd_exact", l["monthly_usd"]))
                              for l in baseline["cost"]["lines"]}
                keys = list(lines) + [k for k in base_lines if k not in lines]
                deltas = _cents_summing_to({k: lines.get(k, Decimal(0)) - base_lines.get(k, Decimal(0)) for k in keys},
                                           delta)
                cost_doc["lines"] = [{"line": k, "monthly_usd": _usd(lines.get(k, Decimal(0))),
                                      "monthly_usd_exact": str(lines.get(k, Decimal(0))),
                                      "baseline_usd": _usd(base_lines.get(k, Decimal(0))),
                                      "delta_usd": _usd(deltas[k])}
                                     for k in keys]
                if max_increase is not None and pct is not None and pct > max_increase:
                    reasons.append(f"budget: +{pct:.1f}% against the baseline ({usd(base_cost)} -> {usd(cost)}) "
                                   f"exceeds the {max_increase:g}% allowed")
        doc["cost"] = cost_doc
        figures = chosen["slo_figures"]
        base_fig = (baseline or {}).get("chosen", {}) or {}
        base_fig = base_fig.get("slo_figures", {}) if base_fig else {}
        rows = [("p95 API latency", plan.slo.p95, figures["api_latency_p95_s"], figures["api_latency_p95_ci95"][1],
                 base_fig.get("api_latency_p95_s"))]
        if plan.slo.ttft_p95 is not None:
            rows.append(("p95 time to first token", plan.slo.ttft_p95, figures["ttft_p95_s"], figures["ttft_p95_ci95"][1],
                         base_fig.get("ttft_p95_s")))
        for metric, target, value, high, base in rows:
            margin = target - high
            doc["slo"].append({"metric": metric, "target_s": target, "forecast_s": value, "ci95_high_s": high,
                               "margin_s": round(margin, 6), "baseline_s": base,
                               "delta_s": None if base is None else round(value - base, 6)})
            if margin < 0:
                reasons.append(f"SLO: {metric} up to {high:.3g} s > {target:g} s")
        failed = figures.get("failed_share", figures["reject_share"]) or 0.0
        doc["slo"].append({"metric": "failed share", "target_s": plan.slo.max_error_rate,
                           "forecast_s": failed, "ci95_high_s": failed,
                           "margin_s": round(plan.slo.max_error_rate - failed, 6),
                           "baseline_s": None, "delta_s": None})
        day = rec.get("day")
        if plan.day is not None and day is not None:
            doc["day"] = {**day, "max_slo_violation_minutes": plan.day.max_slo_violation_minutes}
            if not day["simulated"]:
                reasons.append(f"day: not simulated ({day['why']})")
            elif day["slo_violation_minutes"] > plan.day.max_slo_violation_minutes:
                reasons.append(f"day: {day['slo_violation_minutes']} SLO-violation minutes in the {day['profile']} "
                               f"profile > {plan.day.max_slo_violation_minutes} allowed")
        doc["warnings"] = list(chosen["bill"]["warnings"])
        doc["price_warnings"] = list(chosen["bill"].get("price_warnings", []))
    passed = not reasons
    doc["verdict"] = "pass" if passed else "fail"
    doc["exit_code"] = EXIT_PASS if passed else EXIT_FAIL
    return doc


class _BaselineLine(BaseModel):
    line: str
    monthly_usd: Money
    monthly_usd_exact: Money | None = None


class _BaselineCost(BaseModel):
    monthly_usd: Money
    scope: Literal["infrastructure", "total"] = "infrastructure"
    lines: list[_BaselineLine]


class _BaselineFigures(BaseModel):
    api_latency_p95_s: float | None = None
    ttft_p95_s: float | None = None


class _BaselineChosen(BaseModel):
    slo_figures: _BaselineFigures = _BaselineFigures()


class _Baseline(BaseModel):
    """What `verdict` reads from an earlier `capplan check --format json` (other keys are ignored)."""

    plan: str
    verdict: Literal["pass", "fail"]
    cost: _BaselineCost | None
    chosen: _BaselineChosen | None = None


def load_baseline(path: Path, plan=None) -> dict[str, Any]:
    """An earlier check document, validated; with ``plan``, it must come from the same plan (its
    name) and price the same scope, or the deltas would compare two different things."""
    field = f"--baseline {path}"
    text = read_text(path, field=field)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise CapplanError(f"not JSON ({getattr(exc, 'msg', exc)} at line {getattr(exc, 'lineno', '?')})",
                           field=field) from None
    if not isinstance(data, dict) or "verdict" not in data or "cost" not in data:
        raise CapplanError("not a `capplan check --format json` document (no verdict/cost)", field=field)
    try:
        base = _Baseline.model_validate(data)
    except ValidationError as exc:
        raise CapplanError(validation_message(exc, field)) from None
    if plan is not None:
        if base.plan != plan.name:
            raise CapplanError(f"made from plan {base.plan!r}, not {plan.name!r}: compare a plan with its own earlier "
                               "check (name plans apart with `name:`)", field=field)
        if base.cost is not None and base.cost.scope != plan.budget.scope:
            raise CapplanError(f"prices the {base.cost.scope!r} scope, this plan {plan.budget.scope!r}", field=field)
    # the validated figures only, in the shape `verdict` reads
    cost = None if base.cost is None else {
        "monthly_usd": str(base.cost.monthly_usd), "scope": base.cost.scope,
        "lines": [{"line": l.line, "monthly_usd": str(l.monthly_usd),
                   "monthly_usd_exact": str(l.monthly_usd if l.monthly_usd_exact is None else l.monthly_usd_exact)}
                  for l in base.cost.lines]}
    chosen = None if base.chosen is None else {"slo_figures": base.chosen.slo_figures.model_dump()}
    return {"plan": base.plan, "verdict": base.verdict, "cost": cost, "chosen": chosen}


def check_max_increase(value: float | None, field: str = "--max-increase") -> float | None:
    if value is not None and not (math.isfinite(value) and value >= 0):
        raise CapplanError(f"must be a finite percentage >= 0, got {value:g}", field=field)
    return value
