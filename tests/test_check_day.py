"""capplan check with a day requirement: the chosen sizing through a day of traffic with its HPA."""

from __future__ import annotations

import json
import os
import subprocess
import sys

PLAN = """kind: plan
name: day-gate
users: {{now: 1000, forecast: 3000}}
providers: [aws]
tier: {tier}
slo: {{p95: {p95}, max_error_rate: 0.01}}
budget: {{monthly_usd: 5000, scope: infrastructure}}
today: 2026-11-27
replications: 2
day: {day}
"""


def check(tmp_path, tier="tier2", p95="2s", day="{profile: business, max_slo_violation_minutes: 0}", files=None):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(tier=tier, p95=p95, day=day))
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    return subprocess.run([sys.executable, "-m", "capplan.cli", "check", str(plan), "--format", "json", "--no-cache"],
                          capture_output=True, text=True, timeout=600, env=os.environ)


def test_a_day_within_the_slo_passes_and_says_what_it_ran(tmp_path):
    proc = check(tmp_path)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    day = doc["day"]
    assert day["simulated"] and day["minutes"] == 1440 and day["profile"] == "business"
    assert day["slo_violation_minutes"] == 0 and day["max_slo_violation_minutes"] == 0


def test_minutes_over_the_slo_fail_the_check_naming_the_day(tmp_path):
    """A 0.2 s p95: the peak hour's p95 meets it (the sizing is chosen so), but quiet minutes, whose
    p95 comes from a handful of requests, do not always."""
    proc = check(tmp_path, p95="0.2s")
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["day"]["slo_violation_minutes"] > 0
    assert any(r.startswith("day: ") and "SLO-violation minutes" in r for r in doc["reasons"])
    # and the same plan allowing that many passes on the day
    allowed = doc["day"]["slo_violation_minutes"]
    again = check(tmp_path, p95="0.2s", day=f"{{profile: business, max_slo_violation_minutes: {allowed}}}")
    assert not any(r.startswith("day: ") for r in json.loads(again.stdout)["reasons"])


def test_a_compose_tier_cannot_run_a_day_and_fails_saying_so(tmp_path):
    proc = check(tmp_path, tier="current")
    assert proc.returncode == 1
    assert any("day: not simulated" in r and "Docker Compose" in r for r in json.loads(proc.stdout)["reasons"])


def test_a_profile_file_next_to_the_plan_is_used(tmp_path):
    rows = "\n".join(f"{h},{100 if 9 <= h < 17 else 1}" for h in range(24))
    proc = check(tmp_path, day="{profile: office.csv, max_slo_violation_minutes: 1440}", files={"office.csv": rows})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["day"]["profile"] == "office"


def test_a_bad_day_spec_is_one_line_exit_2(tmp_path):
    for day, field in (("{profile: weekend-rave}", "day.profile"), ("{max_slo_violation_minutes: -1}", "day"),
                       ("{profile: business, extra: 1}", "day")):
        proc = check(tmp_path, day=day)
        assert proc.returncode == 2 and field in proc.stderr and "Traceback" not in proc.stderr, (day, proc.stderr)
        assert len(proc.stderr.strip().splitlines()) == 1


def test_a_plan_that_must_survive_a_zone_is_sized_for_it(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(tier="tier2", p95="2s", day="null").replace("users: {now: 1000, forecast: 3000}",
                                                                            "users: {now: 1000, forecast: 30000}")
                    + "survive: zone\n")
    proc = subprocess.run([sys.executable, "-m", "capplan.cli", "check", str(plan), "--format", "json", "--no-cache"],
                          capture_output=True, text=True, timeout=600, env=os.environ)
    assert proc.returncode == 0, proc.stderr
    survive = json.loads(proc.stdout)["chosen"]["survive"]
    assert survive["loss"] == "zone" and survive["api_replicas"] > survive["peak_needs"]
