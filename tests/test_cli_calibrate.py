"""capplan calibrate end to end: a messages export and an access log in, a workload that loads out."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from capplan.model.loader import load_workload

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_calibrate_accesslog import LOG  # noqa: E402
from test_calibrate_messages import export  # noqa: E402


def capplan(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=os.environ)


def test_a_fitted_workload_loads_and_keeps_the_base_elsewhere(tmp_path):
    (tmp_path / "messages.json").write_text(export())
    (tmp_path / "access.log").write_text("".join(LOG.splitlines(keepends=True)[:2]) * 40)   # 40 POSTs, 40 streams
    proc = capplan("calibrate", "--messages", "messages.json", "--access-log", "access.log", "--out", "fitted.yaml",
                   cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "default vs fitted" in proc.stdout and "wrote fitted.yaml" in proc.stdout
    fitted, base = load_workload(tmp_path / "fitted.yaml"), load_workload()
    assert 5.5 < fitted.demand.messages_per_active_user_per_day < 6.5      # the export's 6 a day
    assert 80 < fitted.think_time.mean < 100 and fitted.think_time.kind == "gamma"
    assert fitted.api_reads_per_message == 0.0                              # the log's 0 reads per POST
    assert fitted.cpu == base.cpu and fitted.llm.token_rate == base.llm.token_rate   # not fitted: the base's
    text = (tmp_path / "fitted.yaml").read_text()
    assert text.count("# fitted: 95% CI") == 6 and "extends: librechat" in text
    # the same inputs and seed give the same file
    again = capplan("calibrate", "--messages", "messages.json", "--access-log", "access.log", cwd=tmp_path)
    assert again.stdout == text


def test_bad_sources_are_one_line(tmp_path):
    (tmp_path / "m.json").write_text(export(users=3, days=2))
    cases = [(["calibrate"], "--messages"), (["calibrate", "--messages", "m.json", "--base", "nosuch"], "--base"),
             (["calibrate", "--messages", "nothere.json"], "nothere.json")]
    for args, needle in cases:
        proc = capplan(*args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and lines[0].startswith("error:") and needle in lines[0], args
    # too little for some figures: those keep the base's value, and the output says so
    thin = capplan("calibrate", "--messages", "m.json", "--out", "thin.yaml", cwd=tmp_path)
    assert thin.returncode == 0, thin.stderr
    assert "demand.messages_per_active_user_per_day: not fitted (6 user-days; need 30); librechat's value kept" in \
        " ".join(thin.stdout.split())
    # too little for any: refused
    (tmp_path / "one.json").write_text(export(users=1, days=1, per_day=2.0))
    none = capplan("calibrate", "--messages", "one.json", cwd=tmp_path)
    assert none.returncode == 2 and "nothing could be fitted" in none.stderr and len(none.stderr.strip().splitlines()) == 1
