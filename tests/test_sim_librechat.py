"""The LibreChat-specific mechanisms of the engine: streams, memory, pools, rate limits, timers."""

import numpy as np
import pytest

from capplan.forecast import RunSettings, forecast_tiers
from capplan.model.loader import load_tier, load_workload
from capplan.sim.build import build_network, mean_deltas
from capplan.sim.runner import simulate
from capplan.sim.stats import estimate
from edits import tier_with, workload_with

WORKLOAD = load_workload()
SETTINGS = RunSettings(duration=600.0, warmup=120.0, replications=4, seed=3, workers=2)


def _stream_lengths(workload, n=400_000, seed=7):
    """Monte Carlo of one stream's nominal length (ttft + tokens / rate) from the workload's distributions."""
    rng = np.random.default_rng(seed)
    s2 = np.log1p(workload.llm.output_tokens.cv ** 2)
    tokens = rng.lognormal(np.log(workload.llm.output_tokens.mean) - s2 / 2, np.sqrt(s2), n)
    shape = 1 / workload.llm.token_rate.cv ** 2
    rate = rng.gamma(shape, workload.llm.token_rate.mean / shape, n)
    t2 = np.log1p(workload.llm.time_to_first_token.cv ** 2)
    ttft = rng.lognormal(np.log(workload.llm.time_to_first_token.mean) - t2 / 2, np.sqrt(t2), n)
    return ttft, tokens / rate


def test_open_streams_follow_littles_law():
    """Mean open streams = stream rate x mean stream length, both measured by the run."""
    net = build_network(load_tier("tier2"), WORKLOAD, 10000)
    res = simulate(net, duration=900, warmup=120, replications=4, seed=2, workers=2)
    ratios = []
    for rep in res.replications:
        rate = rep.metrics["stream_total"].n / rep.measured_time
        length = rep.metrics["stream_total"].mean
        ratios.append(sum(rep.group_mean_streams["api"]) / (rate * length))
    e = estimate(ratios)
    assert e.low <= 1.0 <= e.high and e.relative_half_width < 0.03


def test_redis_carries_the_streams_and_requests_work_broadcast_on_every_node():
    """Carried Redis work = per delta (22 own commands + 1 PUBLISH broadcast to each other node) plus
    3 commands per request, x 8 us; with sharded pub/sub the broadcast is gone."""
    w = WORKLOAD
    deltas = mean_deltas(w.llm.output_tokens, w.llm.token_rate, w.llm.coalesce_window, w.llm.tokens_per_chunk)
    for sharded in (False, True):
        tier = tier_with("tier2", redis__nodes=3, redis__sharded_pubsub=sharded)
        res = simulate(build_network(tier, w, 10000), duration=900, warmup=120, replications=4, seed=5, workers=2)
        per_delta = (22 + (0 if sharded else 2)) * 8e-6
        values = []
        for rep in res.replications:
            streams = rep.metrics["stream_total"].n / rep.measured_time
            redis_requests = (rep.metrics["response:message"].n + rep.metrics["response:refresh"].n) / rep.measured_time
            reads = rep.metrics["response:api_read"].n / rep.measured_time
            # messages and refreshes: 3 ops each; API reads: 3 ops + a Redis cache lookup for 0.9 x 0.3 of them
            expected = streams * deltas * per_delta + (redis_requests + reads) * 3 * 8e-6 + reads * 0.9 * 0.3 * 8e-6
            values.append(rep.station_work["redis"] / expected)
        e = estimate(values)
        assert e.low <= 1.0 <= e.high and e.relative_half_width < 0.05, (sharded, e)


def test_stream_cpu_is_per_delta_so_a_slower_model_costs_no_more_than_its_tokens():
    """Deltas per answer are min(tokens, length / 25 ms): a model at half the speed makes more deltas
    (up to one per token), never more than the tokens; a faster one fewer."""
    w = WORKLOAD
    base = mean_deltas(w.llm.output_tokens, w.llm.token_rate, 0.025, 1.0)
    slow = mean_deltas(w.llm.output_tokens, w.llm.token_rate.scaled(0.25), 0.025, 1.0)
    fast = mean_deltas(w.llm.output_tokens, w.llm.token_rate.scaled(4.0), 0.025, 1.0)
    assert fast < base < slow <= w.llm.output_tokens.mean * 1.001
    # the old model charged CPU per second of generation: 4x slower was 4x the work; now at most 1/0.8
    assert slow / base < 1.3


