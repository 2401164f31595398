"""The LibreChat-specific mechanisms of the engine: streams, memory, pools, rate limits, timeouts."""

import numpy as np
import pytest

from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import load_tier, load_workload
from capplan.sim.build import build_network
from capplan.sim.runner import simulate
from capplan.sim.stats import estimate
from edits import tier_with, workload_with

WORKLOAD = load_workload()
SETTINGS = RunSettings(duration=300.0, warmup=60.0, replications=4, seed=3, workers=2)


def test_stream_background_load_matches_littles_law():
    """Time-average stream load on Redis = message rate x generating time x load per stream."""
    tier = load_tier("tier2")
    net = build_network(tier, WORKLOAD, 1500)
    res = simulate(net, duration=400, warmup=60, replications=4, seed=2, workers=2)
    per_stream = WORKLOAD.cpu.deltas_per_second * WORKLOAD.caches.redis_commands_per_delta * WORKLOAD.caches.redis_op.mean
    # Redis also serves request-path commands: subtract their measured share (busy time only).
    values = []
    for rep in res.replications:
        msgs = rep.metrics["ttft"].n / rep.measured_time
        generating = rep.group_mean_streams["api"]  # streams incl. time to first token
        total_streams = sum(generating)
        values.append((msgs, total_streams))
    # Little: mean open streams = rate x mean stream length (ttft + tokens / rate)
    rate = estimate([v[0] for v in values])
    mean_streams = estimate([v[1] for v in values])
    stream_len = float(np.mean([WORKLOAD.llm.time_to_first_token.mean + t / r for t, r in zip(
        np.random.default_rng(0).lognormal(np.log(500) - np.log1p(0.64) / 2, np.sqrt(np.log1p(0.64)), 200000),
        np.random.default_rng(1).gamma(1 / 0.09, 50 * 0.09, 200000))]))
    assert abs(mean_streams.mean - rate.mean * stream_len) / mean_streams.mean < 0.05
    assert per_stream > 0


def test_peak_memory_is_base_plus_streams():
    f = forecast_tiers([load_tier("tier1")], WORKLOAD, 2000, SETTINGS)[0]
    peak_streams = f.peak_streams_per_replica["api"]
    expected = 350 + peak_streams * WORKLOAD.stream_memory_mib
    assert f.peak_memory_mib_per_replica["api"] == pytest.approx(expected, rel=0.05)


def test_small_db_pool_shows_pool_wait_apart_from_db_service():
    tier = tier_with("current", mongo__pool_per_process=1, mongo__cores=1)
    slow = workload_with(mongo__history_read={"kind": "exponential", "mean": 0.03})
    net = build_network(tier, slow, 400)
    res = simulate(net, duration=300, warmup=60, replications=3, seed=4, workers=2)
    pool_wait = res.pool_wait("api.db_pool")
    assert pool_wait.share_positive.mean > 0.05
    assert pool_wait.mean.low > 0
    # with one connection, at most one query is ever at the DB: it never queues there
    assert res.station_wait("mongo.primary").share_positive.mean == 0.0


def test_shared_ip_without_trust_proxy_hits_the_per_ip_limit():
    nat = workload_with(rate_limits__users_per_ip=10_000)
    f = forecast_tiers([load_tier("tier2")], nat, 3000, SETTINGS)[0]
    # everyone shares one IP: exactly 40 messages per 1-minute window get through
    assert f.messages_per_second.low <= 40 / 60 <= f.messages_per_second.high
    accepted = f.messages_per_second.mean * f.duration * f.replications
    assert f.rejected["rate limit per-IP messages"] > 5 * accepted
    assert f.saturated
    assert f.bottleneck == "rate limit per-IP messages"


def test_streams_longer_than_the_proxy_timeout_are_counted():
    long_answers = workload_with(llm__output_tokens={"kind": "lognormal", "mean": 3000, "cv": 0.8})
    f = forecast_tiers([load_tier("tier1")], long_answers, 500, SETTINGS)[0]
    # P(ttft + tokens / rate > 60 s) by Monte Carlo of the same distributions
    rng = np.random.default_rng(7)
    n = 400_000
    s2 = np.log1p(0.64)
    tokens = rng.lognormal(np.log(3000) - s2 / 2, np.sqrt(s2), n)
    rate = rng.gamma(1 / 0.09, 50 * 0.09, n)
    t2 = np.log1p(0.25)
    ttft = rng.lognormal(np.log(1.0) - t2 / 2, np.sqrt(t2), n)
    expected = float(np.mean(ttft + tokens / rate > 60.0))
    got = f.streams_over_idle_timeout_share
    assert got.low <= expected <= got.high
    assert any("proxy" in w for w in f.warnings)


def test_more_replicas_move_the_bottleneck_off_the_app():
    few = forecast_tiers([tier_with("tier2", services__0__replicas=2)], WORKLOAD, 3000, SETTINGS)[0]
    many = forecast_tiers([tier_with("tier2", services__0__replicas=12)], WORKLOAD, 3000, SETTINGS)[0]
    assert few.bottleneck == "api.cpu" and few.saturated
    assert many.utilization["api.cpu"].high < few.utilization["api.cpu"].low
    assert many.api_latency.p95.high < few.api_latency.p95.low
