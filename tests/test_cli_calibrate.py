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


def _serve(folder):
    """A loopback stand-in for Prometheus's query_range API, answering from saved responses by query."""
    import http.server
    import json
    import threading
    import urllib.parse

    from capplan.calibrate.metrics import QUERIES

    by_query = {promql: json.loads((folder / f"{name}.json").read_text()) for name, promql in QUERIES.items()}
    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):   # noqa: N802 (http.server's name)
            url = urllib.parse.urlparse(self.path)
            args = urllib.parse.parse_qs(url.query)
            seen.append(args)
            doc = by_query.get(args.get("query", [""])[0], {"status": "error", "error": "unknown series"})
            body = json.dumps(doc).encode()
            self.send_response(200 if url.path == "/api/v1/query_range" and doc["status"] == "success" else 400)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, seen


def test_cpu_and_llm_pace_from_saved_and_live_prometheus(tmp_path):
    from test_calibrate_metrics import TRUE, save, synthetic

    docs, _ = synthetic(windows=240)
    save(tmp_path / "saved", docs)
    (tmp_path / "base.yaml").write_text("kind: workload\nname: mine\nextends: librechat\napi_reads_per_message: 2\n")
    (tmp_path / "out").mkdir()
    proc = capplan("calibrate", "--prometheus", "saved", "--base", "base.yaml", "--out", "out/fitted.yaml", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "out" / "fitted.yaml").read_text()
    assert "extends: ../base.yaml" in text and "R² 0.99" in text
    fitted = load_workload(tmp_path / "out" / "fitted.yaml")
    assert fitted.api_reads_per_message == 2                           # the user's base, extended by path
    assert abs(fitted.cpu.api_read.mean - TRUE["api_read"]) < 0.1 * TRUE["api_read"]
    assert fitted.cpu.api_read.kind == "exponential" and fitted.llm.token_rate.kind == "gamma"
    assert "cpu.refresh: not fitted" in " ".join(proc.stdout.split())
    # the live path: capplan issues the queries, saves the answers, and fits the same numbers
    server, seen = _serve(tmp_path / "saved")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        live = capplan("calibrate", "--prometheus", url, "--start", "2023-11-14T22:13:20Z", "--end", "1700001000",
                       "--step", "5s", "--save-prometheus", "again", "--base", "../base.yaml", cwd=tmp_path / "out")
        assert live.returncode == 0, live.stderr
        assert live.stdout.split("\n", 2)[2] == text.split("\n", 2)[2]   # the same fit (the header names the source)
        assert seen[0]["step"] == ["5"] and seen[0]["start"] == ["1700000000.000"]
        assert sorted(p.name for p in (tmp_path / "out" / "again").iterdir()) == sorted(f"{n}.json" for n in docs)
        bad = capplan("calibrate", "--prometheus", url, "--start", "1700000000", "--query", "cpu=nosuch_metric",
                      cwd=tmp_path)
        assert bad.returncode == 2 and "unknown series" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    finally:
        server.shutdown()


def test_bad_prometheus_options_are_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    cases = [
        (["--prometheus", "nowhere"], "neither a Prometheus URL"),
        (["--prometheus", "empty"], "no saved response for cpu"),
        (["--prometheus", "empty", "--start", "0"], "--start: only with a live --prometheus URL"),
        (["--prometheus", "http://127.0.0.1:9"], "--start: a live server needs a range"),
        (["--prometheus", "http://127.0.0.1:9", "--start", "yesterday"], "neither unix seconds nor an RFC 3339"),
        (["--prometheus", "http://127.0.0.1:9", "--start", "0", "--step", "0s"], "--step"),
        (["--prometheus", "http://127.0.0.1:9", "--start", "0", "--end", "inf"], "--end: 'inf' is not a time"),
        (["--prometheus", "http://127.0.0.1:9", "--start", "0"], "cannot reach Prometheus"),
        (["--prometheus", "empty", "--query", "cpu"], "not NAME=PROMQL"),
        (["--prometheus", "empty", "--base", "missing.yaml"], "--base: no such file"),
    ]
    for args, needle in cases:
        proc = capplan("calibrate", *args, cwd=tmp_path)
        lines = proc.stderr.strip().splitlines()
        assert proc.returncode == 2 and len(lines) == 1 and needle in lines[0], (args, proc.stderr)
