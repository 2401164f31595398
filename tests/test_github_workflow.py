"""The GitHub Actions example (examples/github/capplan-check.yml) runs as GitHub would run it.

Its steps after the install are executed with bash on a real git repository: a target branch
``main`` (fetched as ``origin/main``) and a pull-request branch, ``gh`` replaced by a stub that
records the comment. ``${{ ... }}`` expressions and the steps' ``if:`` conditions are evaluated for
the few expressions the workflow uses. The plan names a relative workload file, the case that
broke the baseline when only the plan was copied out of the target branch.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / "examples" / "github" / "capplan-check.yml"

PLAN = """\
kind: plan
name: chat
workload: traffic/workload.yaml
users: {now: 200, forecast: %(users)d}
providers: [aws]
tier: tier1
slo: {p95: 2s}
budget: {monthly_usd: %(budget)d, max_increase_pct: 50%%}
replications: 2
today: 2026-11-28
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True,
                   env={**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
                        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"})


def _repo(tmp_path: Path, base_plan: str, pr_plan: str) -> Path:
    repo = tmp_path / "repo"
    (repo / "traffic").mkdir(parents=True)
    workload = subprocess.run([_capplan(), "workload", "show"], capture_output=True, text=True, check=True).stdout
    (repo / "traffic" / "workload.yaml").write_text(workload, encoding="utf-8")
    (repo / "capplan.yaml").write_text(base_plan, encoding="utf-8")
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    _git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(repo, "checkout", "-q", "-b", "change")
    (repo / "capplan.yaml").write_text(pr_plan, encoding="utf-8")
    _git(repo, "commit", "-q", "-am", "change")
    return repo


def _capplan() -> str:
    found = shutil.which("capplan", path=str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
    if found is None:
        pytest.skip("the capplan command is not installed")
    return found


def _expand(text: str, outputs: dict[str, str]) -> str:
    values = {"github.base_ref": "main", "github.token": "token", "github.event.pull_request.number": "7",
              "steps.check.outputs.exit": outputs.get("exit", "")}

    def one(match: re.Match) -> str:
        key = match.group(1).strip()
        if key not in values:
            raise AssertionError(f"the test does not know the workflow expression {key!r}")
        return values[key]

    return re.sub(r"\$\{\{(.*?)\}\}", one, text)


def _condition(expr: str, outputs: dict[str, str]) -> bool:
    """The workflow's `if:` expressions: comparisons of steps.check.outputs.exit joined by || and &&."""
    py = expr.replace("steps.check.outputs.exit", repr(outputs.get("exit", ""))).replace("||", " or ").replace("&&", " and ")
    assert re.fullmatch(r"[\s'0-9a-z=!]*", py), f"unexpected `if:` expression {expr!r}"
    return bool(eval(py))  # noqa: S307 - only quoted digits, ==, !=, or, and (asserted above)


def run_workflow(repo: Path, tmp_path: Path) -> dict:
    """Run the steps from the baseline on; the job's exit code, the comments posted and the log."""
    steps = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))["jobs"]["check"]["steps"]
    start = next(i for i, s in enumerate(steps) if s.get("name", "").startswith("Baseline"))
    stub = tmp_path / "bin"
    stub.mkdir(exist_ok=True)
    comments = tmp_path / "comments.log"
    (stub / "gh").write_text(f'#!/bin/sh\necho "$@" >> "{comments}"\ncat "$5" >> "{comments}"\n', encoding="utf-8")
    (stub / "gh").chmod(0o755)
    runner_temp = tmp_path / "runner"
    runner_temp.mkdir(exist_ok=True)
    output_file = tmp_path / "github_output"
    output_file.write_text("", encoding="utf-8")
    env = {**os.environ, "PATH": f"{stub}{os.pathsep}{Path(_capplan()).parent}{os.pathsep}{os.environ['PATH']}",
           "RUNNER_TEMP": str(runner_temp), "GITHUB_OUTPUT": str(output_file), "CAPPLAN_CACHE_DIR": str(tmp_path / "cache")}
    outputs: dict[str, str] = {}
    log = []
    for step in steps[start:]:
        if "if" in step and not _condition(step["if"], outputs):
            log.append(f"skipped: {step['name']}")
            continue
        proc = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", _expand(step["run"], outputs)], cwd=repo,
                              env=env, capture_output=True, text=True, timeout=300)
        log.append(f"{step['name']}: exit {proc.returncode}\n{proc.stdout}{proc.stderr}")
        for line in output_file.read_text(encoding="utf-8").splitlines():
            key, _, value = line.partition("=")
            outputs[key] = value
        if proc.returncode != 0:  # GitHub stops the job at the first failing step
            return {"exit": proc.returncode, "comments": _read(comments), "log": "\n".join(log), "outputs": outputs}
    return {"exit": 0, "comments": _read(comments), "log": "\n".join(log), "outputs": outputs}


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.exists() else ""


@pytest.fixture(scope="module", autouse=True)
def _needs_git():
    if shutil.which("git") is None or shutil.which("bash") is None:
        pytest.skip("git and bash are needed")


def test_a_change_within_budget_is_compared_with_the_target_branch(tmp_path):
    repo = _repo(tmp_path, PLAN % {"users": 300, "budget": 5000}, PLAN % {"users": 400, "budget": 5000})
    job = run_workflow(repo, tmp_path)
    assert job["exit"] == 0, job["log"]
    # the baseline came from the target branch's tree although its plan names a relative workload file
    assert (tmp_path / "runner" / "baseline.json").stat().st_size > 0, job["log"]
    assert "pr comment 7" in job["comments"]
    assert "baseline" in job["comments"].lower(), job["comments"]


def test_a_budget_breach_is_commented_and_fails_with_exit_1(tmp_path):
    repo = _repo(tmp_path, PLAN % {"users": 300, "budget": 5000}, PLAN % {"users": 300, "budget": 10})
    job = run_workflow(repo, tmp_path)
    assert job["exit"] == 1, job["log"]
    assert job["outputs"]["exit"] == "1"
    assert "budget" in job["comments"].lower(), job["comments"]


def test_bad_input_fails_with_exit_2_and_posts_no_verdict(tmp_path):
    bad = (PLAN % {"users": 300, "budget": 5000}).replace("tier: tier1", "tier: tier9")
    repo = _repo(tmp_path, PLAN % {"users": 300, "budget": 5000}, bad)
    job = run_workflow(repo, tmp_path)
    assert job["exit"] == 2, job["log"]
    assert job["comments"] == ""          # nothing reported as a budget or SLO verdict
    assert "error: " in job["log"] and "tier9" in job["log"]
    assert "::error::capplan check: bad input" in job["log"]