def test_peak_memory_is_base_plus_streams():
    f = forecast_tiers([load_tier("tier1")], WORKLOAD, 10000, SETTINGS)[0]
    peak_streams = f.peak_streams_per_replica["api"]
    expected = 350 + peak_streams * WORKLOAD.stream_memory_mib
    assert f.peak_memory_mib_per_replica["api"] == pytest.approx(expected, rel=0.05)


def test_small_db_pool_shows_pool_wait_apart_from_db_service():
    tier = tier_with("current", mongo__pool_per_process=1, mongo__cores=1)
    slow = workload_with(mongo__history_read={"kind": "exponential", "mean": 0.03})
    net = build_network(tier, slow, 5000)
    res = simulate(net, duration=600, warmup=60, replications=3, seed=4, workers=2)
    pool_wait = res.pool_wait("api.db_pool")
    assert pool_wait.share_positive.mean > 0.05
    assert pool_wait.mean.low > 0
    # with one connection, at most one query is ever at the DB: it never queues there
    assert res.station_wait("mongo.primary").share_positive.mean == 0.0


def test_shared_ip_without_trust_proxy_hits_the_per_ip_limit():
    """Everyone behind one IP: a fixed 1-minute window lets exactly 40 messages through, in a burst at
    its start, so a measured window of T seconds holds between floor(T / 60) and ceil(T / 60) bursts."""
    nat = workload_with(rate_limits__users_per_ip=1_000_000)
    res = simulate(build_network(load_tier("tier2"), nat, 20000), duration=600, warmup=120, replications=4, seed=3,
                   workers=2)
    for rep in res.replications:
        t = rep.measured_time
        passed = rep.metrics["ttft"].n
        assert 40 * (t // 60) - 40 <= passed <= 40 * (t // 60 + 1) + 40, (passed, t)
        assert rep.rejected["rate limit per-IP messages"] > 5 * passed
    f = forecast_tiers([load_tier("tier2")], nat, 20000, SETTINGS)[0]
    assert f.verdict == "saturated" and f.error_share > 0.2
    assert f.bottleneck == "rate limit per-IP messages"
    assert "rate limit per-IP messages" in f.over_capacity


def test_idle_timers_cut_silences_and_total_timers_cut_length():
    """Long answers that keep streaming pass a 60 s idle timer (nginx); a 30 s total timer (the GCP
    load balancer) cuts every stream longer than 30 s: P(ttft + tokens / rate > 30 s), by Monte Carlo
    of the same distributions, lies in the run's interval."""
    long_answers = workload_with(llm__output_tokens={"kind": "lognormal", "mean": 1500, "cv": 0.8})
    f = forecast_tiers([load_tier("tier2")], long_answers, 3000, RunSettings(duration=1800.0, warmup=120.0,
                                                                             replications=8, seed=3, workers=2))[0]
    cuts = {c.timer.hop: c.share for c in f.timer_cuts}
    ttft, gen = _stream_lengths(long_answers)
    expected = float(np.mean(ttft + gen > 30.0))
    gcp = cuts["load balancer gclb"]
    assert expected > 0.2 and gcp.low <= expected <= gcp.high
    assert cuts["load balancer alb"].mean == 0.0 and cuts["cdn cloudflare"].mean == 0.0
    assert any(w.startswith("on gcp:") and "total timer" in w for w in f.warnings)


def test_a_reasoning_model_silence_is_cut_by_an_idle_timer():
    """Half the answers think for lognormal(20 s, cv 1) before the first token: the 60 s nginx idle
    timer cuts those whose silence (thinking + ttft) passes 60 s."""
    w = load_workload("reasoning")
    f = forecast_tiers([load_tier("tier1-no-queue")], w, 3000, RunSettings(duration=1800.0, warmup=120.0,
                                                                           replications=4, seed=8, workers=2))[0]
    rng = np.random.default_rng(11)
    n = 400_000
    s2 = np.log1p(1.0)
    thinking = rng.lognormal(np.log(20.0) - s2 / 2, np.sqrt(s2), n)
    t2 = np.log1p(0.25)
    ttft = rng.lognormal(-t2 / 2, np.sqrt(t2), n)
    expected = 0.5 * float(np.mean(thinking + ttft > 60.0))
    nginx = next(c.share for c in f.timer_cuts if c.timer.hop == "proxy nginx")
    assert expected > 0.01 and nginx.low <= expected <= nginx.high
    assert f.streams_cut_share.mean >= nginx.mean and any("proxy nginx idle timer" in w for w in f.warnings)


def test_more_replicas_move_the_bottleneck_off_the_app():
    few = forecast_tiers([tier_with("tier2", services__0__replicas=2)], WORKLOAD, 20000, SETTINGS)[0]
    many = forecast_tiers([tier_with("tier2", services__0__replicas=12)], WORKLOAD, 20000, SETTINGS)[0]
    assert few.bottleneck == "api.cpu" and few.unstable
    assert many.utilization["api.cpu"].high < few.utilization["api.cpu"].low
    assert many.api_latency.p95.high < few.api_latency.p95.low


def test_the_bottleneck_is_never_an_idle_baseline():
    """At 100 users an idle process's 350 MiB is the biggest utilization figure; the bottleneck is
    what grows with load."""
    for f in forecast_tiers([load_tier(n) for n in ("current", "tier1", "tier2", "tier3", "microservices")],
                            WORKLOAD, 100, RunSettings(duration=300.0, replications=2, seed=1, workers=2)):
        assert not f.bottleneck.startswith("memory:"), f.tier
        assert f.verdict == "stable"


def test_provider_limits_answer_429_retry_with_back_off_and_fail_after_the_last_retry():
    """An account limited to 1M tokens a minute against ~3.5M offered: calls are refused with 429,
    the client retries after 0.5 s, 1 s (the SDK's back-off), then the message fails; failures count."""
    tight = workload_with(llm__limits__tpm=1_000_000)
    f = forecast_tiers([load_tier("tier2")], tight, 30000, SETTINGS)[0]
    assert f.analytic.offered["llm.tpm"] > 1.0 and f.analytic.kinds["llm.tpm"] == "limit"
    assert f.provider["throttled_share"] > 0.3 and f.provider["failed_share"] > 0.1
    assert f.rejected.get("llm provider 429 (rate limit)", 0) > 0
    assert f.error_share > 0.01 and f.verdict == "saturated" and f.bottleneck == "llm.tpm"
    # a retried call waited for its back-off: the p95 wait at the provider is at least the first one
    assert f.provider_wait.p95.mean >= 0.5 * 0.75
    # what got through stays under the bucket (a full bucket at the window's start is the only slack);
    # the long prompts are the ones refused, so the calls that pass are shorter than the mean
    window_min = f.duration / 60
    assert 0.9 * 1_000_000 < f.provider["tokens_per_min"] <= 1_000_000 * (1 + 1 / window_min)
    assert f.provider["tokens_per_min"] / 60 / f.provider["calls_per_s"] < WORKLOAD.mean_input_tokens() + 500


def test_a_slower_provider_stretches_every_stream_by_the_knob():
    """slowdown k = 2: time to first token x 2 and tokens/s / 2, so a stream lasts twice as long."""
    run = RunSettings(duration=1200.0, replications=4, seed=2, workers=2)
    base = forecast_tiers([load_tier("tier2")], WORKLOAD, 3000, run)[0]
    slow = forecast_tiers([load_tier("tier2")], workload_with(llm__slowdown=2.0), 3000, run)[0]
    ttft_ratio = slow.ttft.mean.mean / base.ttft.mean.mean
    assert 1.8 < ttft_ratio < 2.2
    assert slow.peak_streams_per_replica["api"] > base.peak_streams_per_replica["api"]
    assert slow.longest_stream_p99_s == pytest.approx(2 * base.longest_stream_p99_s, rel=0.05)


def test_the_seed_istio_pool_refuses_streams_past_its_connections():
    """The seed's DestinationRule: 100 connections and 100 pending requests. Every turn holds a
    connection for its stream, so at ~20 concurrent turns per 2,000 users the pool fills near 10,000
    users and, past the pending queue, Envoy answers 503."""
    light = forecast_tiers([load_tier("tier2-as-written")], WORKLOAD, 3000, SETTINGS)[0]
    heavy = forecast_tiers([load_tier("tier2-as-written")], WORKLOAD, 25000, SETTINGS)[0]
    assert light.reject_share.mean == 0.0
    assert heavy.rejected.get("mesh.connections full", 0) > 0 and heavy.reject_share.mean > 0.05
    assert heavy.utilization["mesh.connections"].mean > 0.99
    # its 30 s route timeout is a total timer: every answer longer than 30 s is cut
    route = next(c for c in heavy.timer_cuts if c.timer.hop == "mesh route (istio)")
    assert route.timer.timer == "total" and route.share.mean > 0.02


def test_the_seed_global_rate_limit_binds_with_the_seed_limits():
    """The seed's global 10,000 requests/min: ~4.5 requests per message at 1.25 messages/s per 3,000
    users binds near 90,000 users; at 120,000 requests are refused."""
    w = load_workload("seed-limits")
    f = forecast_tiers([load_tier("tier2")], w, 120_000, RunSettings(duration=300.0, replications=2, seed=1,
                                                                     workers=2))[0]
    assert f.analytic.offered["rate limit global requests"] > 1.0
    assert f.rejected.get("rate limit global requests", 0) > 0


def test_kafka_is_an_event_bus_not_a_cap_on_generations():
    """One slow consumer falls behind (its lag grows: unstable), yet users' turns never wait for it."""
    slow_bus = tier_with("tier3", event_bus__consumers=1, event_bus__partitions=1,
                         event_bus__consume_time={"kind": "exponential", "mean": 0.5})
    run = RunSettings(duration=600.0, replications=3, seed=4, workers=2)
    fast = forecast_tiers([load_tier("tier3")], WORKLOAD, 20000, run)[0]
    lagging = forecast_tiers([slow_bus], WORKLOAD, 20000, run)[0]
    assert lagging.unstable and "kafka.consumers" in lagging.over_capacity
    assert fast.verdict == "stable"
    # the user-facing figures are the same interval either way
    assert lagging.messages_per_second.low <= fast.messages_per_second.high
    assert fast.messages_per_second.low <= lagging.messages_per_second.high
    assert lagging.ttft.p95.low <= fast.ttft.p95.high * 1.1


def test_background_cpu_leaves_requests_the_rest_of_the_core():
    """cpu.background b (timers, GC, scrapes: what `capplan calibrate` fits as the utilization law's
    intercept) takes its share of each process first: requests see 1 - b of the core, so the
    offered utilization of the API's CPU is 1 / (1 - b) times the same load's without it, and the
    simulated one follows."""
    from capplan.screen import screen

    tier = load_tier("tier2")
    plain = build_network(tier, WORKLOAD, 3000)
    busy = build_network(tier, workload_with(cpu__background=0.25), 3000)
    # (to 0.1%: the slower loop lengthens a turn a little, so one session user fewer or more refreshes)
    assert screen(busy).offered["api.cpu"] == pytest.approx(screen(plain).offered["api.cpu"] / 0.75, rel=1e-3)
    # (eight replications: with four, Student's t at 3 degrees of freedom leaves the interval some
    # seeds' +-7% wide at this 9% load)
    res = simulate(busy, duration=600, warmup=120, replications=8, seed=5, workers=2)
    util = res.station_utilization("api.cpu")
    assert util.low <= screen(busy).utilization["api.cpu"] <= util.high and util.relative_half_width < 0.05


def test_a_fifo_loop_makes_requests_wait_behind_whole_jobs():
    """Node runs each callback to completion and queues every awaited answer behind what is ready:
    near capacity a request waits longer than processor sharing says (short requests can no longer
    overtake a 40 ms message POST, and each await queues again); at light load the two agree."""
    # 8 replications: at 90% a FIFO loop's p95 varies several-fold between 900 s runs
    run = RunSettings(duration=900.0, warmup=120.0, replications=8, seed=4, workers=2)
    tier = load_tier("current")

    def at(users, loop):
        return forecast_tiers([tier], workload_with(cpu__event_loop=loop), users, run)[0]

    fifo, shared = at(8000, "fifo"), at(8000, "shared")
    assert fifo.utilization["api.cpu"].mean > 0.85
    assert fifo.api_latency.p95.low > shared.api_latency.p95.high
    light_fifo, light_shared = at(2000, "fifo"), at(2000, "shared")
    assert light_fifo.api_latency.p95.mean == pytest.approx(light_shared.api_latency.p95.mean, rel=0.2)


def test_a_saturated_fifo_loop_reads_the_deltas_that_piled_up_together():
    """Past capacity a stream's deltas arrive faster than its loop turns come round: each turn takes
    every delta sent since (as Node reads a socket), so streams fall behind the provider's pace by
    the loop's wait, and the loop makes far fewer visits than one per delta."""
    w = workload_with(cpu__event_loop="fifo")
    net = build_network(load_tier("current"), w, 12000)
    res = simulate(net, duration=900, warmup=120, replications=2, seed=4, workers=2)
    assert res.station_utilization("api.cpu").mean > 0.99
    deltas = mean_deltas(w.llm.output_tokens, w.llm.token_rate, w.llm.coalesce_window, w.llm.tokens_per_chunk)
    for rep in res.replications:
        stretch = rep.metrics["stream_stretch"]
        assert stretch.n > 100 and stretch.quantile(0.95) > 1.5
        # visits per second at the loop against deltas per second (streams finished x E[deltas]):
        # turns of the idle loop's 4-delta slices would make about 0.3 per delta here, reading what
        # piled up makes under 0.1
        assert rep.station_throughput["api.cpu"] < 0.15 * rep.streams_total / rep.measured_time * deltas
