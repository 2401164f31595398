"""The CLI at its edges: exit codes, help, `workload show`, stale files, the cache on a dry run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml

from capplan.model.loader import load_workload

FAST = ["--replications", "2", "--today", "2026-11-27"]


def capplan(*args, cwd=None, env=None):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd, env={**os.environ, **(env or {})})


def test_recommend_exits_1_when_no_tier_meets_the_slo_and_says_why_at_once():
    proc = capplan("recommend", "--users", "3000", "--slo-p95", "1ms", "--provider", "aws", *FAST)
    assert proc.returncode == 1, proc.stderr
    assert "no tier meets the SLO" in proc.stdout
    assert proc.stdout.count("zero-load floor") == 5          # every tier, with its floor
    as_json = capplan("recommend", "--users", "3000", "--slo-p95", "1ms", "--provider", "aws", "--json", *FAST)
    assert as_json.returncode == 1
    doc = json.loads(as_json.stdout)                            # the document is still written
    assert doc["chosen"] is None and all("zero-load floor" in why for why in doc["infeasible"].values())


def test_recommend_exits_0_with_a_winner():
    proc = capplan("recommend", "--users", "300", "--provider", "gcp", "--tier", "tier1", *FAST)
    assert proc.returncode == 0, proc.stderr
    assert "recommended:" in proc.stdout


def test_help_has_examples_and_flags_take_no_value():
    for command in ("simulate", "cost", "recommend", "render", "check", "day", "sweep", "report"):
        text = capplan(command, "--help").stdout
        assert "Examples" in text and f"$ capplan {command}" in text, command
        assert "<bool>" not in text, command


def test_every_command_has_a_help_page():
    """Rich renders the help as markup: a help text with [brackets] once crashed `day --help`."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from capplan.cli import app

    group = get_command(app)
    names = list(group.commands)
    assert {"simulate", "day", "sweep", "report", "calibrate"} <= set(names)
    runner = CliRunner()
    for name in names:
        result = runner.invoke(app, [name, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, (name, result.output[-500:])


def test_workload_show_prints_a_file_that_loads_as_the_bundled_workload(tmp_path):
    proc = capplan("workload", "show")
    assert proc.returncode == 0 and proc.stdout.startswith("#")   # comments (sources) included
    (tmp_path / "mine.yaml").write_text(proc.stdout, encoding="utf-8")
    assert load_workload(tmp_path / "mine.yaml") == load_workload()
    assert capplan("workload", "show", "reasoning").stdout != proc.stdout


def test_rerendering_into_one_folder_removes_the_previous_plans_files(tmp_path):
    compose = capplan("render", "--tier", "tier1", "--provider", "aws", "--users", "300", "--out", "out", *FAST,
                      cwd=tmp_path)
    assert compose.returncode == 0, compose.stderr
    assert (tmp_path / "out/compose/docker-compose.yml").exists()
    (tmp_path / "out/notes.md").write_text("mine\n")                 # not capplan's: never touched
    k8s = capplan("render", "--tier", "tier2", "--provider", "aws", "--users", "300", "--out", "out", *FAST,
                  cwd=tmp_path)
    assert k8s.returncode == 0, k8s.stderr
    assert not (tmp_path / "out/compose").exists()
    assert "removed out/compose/docker-compose.yml" in k8s.stdout
    assert (tmp_path / "out/k8s/deployment.yaml").exists() and (tmp_path / "out/notes.md").exists()


def test_render_from_a_plan_uses_the_cache_dir_and_a_dry_run_writes_nothing(tmp_path):
    plan = yaml.safe_load((__import__("pathlib").Path(__file__).resolve().parents[1] / "examples/plan-pass.yaml")
                          .read_text())
    plan["replications"] = 2
    (tmp_path / "plan.yaml").write_text(yaml.safe_dump(plan))
    cache = tmp_path / "elsewhere"
    dry = capplan("render", "--from", "plan.yaml", "--dry-run", cwd=tmp_path, env={"CAPPLAN_CACHE_DIR": str(cache)})
    assert dry.returncode == 0, dry.stderr
    assert not cache.exists() and not (tmp_path / ".capplan-cache").exists()
    wet = capplan("render", "--from", "plan.yaml", "--out", "out", cwd=tmp_path, env={"CAPPLAN_CACHE_DIR": str(cache)})
    assert wet.returncode == 0, wet.stderr
    assert len(list(cache.glob("*.json"))) == 1 and not (tmp_path / ".capplan-cache").exists()


def test_check_refuses_a_baseline_from_another_plan(tmp_path):
    root = __import__("pathlib").Path(__file__).resolve().parents[1]
    plan = yaml.safe_load((root / "examples/plan-pass.yaml").read_text())
    plan["replications"] = 2
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(plan))
    other = dict(plan, name="another-team")
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(other))
    base = capplan("check", "b.yaml", "--format", "json", cwd=tmp_path)
    assert base.returncode in (0, 1), base.stderr
    (tmp_path / "base.json").write_text(base.stdout)
    proc = capplan("check", "a.yaml", "--baseline", "base.json", cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()] and "'another-team'" in proc.stderr
    own = capplan("check", "a.yaml", "--format", "json", cwd=tmp_path)
    (tmp_path / "own.json").write_text(own.stdout)
    again = capplan("check", "a.yaml", "--baseline", "own.json", "--format", "json", cwd=tmp_path)
    assert again.returncode == own.returncode
    assert json.loads(again.stdout)["cost"]["delta_usd"] == "0.00"


def test_a_progress_bar_that_outruns_its_estimate_turns_indeterminate(monkeypatch):
    """The planner may run more rounds than estimated: the bar must not end at '80/20'."""
    import io

    from rich.console import Console

    import capplan.cli as cli

    monkeypatch.setattr(cli, "err", Console(file=io.StringIO(), force_terminal=True))
    bar = cli._LazyProgress(2, "sizing", enabled=True)
    bar.start -= 5.0                      # past the one-second delay: the bar shows at once
    for _ in range(5):
        bar.advance()
    task = bar.progress.tasks[0]
    assert task.completed == 5 and task.total is None and bar.total is None
    bar.close()
    within = cli._LazyProgress(4, "sizing", enabled=True)
    within.start -= 5.0
    for _ in range(3):
        within.advance()
    assert within.progress.tasks[0].total == 4 and within.progress.tasks[0].completed == 3
    within.close()
