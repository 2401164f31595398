"""The plan file (capplan.yaml) that `capplan check` gates a change on."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from capplan.limits import MAX_REPLICATIONS, MAX_SEED, MAX_USERS
from capplan.model.distributions import Seconds
from capplan.units import parse_fraction


def _percent(value: object) -> float:
    """'10%' or 10 -> 10.0 (percent points)."""
    if isinstance(value, str) and value.strip().endswith("%"):
        return parse_fraction(value) * 100.0
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ValueError(f"not a percentage: {value!r}")
    return float(value)


Percent = Annotated[float, BeforeValidator(_percent), Field(ge=0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)  # .inf and .nan are no one's numbers


class Users(_Strict):
    now: int = Field(ge=1, le=MAX_USERS)
    forecast: int = Field(ge=1, le=MAX_USERS)   # the sizing must hold for this many registered users

    @model_validator(mode="after")
    def _order(self) -> "Users":
        if self.forecast < self.now:
            raise ValueError("forecast: must be at least users.now")
        return self


class SLOSpec(_Strict):
    p95: Seconds = Field(gt=0)                       # p95 API latency
    ttft_p95: Seconds | None = None                  # p95 time to first token
    max_error_rate: float = Field(default=0.01, ge=0, lt=1, allow_inf_nan=False)


class DaySpec(_Strict):
    """Run the chosen sizing through a day of traffic with its autoscaling (`capplan day`)."""

    profile: str = "business"                        # a bundled profile, or a .yaml/.csv relative to the plan
    min_replicas: int | None = Field(default=None, ge=1)   # the API HPA's floor (default as `capplan day`)
    max_slo_violation_minutes: int = Field(default=0, ge=0)

    def profile_spec(self, plan_path: Path) -> str:
        path = Path(self.profile)
        if path.suffix.lower() in (".yaml", ".yml", ".csv") and not path.is_absolute():
            return str(plan_path.parent / path)
        return self.profile


class Budget(_Strict):
    monthly_usd: float = Field(gt=0, allow_inf_nan=False)
    max_increase_pct: Percent | None = None          # against --baseline
    scope: Literal["infrastructure", "total"] = "infrastructure"   # total includes LLM tokens


class Plan(_Strict):
    kind: Literal["plan"] = "plan"
    name: str = "capplan"
    workload: str | None = None                      # a workload YAML, relative to the plan file
    workload_overrides: dict = Field(default_factory=dict)   # merged into the workload key by key
    users: Users
    providers: list[Literal["aws", "gcp", "azure"]] = Field(min_length=1)
    regions: dict[str, str] = Field(default_factory=dict)   # provider -> region (must match the price book)
    tier: str = "auto"                               # a tier name or auto (every bundled tier)
    require_ha: bool = False
    search: bool = True                              # LibreChat's Meilisearch: false turns it off everywhere
    mongodb: Literal["auto", "managed", "self_hosted"] = "auto"
    redis: Literal["auto", "managed", "self_hosted"] = "auto"
    aks_tier: Literal["Free", "Standard"] | None = None   # default: Standard with require_ha
    slo: SLOSpec
    budget: Budget
    purchase: Literal["on_demand", "commit_1y", "commit_3y", "spot"] = "on_demand"
    seed: int = Field(default=1, ge=0, le=MAX_SEED)
    replications: int = Field(default=4, ge=2, le=MAX_REPLICATIONS)
    today: dt.date | None = None                     # pins price-age warnings (default: the run's date)
    day: DaySpec | None = None                       # also require SLO-violation minutes of a day to stay low
    survive: Literal["node", "zone"] | None = None   # size the API so the SLO holds with a node or zone lost

    @model_validator(mode="after")
    def _regions_for_providers(self) -> "Plan":
        for provider in self.regions:
            if provider not in self.providers:
                raise ValueError(f"regions.{provider}: not one of the plan's providers {self.providers}")
        return self

    def workload_path(self, plan_path: Path) -> Path | None:
        if self.workload is None:
            return None
        path = Path(self.workload)
        return path if path.is_absolute() else plan_path.parent / path


EXAMPLE = """\
# capplan.yaml: what `capplan check` gates a change on. Exit codes: 0 within budget and SLO,
# 1 budget or SLO broken (each reason listed), 2 bad input.
kind: plan
name: librechat-prod
# workload: workload.yaml          # optional: your own traffic (default: the bundled LibreChat workload)
# workload_overrides:              # optional: change a few numbers of it
#   demand: {peak_hour_share: 0.2}
#   llm: {output_tokens: {kind: lognormal, mean: 800, cv: 0.8}}
users:
  now: 1000                        # registered users today
  forecast: 1500                   # the sizing must hold for this many
providers: [aws, gcp]              # aws, gcp, azure
regions: {aws: us-east-1}          # optional; must match pricing/<provider>.yaml
tier: auto                         # auto = cheapest bundled tier that meets the SLO, or e.g. tier2
require_ha: false                  # true: at least 2 replicas, never the single-process tier
search: true                       # LibreChat's Meilisearch; false: not rendered, billed or set (SEARCH=false)
# mongodb: auto                    # auto, managed (Atlas) or self_hosted
# redis: auto                      # auto, managed or self_hosted (compose tiers)
slo:
  p95: 2s                          # [seed] alert: p95(response_time) > 2s
  ttft_p95: 5s                     # p95 time to first token
  max_error_rate: 0.01             # [seed] alert: error_rate > 1%
budget:
  monthly_usd: 2000                # infrastructure per month (scope: total adds LLM tokens)
  max_increase_pct: 10%            # against --baseline (an earlier `capplan check --format json`)
  scope: infrastructure
purchase: on_demand                # on_demand, commit_1y, commit_3y, spot
seed: 1
replications: 4
# today: 2026-11-27                # pin the date used for price-age warnings (reproducible output)
# survive: zone                    # optional: N+1, the SLO holds with a node or a zone lost
# day:                             # optional: run the chosen sizing through a day with its HPA (capplan day)
#   profile: business              # business, consumer, business-week, or a .yaml/.csv next to this file
#   max_slo_violation_minutes: 0   # minutes whose API p95 or failed share breaks the SLO above
"""
