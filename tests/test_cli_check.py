"""capplan check end to end: exit codes 0/1/2, the JSON verdict against the plan, baselines, cache."""

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def capplan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if not (EXAMPLES / "plan-pass.yaml").is_file():
        pytest.skip("examples/ not beside the tests (installed elsewhere)")
    d = tmp_path_factory.mktemp("check")
    for name in ("plan-pass.yaml", "plan-fail.yaml"):
        shutil.copy(EXAMPLES / name, d / name)
    return d


@pytest.fixture(scope="module")
def passing(workdir):
    proc = capplan("check", "plan-pass.yaml", "--format", "json", cwd=workdir)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_passing_plan_exits_0_and_matches_the_plan(workdir, passing):
    plan = yaml.safe_load((workdir / "plan-pass.yaml").read_text())
    assert passing["verdict"] == "pass" and passing["exit_code"] == 0 and passing["reasons"] == []
    cost = passing["cost"]
    assert Decimal(cost["budget_usd"]) == Decimal(plan["budget"]["monthly_usd"])
    assert Decimal(cost["monthly_usd"]) <= Decimal(cost["budget_usd"])
    assert Decimal(cost["margin_usd"]) == Decimal(cost["budget_usd"]) - Decimal(cost["monthly_usd"])
    option = next(o for o in passing["chosen"]["purchase_options"] if o["purchase"] == plan["purchase"])
    assert Decimal(cost["monthly_usd"]) == Decimal(option["monthly_usd"]) - Decimal(passing["chosen"]["bill"]["llm_usd"])
    assert passing["users"] == {"now": 1000, "forecast": 1500}
    assert passing["provider"] in plan["providers"]
    p95 = next(r for r in passing["slo"] if r["metric"] == "p95 API latency")
    assert p95["target_s"] == 2.0 and p95["ci95_high_s"] <= 2.0 and p95["margin_s"] >= 0


def test_failing_plan_exits_1_with_each_reason(workdir):
    proc = capplan("check", "plan-fail.yaml", "--format", "json", cwd=workdir)
    assert proc.returncode == 1, proc.stderr
    doc = json.loads(proc.stdout)
    plan = yaml.safe_load((workdir / "plan-fail.yaml").read_text())
    assert doc["verdict"] == "fail" and doc["exit_code"] == 1
    assert any(r.startswith("budget:") for r in doc["reasons"])
    assert Decimal(doc["cost"]["monthly_usd"]) > Decimal(plan["budget"]["monthly_usd"])


def test_markdown_is_a_pr_comment(workdir):
    proc = capplan("check", "plan-fail.yaml", "--format", "markdown", cwd=workdir)
    assert proc.returncode == 1
    md = proc.stdout
    assert md.startswith("### capplan check: ❌ fail")
    assert "| cost line | monthly |" in md and "| SLO | target |" in md and "price warnings" in md
    # one summary line for the prices; the rows themselves inside the collapsed details
    summaries = [l for l in md.splitlines() if l.startswith("- prices: ")]
    assert len(summaries) == 1 and "older than 180 days" in summaries[0]
    assert any(l.startswith("- price '") and "days before" in l for l in md.splitlines())


def test_check_json_keeps_every_price_row_and_shows_one_summary(passing):
    warnings = passing["warnings"]
    assert len([w for w in warnings if w.startswith("prices: ")]) == 1
    assert not any(w.startswith("price '") for w in warnings)
    rows = passing["chosen"]["bill"]["price_warnings"]
    assert rows and all(set(r) >= {"id", "where", "issues", "age_days", "observed", "message"} for r in rows)
    assert len({(r["id"], r["where"]) for r in rows}) == len(rows)


def _doc(**cost):
    base = {"scope": "infrastructure", "purchase": "on_demand", "monthly_usd": "1057.52", "budget_usd": "1054.52",
            "margin_usd": "-3.00", "baseline_usd": "1000.00", "delta_usd": "57.52", "delta_pct": 5.75,
            "llm_usd": "12345.60", "lines": [{"line": "app_nodes (ec2.m6i.large)", "monthly_usd": "1057.52",
                                              "baseline_usd": "1000.00", "delta_usd": "57.52"}]}
    return {"capplan_version": "x", "plan": "p", "verdict": "fail", "exit_code": 1, "reasons": [], "seed": 1,
            "users": {"now": 1, "forecast": 2}, "tier": "tier2", "provider": "aws", "chosen": None,
            "cost": base | cost, "slo": [], "warnings": ["prices: 1 of 1 row is older than 180 days"],
            "price_warnings": [{"id": "ebs.gp3", "message": "price 'ebs.gp3' [us-east-1]: observed 2024-07"}]}


