"""capplan sweep: the user grid, capacities that agree with `capplan simulate`, break-even points,
and the same document from a Dask cluster as from local processes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from decimal import Decimal

import pytest

from capplan.errors import CapplanError
from capplan.forecast import RunSettings
from capplan.model.loader import load_tier, load_workload
from capplan.planner import SLO
from capplan.report.sweep import sweep_csv, sweep_document
from capplan.sim.executor import LocalExecutor
from capplan.sweep.run import Capacity, Point, Variant, _break_evens, run_sweep, users_grid


def capplan(*args):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True,
                          timeout=600, env=os.environ)


def test_a_range_is_log_spaced_with_both_ends():
    grid = users_grid("500..20000")
    assert grid[0] == 500 and grid[-1] == 20000 and len(grid) == 8
    assert grid == sorted(set(grid))
    ratios = [b / a for a, b in zip(grid, grid[1:])]
    assert max(ratios) / min(ratios) < 1.2          # evenly spaced on a log scale (rounded to 2 digits)
    assert users_grid("100..1000", points=4) == [100, 220, 460, 1000]
    assert users_grid("3000,500, 1000,500") == [500, 1000, 3000]
    assert users_grid("700..700") == [700]


@pytest.mark.parametrize("text", ["20000..500", "abc", "0..100", "-5", ",", "10..x"])
def test_bad_user_counts_name_the_option(text):
    with pytest.raises(CapplanError, match="--users"):
        users_grid(text)


@pytest.fixture(scope="module")
def current_sweep():
    """The single-process tier between 6,000 users (meets the SLO) and 12,000 (unstable)."""
    return run_sweep([load_tier("current")], load_workload(None), [6000, 12000], ["aws"], SLO(),
                     RunSettings(replications=2, seed=3), executor=LocalExecutor(2), resolution=0.05)


def test_capacity_is_bracketed_then_bisected(current_sweep):
    (cap,) = current_sweep.capacities
    assert cap.status == "found"
    # the screen's 100%-offered count narrowed the grid's bracket before any bisection
    assert 6000 < cap.screen_users < 12000 and cap.failing <= cap.screen_users + 1
    assert cap.probes and cap.failing - cap.users <= max(1, int(0.05 * cap.users))
    assert all(ok == (u <= cap.users) for u, ok in cap.probes)


def test_capacity_agrees_with_simulate(current_sweep):
    """At the capacity `capplan simulate` meets the SLO; at the first count past it, it does not."""
    (cap,) = current_sweep.capacities

    def meets(users: int) -> bool:
        proc = capplan("simulate", "--tier", "current", "--users", str(users), "--replications", "2", "--seed", "3",
                       "--json")
        assert proc.returncode == 0, proc.stderr
        (t,) = json.loads(proc.stdout)["tiers"]
        if t["verdict"] != "stable":
            return False
        # meets_slo's test: the upper end of the p95's 95% interval, and failures (rounded to 6 digits)
        return t["api_latency_s"]["ci95"]["p95"][1] <= 2.0 and t["failed_share"] <= 0.01

    assert meets(cap.users)
    assert not meets(cap.failing)


def test_the_document_and_csv_carry_every_point(current_sweep):
    doc = sweep_document(current_sweep, "librechat")
    assert doc["kind"] == "sweep" and doc["users"] == [6000, 12000] and len(doc["points"]) == 2
    low, high = doc["points"]
    assert low["meets_slo"] and low["api_p95_s"][0] > 0 and Decimal(low["monthly_usd"]["aws"]) > 0
    assert not high["meets_slo"] and high["verdict"] == "unstable" and high["api_p95_s"] is None  # no made-up number
    rows = list(csv.DictReader(io.StringIO(sweep_csv(current_sweep))))
    assert [r["users"] for r in rows] == ["6000", "12000"] and rows[1]["api_p95_s"] == ""
    assert rows[0]["monthly_usd_aws"] == low["monthly_usd"]["aws"]


def _point(v, tier, users, meets, usd):
    return Point(tier, users, v, None, meets, "", {"aws": Decimal(usd)})   # _break_evens reads no forecast


def test_break_even_at_a_capacity_and_where_bills_cross():
    v = Variant((), None, (load_tier("tier1"), load_tier("tier2")))
    grid = [_point(v, "tier1", 1000, True, "100"), _point(v, "tier2", 1000, True, "300"),
            _point(v, "tier1", 2000, False, "110"), _point(v, "tier2", 2000, True, "310")]
    caps = [Capacity("tier1", v, 1500, 1520, None), Capacity("tier2", v, 2000, None, None)]
    cheapest, evens = _break_evens([v], grid, [1000, 2000], ["aws"], caps)
    assert [(c.users, c.tier) for c in cheapest] == [(1000, "tier1"), (2000, "tier2")]
    (b,) = evens
    assert (b.users, b.to_users, b.from_tier, b.to_tier, b.why) == (1500, 1520, "tier1", "tier2", "capacity")
    # both still meet the SLO, but the first one's bill overtakes the second's
    grid[2] = _point(v, "tier1", 2000, True, "400")
    caps[0] = Capacity("tier1", v, 2000, None, None)
    _, evens = _break_evens([v], grid, [1000, 2000], ["aws"], caps)
    (b,) = evens
    assert (b.users, b.to_users, b.why) == (1000, 2000, "cost")


def test_dask_gives_the_local_document_byte_for_byte():
    pytest.importorskip("dask.distributed", reason="the Dask executor is the optional extra capplan[dask]")
    # the uncertainty's samples too: they are drawn from their own stream of the seed, whatever runs them
    args = ["sweep", "--users", "500,6000", "--tiers", "current,tier1", "--replications", "2", "--json",
            "--uncertainty", "2", "--at", "500"]
    local = capplan(*args, "--workers", "2")
    dask = capplan(*args, "--executor", "dask", "--workers", "2")
    assert local.returncode == 0, local.stderr
    assert dask.returncode == 0, dask.stderr
    doc = json.loads(local.stdout)
    assert doc["simulations"] >= 4 + 4 and len(doc["uncertainty"]["by_users"]) == 2
    assert dask.stdout == local.stdout
