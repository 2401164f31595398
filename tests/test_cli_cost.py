"""capplan cost / recommend end to end: JSON figures, exit codes on bad input."""

import json
import subprocess
import sys
from decimal import Decimal

import pytest

FAST = ["--replications", "2", "--today", "2026-11-27"]


def capplan(*args):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True, timeout=600)


def test_cost_json_lines_add_up_and_carry_provenance():
    proc = capplan("cost", "--tier", "tier1", "--provider", "azure", "--users", "800", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    bill = doc["bill"]
    lines = bill["lines"]
    assert lines and all(l["confidence"] in ("confirmed", "derived", "estimate") and l["observed"] for l in lines)
    # each line is shown rounded to cents; the total is the exact sum rounded once
    assert abs(sum(Decimal(l["monthly_usd"]) for l in lines) - Decimal(bill["total_usd"])) <= Decimal("0.01") * len(lines)
    assert Decimal(bill["total_usd"]) == Decimal(bill["fixed_usd"]) + Decimal(bill["variable_usd"])
    assert Decimal(bill["per_1000_messages_usd"]) > 0 and Decimal(bill["per_active_user_usd"]) > 0
    assert {o["purchase"] for o in doc["purchase_options"]} == {"on_demand", "commit_1y", "commit_3y", "spot"}
    # doubtful prices: one summary line among the warnings, every row in price_warnings
    assert len([w for w in bill["warnings"] if w.startswith("prices: ")]) == 1
    assert not any(w.startswith("price '") for w in bill["warnings"])
    rows = bill["price_warnings"]
    assert any("estimate" in r["issues"] and "estimate" in r["message"] for r in rows)
    assert all(r["id"] and r["where"] and r["message"].startswith(f"price '{r['id']}'") for r in rows)


def test_cost_table_output():
    proc = capplan("cost", "--tier", "tier2", "--provider", "gcp", "--users", "1000", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "per 1,000 messages" in proc.stdout and "break-even" in proc.stdout and "warning" in proc.stdout
    # every doubtful price in one line, not one line per row
    assert len([l for l in proc.stdout.splitlines() if l.startswith("warning prices: ")]) == 1
    assert not [l for l in proc.stdout.splitlines() if l.startswith("warning price '")]


def test_recommend_json_carries_choice_sizing_cost_and_slo():
    proc = capplan("recommend", "--users", "1200", "--provider", "aws,gcp", "--slo-p95", "1s", "--tier", "tier1",
                   "--tier", "tier2", "--json", *FAST)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["tier"] in ("tier1", "tier2") and doc["provider"] in ("aws", "gcp")
    assert Decimal(doc["monthly_usd"]) > 0
    assert doc["slo_figures"]["api_latency_p95_ci95"][1] <= 1.0
    assert doc["sizing"]["replicas"]
    prices = [Decimal(o["monthly_usd"]) for o in doc["options"]]
    assert prices == sorted(prices) and Decimal(doc["monthly_usd"]) == prices[0]
    assert set(doc["seed_claims"]) == {"aws", "gcp"}


@pytest.mark.parametrize("args,needle", [
    (["cost", "--tier", "tier1", "--provider", "oracle", "--users", "100"], "provider"),
    (["cost", "--tier", "tier1", "--provider", "aws", "--users", "100", "--region", "eu-west-9"], "region"),
    (["cost", "--tier", "tier1", "--provider", "aws", "--users", "100", "--instance", "ec2.x99.huge"], "ec2.x99.huge"),
    (["cost", "--tier", "tier7", "--provider", "aws", "--users", "100"], "tier"),
    (["cost", "--tier", "tier1", "--provider", "aws", "--users", "-3"], "--users"),
    (["recommend", "--users", "100", "--provider", "aws,ibm"], "provider"),
    (["recommend", "--users", "100", "--slo-p95", "fast"], "--slo-p95"),
    (["recommend", "--users", "100", "--today", "yesterday"], "--today"),
])
def test_bad_cost_input_is_one_line_exit_2(args, needle):
    proc = capplan(*args)
    assert proc.returncode == 2, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_same_inputs_and_seed_give_identical_recommend_and_cost_json():
    args = ["recommend", "--users", "900", "--provider", "gcp,azure", "--tier", "tier1", "--tier", "microservices",
            "--seed", "4", "--json", *FAST]
    first, second = capplan(*args), capplan(*args)
    assert first.returncode == 0 and first.stdout == second.stdout
    cost = ["cost", "--tier", "tier3", "--provider", "aws", "--users", "6000", "--seed", "4", "--json", *FAST]
    assert capplan(*cost).stdout == capplan(*cost).stdout