def test_markdown_and_table_show_money_one_way():
    from rich.console import Console

    from capplan.report.markdown import check_markdown
    from capplan.report.table import check_table

    md = check_markdown(_doc())
    assert "$1,057.52/month" in md and "budget $1,054.52" in md and "$12,345.60/month" in md
    assert "| $1,000.00 | +$57.52 |" in md and "+$57.52 (+5.8%)" in md
    assert "- prices: 1 of 1 row" in md and "- price 'ebs.gp3' [us-east-1]" in md
    console = Console(width=200, record=True)
    console.print(check_table(_doc()))
    text = console.export_text()
    assert "$1,057.52" in text and "-$3.00" in text and "+$57.52 (+5.8%)" in text
    assert "$1,000.00" in text and "$1057" not in text
    assert "-$3.00" in check_markdown(_doc(delta_usd="-3", baseline_usd="1060.52"))


def test_cache_hit_gives_identical_output_and_no_cache_recomputes(workdir, passing):
    warm = capplan("check", "plan-pass.yaml", "--format", "json", cwd=workdir)
    assert "cache: hit" in warm.stderr and json.loads(warm.stdout) == passing
    cold = capplan("check", "plan-pass.yaml", "--format", "json", "--no-cache", cwd=workdir)
    assert "cache: off" in cold.stderr and cold.stdout == warm.stdout
    # any input change is a new key: a different seed misses the cache
    changed = (workdir / "plan-pass.yaml").read_text().replace("seed: 1", "seed: 2")
    (workdir / "plan-seed2.yaml").write_text(changed)
    other = capplan("check", "plan-seed2.yaml", "--format", "json", cwd=workdir)
    assert "cache: miss" in other.stderr


def test_baseline_deltas_and_max_increase(workdir, passing):
    (workdir / "baseline.json").write_text(json.dumps(passing))
    grown = yaml.safe_load((workdir / "plan-pass.yaml").read_text())
    grown["users"]["forecast"] = 4000
    (workdir / "plan-grown.yaml").write_text(yaml.safe_dump(grown))
    proc = capplan("check", "plan-grown.yaml", "--format", "json", "--baseline", "baseline.json",
                   "--max-increase", "1%", cwd=workdir)
    doc = json.loads(proc.stdout)
    cost = doc["cost"]
    assert Decimal(cost["baseline_usd"]) == Decimal(passing["cost"]["monthly_usd"])
    assert Decimal(cost["delta_usd"]) == Decimal(cost["monthly_usd"]) - Decimal(cost["baseline_usd"])
    assert sum(Decimal(l["delta_usd"]) for l in cost["lines"]) == Decimal(cost["delta_usd"])
    assert cost["delta_pct"] > 1.0   # 2.7x the users: more nodes, egress and NAT bytes
    assert proc.returncode == 1 and any("against the baseline" in r for r in doc["reasons"])
    same = capplan("check", "plan-pass.yaml", "--format", "json", "--baseline", "baseline.json",
                   "--max-increase", "0%", cwd=workdir)
    assert same.returncode == 0 and json.loads(same.stdout)["cost"]["delta_usd"] == "0.00"


