"""capplan day end to end: the JSON timeline, the month's cost line by line, what render writes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest
import yaml

from capplan.deploy.build import SCRAPE_INTERVAL_S, SERIES_PER_POD, SERIES_PER_SIDECAR

PER_API_POD = SERIES_PER_POD + SERIES_PER_SIDECAR    # tier 2's API pods carry the mesh's proxy

ARGS = ["day", "--tier", "tier2", "--users", "3000", "--replications", "2", "--json"]   # 2: the sizing, faster


def capplan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env=os.environ)


@pytest.fixture(scope="module")
def doc():
    proc = capplan(*ARGS)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_a_day_is_a_minute_by_minute_timeline(doc):
    d = json.loads(doc)
    timeline = d["timeline"]
    assert len(timeline) == 24 * 60 and [m["t"] for m in timeline[:3]] == [0, 60, 120]
    # the business curve: few users at night, the most around 10:00
    night = max(m["users"] for m in timeline[:5 * 60])
    peak = max(m["users"] for m in timeline)
    assert peak > 10 * night and 9 * 60 <= max(range(len(timeline)), key=lambda k: timeline[k]["users"]) < 11 * 60
    # pods stay within the rendered HPA's bounds; nodes never below the group's need
    hpa = d["hpa"]
    assert all(hpa["min_replicas"] <= m["pods_ready"] <= hpa["max_replicas"] for m in timeline)
    assert d["slo"]["violation_minutes"] == sum(
        1 for m in timeline if (m["api_p95_s"] or 0) > 2.0 or (m["requests"] and m["failed"] / m["requests"] > 0.01))


def test_the_month_is_explained_line_by_line(doc):
    cost = json.loads(doc)["cost"]
    lines = cost["lines"]
    fixed = sum(Decimal(line["fixed_usd"]) for line in lines)
    auto = sum(Decimal(line["autoscaled_usd"]) for line in lines)
    assert Decimal(cost["fixed_monthly_usd"]) == fixed and Decimal(cost["autoscaled_monthly_usd"]) == auto
    assert Decimal(cost["saving_monthly_usd"]) == fixed - auto
    moving = [line for line in lines if line["why"] != "same"]
    assert {line["component"] for line in moving} == {"app_nodes", "node_disks", "observability"}
    # the metrics line pays for the API pods the HPA ran on average, each pod's own and proxy series
    # (the fixed plan's one pod is the floor here, so its quantity is the floor's)
    (metrics,) = [line for line in moving if line["component"] == "observability"]
    timeline = json.loads(doc)["timeline"]
    mean_pods = Decimal(sum(m["pods_ready"] + m["pods_starting"] for m in timeline)) / len(timeline)
    assert Decimal(1) < mean_pods < Decimal(2)
    floor_series = Decimal(metrics["fixed_quantity"]) * Decimal(10**6) / (Decimal(730 * 3600) / SCRAPE_INTERVAL_S)
    expected = Decimal(metrics["fixed_quantity"]) * (floor_series + (mean_pods - 1) * PER_API_POD) / floor_series
    assert abs(Decimal(metrics["autoscaled_quantity"]) - expected) <= Decimal("0.001")
    assert Decimal(metrics["autoscaled_usd"]) > Decimal(metrics["fixed_usd"])
    mean = Decimal(cost["mean_app_nodes"])
    for line in (line for line in moving if line["component"] != "observability"):
        # the autoscaled quantity is the fixed line's at the day's mean node count
        expected = Decimal(line["fixed_quantity"]) * mean / cost["fixed_app_nodes"]
        assert abs(Decimal(line["autoscaled_quantity"]) - expected) <= Decimal("0.01") * expected + Decimal("0.001")
    for line in lines:
        if line["why"] == "same":
            assert line["fixed_usd"] == line["autoscaled_usd"]


def test_the_same_seed_gives_the_same_day(doc):
    again = capplan(*ARGS)
    assert again.returncode == 0 and again.stdout == doc


def test_render_min_replicas_writes_the_simulated_hpa(doc, tmp_path):
    d = json.loads(doc)
    proc = capplan("render", "--tier", "tier2", "--provider", "aws", "--users", "3000", "--target", "k8s",
                   "--replications", "2", "--min-replicas", "1", "--out", str(tmp_path / "deploy"))
    assert proc.returncode == 0, proc.stderr
    hpa = yaml.safe_load((tmp_path / "deploy" / "k8s" / "hpa.yaml").read_text())
    assert hpa["spec"]["minReplicas"] == d["hpa"]["min_replicas"]
    assert hpa["spec"]["maxReplicas"] == d["hpa"]["max_replicas"]
    target = hpa["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"]
    assert target / 100 == d["hpa"]["target_cpu_utilization"]
