"""capplan simulate / tiers end to end through the installed console script."""

import json
import subprocess
import sys

import pytest

QUICK = ["--duration", "60s", "--warmup", "20s", "--replications", "2"]


def capplan(*args, check=False):
    proc = subprocess.run([sys.executable, "-m", "capplan.cli", *args], capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_version():
    proc = capplan("--version", check=True)
    assert proc.stdout.startswith("capplan ")


def test_tiers_lists_every_architecture_with_claimed_range():
    out = capplan("tiers", check=True).stdout
    for name, claimed in [("current", "50-100"), ("tier1", "500-1,000"), ("tier2", "1,000-5,000"),
                          ("tier3", "5,000+"), ("microservices", "10,000+")]:
        assert name in out and claimed in out


def test_json_shape_and_byte_identical_for_same_seed():
    args = ["simulate", "--users", "800", "--tier", "current", "--tier", "tier1", "--seed", "7", "--json", *QUICK]
    first = capplan(*args, check=True).stdout
    second = capplan(*args, "--workers", "1", check=True).stdout  # serial and parallel agree too
    assert first == second
    doc = json.loads(first)
    assert doc["users"] == 800 and doc["seed"] == 7
    assert [t["tier"] for t in doc["tiers"]] == ["current", "tier1"]
    for t in doc["tiers"]:
        for key in ("api_latency_s", "ttft_s"):
            assert set(("p50", "p95", "p99")) <= set(t[key])
            assert 0 < t[key]["p50"] <= t[key]["p95"] <= t[key]["p99"]
        assert t["utilization"] and all(0 <= v for v in t["utilization"].values())
        assert t["bottleneck"] in t["utilization"] or t["bottleneck"].startswith("rate limit")
        assert t["verdict"] in ("stable", "saturated", "unstable")
        assert 0 <= t["failed_share"] <= 1 and t["messages_per_s"]["offered"] > 0
    other = capplan("simulate", "--users", "800", "--tier", "current", "--tier", "tier1", "--seed", "8", "--json",
                    *QUICK, check=True).stdout
    assert other != first


def test_table_output_names_every_tier():
    out = capplan("simulate", "--users", "300", "--tier", "tier2", "--tier", "microservices", *QUICK, check=True).stdout
    assert "tier2" in out and "verdict" in out and "API latency p95" in out and "failed (refused or cut)" in out


def test_textbook_scenario_runs_from_cli(tmp_path):
    from capplan.data import data_dir

    path = data_dir("scenarios") / "textbook" / "mm1.yaml"
    doc = json.loads(capplan("simulate", "--scenario", str(path), "--duration", "2000", "--replications", "2",
                             "--json", check=True).stdout)
    assert doc["scenario"] == "mm1" and doc["stations"]["server"]["utilization"] > 0.5


def test_network_json_has_every_figure_with_an_interval():
    """A BCMP network (PS, FCFS and IS stations, two classes): per class, per station and per class at
    each station, blocking and P(N = n), each with its 95% interval."""
    from capplan.data import data_dir

    path = data_dir("scenarios") / "textbook" / "bcmp.yaml"
    doc = json.loads(capplan("simulate", "--scenario", str(path), "--duration", "3000", "--replications", "3",
                             "--json", check=True).stdout)
    for name, st in doc["stations"].items():
        assert st["blocking"]["mean"] == 0.0 and len(st["blocking"]["ci95"]) == 2
        probs = st["state_probabilities"]
        assert abs(sum(p["mean"] for p in probs.values()) - 1.0) < 1e-6
        assert all(len(p["ci95"]) == 2 for p in probs.values())
        assert set(st["classes"]) == {"a", "b"}
        for cls in st["classes"].values():
            for key in ("throughput_per_s", "in_system"):
                low, high = cls[key]["ci95"]
                assert low <= cls[key]["mean"] <= high
        assert st["in_system"] == pytest.approx(sum(c["in_system"]["mean"] for c in st["classes"].values()), rel=0.02)
    assert doc["stations"]["net"]["utilization"] is None          # infinite servers: no utilization
    assert doc["stations"]["net"]["classes"]["a"]["utilization_share"] is None
    assert 0 < doc["stations"]["cpu"]["classes"]["b"]["utilization_share"]["mean"] < 1
    assert doc["classes"]["a"]["throughput_per_s"]["mean"] > 0


def test_any_user_count_finishes_bounded_or_refuses_in_one_line():
    """Ten million users: the tiers are far past capacity, so each runs where its busiest resource is
    offered 150% and says so; the figures are lower bounds."""
    doc = json.loads(capplan("simulate", "--users", "10000000", "--tier", "tier2", "--json", "--replications", "2",
                             check=True).stdout)
    t = doc["tiers"][0]
    assert t["verdict"] == "unstable" and t["api_latency_s"]["p95"] is None
    assert t["steady_state"]["simulated_users"] < 10_000_000 and t["over_capacity"]["api.cpu"] > 100
    assert any("simulated at" in w for w in t["warnings"])


def test_a_point_too_large_to_simulate_and_not_over_capacity_is_refused():
    from capplan.errors import CapplanError
    from capplan.forecast import forecast_tiers
    from capplan.model.loader import load_workload
    from edits import tier_with

    # big enough for two million users: ~60,000 people in a session at the peak
    huge = tier_with("tier2", services__0__replicas=1000, redis__nodes=100, redis__sharded_pubsub=True,
                     mongo__cores=16, mongo__shards=4)
    with pytest.raises(CapplanError, match="simulates at most 50,000") as err:
        forecast_tiers([huge], load_workload(), 2_000_000)
    assert "\n" not in str(err.value) and str(err.value).startswith("--users: ")


def test_provider_picks_the_load_balancer_timer():
    args = ["simulate", "--users", "3000", "--tier", "tier2", "--json", "--duration", "600s", "--replications", "2"]
    gcp = json.loads(capplan(*args, "--provider", "gcp", check=True).stdout)["tiers"][0]
    aws = json.loads(capplan(*args, "--provider", "aws", check=True).stdout)["tiers"][0]
    # tier2's Istio mesh adds Envoy's stream idle timer on both providers; the load balancer's is the provider's
    assert [t["hop"] for t in gcp["streams"]["timers"]] == ["cdn cloudflare", "load balancer gclb",
                                                           "mesh stream idle (envoy)"]
    assert gcp["streams"]["cut_share"] > 0.02 and aws["streams"]["cut_share"] == 0.0


BAD_YAML = "kind: network\nname: x\nstations: [{name: s}\n"
MISSING_STATION = """kind: network
name: x
stations: [{name: s}]
classes:
  - name: c
    interarrival: {kind: exponential, mean: 1}
    route: [{station: nowhere, service: {kind: exponential, mean: 0.5}}]
"""
NEGATIVE_CV = MISSING_STATION.replace("nowhere", "s").replace("{kind: exponential, mean: 0.5}",
                                                               "{kind: gamma, mean: 0.5, cv: -1}")
UNKNOWN_FIELD = MISSING_STATION.replace("nowhere", "s").replace("name: x", "name: x\nbogus: 1")


@pytest.mark.parametrize("args,files,needle", [
    (["simulate", "--users", "0"], {}, "--users"),
    (["simulate", "--users", "-5"], {}, "--users"),
    (["simulate", "--tier", "tier9"], {}, "tier"),
    (["simulate", "--scenario", "{bad}"], {"bad": BAD_YAML}, "malformed YAML"),
    (["simulate", "--scenario", "{bad}"], {"bad": MISSING_STATION}, "nowhere"),
    (["simulate", "--scenario", "{bad}"], {"bad": NEGATIVE_CV}, "cv"),
    (["simulate", "--scenario", "{bad}"], {"bad": UNKNOWN_FIELD}, "bogus"),
    (["simulate", "--workload", "{bad}"], {"bad": "peak_active_share: 2\n"}, "peak_active_share"),
    (["simulate", "--scenario", "{bad}"], {}, "not found"),
    (["simulate", "--replications", "1"], {}, "replications"),
    (["simulate", "--duration", "soon"], {}, "--duration"),
])
def test_bad_input_is_one_line_exit_2(tmp_path, args, files, needle):
    paths = {}
    for key, text in files.items():
        p = tmp_path / f"{key}.yaml"
        p.write_text(text)
        paths[key] = str(p)
    paths.setdefault("bad", str(tmp_path / "missing.yaml"))
    proc = capplan(*[a.format(**paths) for a in args])
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert needle in lines[0]