BAD = {
    "malformed.yaml": "kind: plan\nusers: {now: 1\n",
    "unknown-field.yaml": "kind: plan\nusers: {now: 1, forecast: 2}\nproviders: [aws]\nslo: {p95: 2s}\n"
                          "budget: {monthly_usd: 10}\nbudgett: 3\n",
    "provider.yaml": "kind: plan\nusers: {now: 1, forecast: 2}\nproviders: [oracle]\nslo: {p95: 2s}\nbudget: {monthly_usd: 10}\n",
    "region.yaml": "kind: plan\nusers: {now: 1, forecast: 2}\nproviders: [aws]\nregions: {aws: mars-1}\nslo: {p95: 2s}\n"
                   "budget: {monthly_usd: 10}\n",
    "users.yaml": "kind: plan\nusers: {now: -4, forecast: 2}\nproviders: [aws]\nslo: {p95: 2s}\nbudget: {monthly_usd: 10}\n",
    "tier.yaml": "kind: plan\nusers: {now: 1, forecast: 2}\nproviders: [aws]\ntier: tier9\nslo: {p95: 2s}\n"
                 "budget: {monthly_usd: 10}\n",
}


@pytest.mark.parametrize("name,needle", [("malformed.yaml", "malformed YAML"), ("unknown-field.yaml", "budgett"),
                                         ("provider.yaml", "providers"), ("region.yaml", "mars-1"),
                                         ("users.yaml", "users.now"), ("tier.yaml", "tier9"),
                                         ("missing.yaml", "not found")])
def test_bad_plans_exit_2_with_one_line(tmp_path, name, needle):
    if name in BAD:
        (tmp_path / name).write_text(BAD[name])
    proc = capplan("check", name, "--no-cache", cwd=tmp_path)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = [l for l in proc.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and needle in lines[0] and "Traceback" not in proc.stderr


def test_bad_flags_exit_2(workdir):
    for args, needle in ((["--format", "html"], "--format"), (["--baseline", "nope.json"], "--baseline"),
                         (["--max-increase", "lots"], "--max-increase")):
        proc = capplan("check", "plan-pass.yaml", *args, cwd=workdir)
        assert proc.returncode == 2 and needle in proc.stderr


def test_init_writes_a_plan_that_validates(tmp_path):
    assert capplan("init", cwd=tmp_path).returncode == 0
    from capplan.check import load_plan

    plan = load_plan(tmp_path / "capplan.yaml")
    assert plan.users.forecast >= plan.users.now and plan.slo.p95 == 2.0
    assert capplan("init", cwd=tmp_path).returncode == 2   # refuses to overwrite


def test_workload_overrides_change_the_forecast(workdir, passing):
    plan = yaml.safe_load((workdir / "plan-pass.yaml").read_text())
    plan["workload_overrides"] = {"demand": {"daily_active_share": 1.0}}     # twice the default 50% a day
    (workdir / "plan-busy.yaml").write_text(yaml.safe_dump(plan))
    doc = json.loads(capplan("check", "plan-busy.yaml", "--format", "json", cwd=workdir).stdout)
    assert Decimal(doc["cost"]["monthly_usd"]) > Decimal(passing["cost"]["monthly_usd"])
    plan["workload_overrides"] = {"demand": {"daily_active_share": 3}}
    (workdir / "plan-bad-override.yaml").write_text(yaml.safe_dump(plan))
    proc = capplan("check", "plan-bad-override.yaml", cwd=workdir)
    assert proc.returncode == 2 and "daily_active_share" in proc.stderr and "workload_overrides" in proc.stderr


def test_search_false_in_the_plan_turns_meilisearch_off_everywhere(workdir, passing):
    plan = yaml.safe_load((workdir / "plan-pass.yaml").read_text())
    plan["search"] = False
    (workdir / "plan-nosearch.yaml").write_text(yaml.safe_dump(plan))
    doc = json.loads(capplan("check", "plan-nosearch.yaml", "--format", "json", cwd=workdir).stdout)
    deployment = doc["chosen"]["deploy"]["deployment"]
    assert deployment["search"] is False
    assert not any("meili" in p["name"] for p in deployment["pods"])
    assert not any("meili" in line["resource"] for line in doc["chosen"]["bill"]["lines"])
    assert any("meili" in p["name"] for p in passing["chosen"]["deploy"]["deployment"]["pods"])
    files = capplan("render", "--from", "plan-nosearch.yaml", "--dry-run", cwd=workdir).stdout
    paths = [line[6:-4] for line in files.splitlines() if line.startswith("# --- ")]
    assert paths and not any("meilisearch" in p for p in paths)
    assert 'SEARCH: "false"' in files and "MEILI_HOST" not in files
