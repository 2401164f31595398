"""What ``capplan report --users N`` draws, computed: the recommendation at N (the stacked bill),
a sweep of every tier around N (p95, TTFT, cost, capacities, break-evens), and for the recommended
tier the uncertainty of its sizing across the sweep's counts and the tornado at N."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from capplan.errors import CapplanError
from capplan.forecast import RunSettings
from capplan.model.tier import Tier
from capplan.model.workload import Workload
from capplan.planner import SLO

SPAN = 5                 # the sweep runs from N / SPAN to N x SPAN
POINTS = 8


@dataclass
class ReportInputs:
    sweep: dict
    recommend: dict


def report_grid(users: int) -> list[int]:
    from capplan.sweep.run import users_grid

    return users_grid(f"{max(1, users // SPAN)}..{users * SPAN}", POINTS)


def assemble(users: int, tiers: list[Tier], workload: Workload, providers: list[str], slo: SLO,
             settings: RunSettings, executor=None, uncertainty: int = 10, sensitivity: bool = True,
             today=None, on_done: Callable[[], None] | None = None) -> ReportInputs:
    """``uncertainty`` samples (0: none) and the tornado are run only when the workload has ranges."""
    from capplan.planner import recommend
    from capplan.report import json as jsonr
    from capplan.report.sweep import sweep_document
    from capplan.sweep.run import run_sweep

    rec = recommend(tiers, workload, users, providers, slo, settings=settings, today=today, on_progress=on_done)
    if rec.winner is None:
        raise CapplanError(f"no tier meets the SLO at {users:,} users: no recommended plan to draw",
                           field="--users")
    rec_doc = jsonr.recommend_document(rec, settings.seed)
    grid = report_grid(users)
    main = run_sweep(tiers, workload, grid, providers, slo, settings, executor=executor, today=today,
                     on_done=on_done)
    doc = sweep_document(main, workload.name)
    if workload.uncertain and (uncertainty or sensitivity):
        # the recommended tier, sized by the planner for each sample at every count of the sweep
        winner = next(t for t in tiers if t.name == rec.winner.plan.tier.name)
        if uncertainty:
            spread = run_sweep([winner], workload, [users], providers, slo, settings, executor=executor,
                               today=today, on_done=on_done, uncertainty=uncertainty, at=grid)
            doc["uncertainty"] = sweep_document(spread, workload.name)["uncertainty"]
            doc["simulations"] += spread.simulations
        if sensitivity:
            tornado = run_sweep([winner], workload, [users], [rec.winner.provider], slo, settings,
                                executor=executor, today=today, on_done=on_done, sensitivity=True)
            doc["sensitivity"] = sweep_document(tornado, workload.name)["sensitivity"]
            doc["simulations"] += tornado.simulations
    return ReportInputs(doc, rec_doc)
