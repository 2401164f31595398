"""Incidents on the day's timeline: what fails, for how long, and that it stops."""

import pytest

from capplan.day.failures import Injection, parse_injection
from capplan.errors import CapplanError
from test_day_run import flat


def test_an_election_fails_requests_for_its_duration_and_none_after():
    election = Injection(kind="mongo", at=600.0, duration=60.0)
    r = run_with(flat(), 20 * 60, [election])
    by_minute = {int(m.t // 60): m for m in r.minutes}
    assert by_minute[10].failed > 0
    # a message turn ends with its writes: none completes during the election (API reads and
    # refreshes served from Redis still do)
    assert by_minute[10].messages == 0 and by_minute[9].messages > 0 and by_minute[12].messages > 0
    assert all(m.failed == 0 for k, m in by_minute.items() if k != 10)
    assert any("MongoDB primary election" in e for e in r.events)
    assert any("a new MongoDB primary is elected" in e for e in r.events)


def test_a_slow_provider_delays_the_first_token_while_it_lasts():
    slow = Injection(kind="llm-slow", at=10 * 60.0, duration=10 * 60.0, factor=4.0)
    r = run_with(flat(), 30 * 60, [slow])
    before = [m.ttft_p95_s for m in r.minutes[3:10] if m.ttft_p95_s]
    during = [m.ttft_p95_s for m in r.minutes[12:20] if m.ttft_p95_s]
    after = [m.ttft_p95_s for m in r.minutes[23:30] if m.ttft_p95_s]
    mean = lambda xs: sum(xs) / len(xs)   # noqa: E731
    assert mean(during) > 2.5 * mean(before)
    assert mean(after) < 1.5 * mean(before)


def run_with(profile, until, injections):
    import math

    from capplan.day.run import simulate_day
    from capplan.model.loader import load_tier
    from test_day_run import HPA, T, W

    return simulate_day(load_tier("tier2"), W, 3000, profile, HPA, T, lambda pods: math.ceil(pods / 2), 10, 0.5, 3,
                        until=until, injections=injections)


@pytest.mark.parametrize("text,expected", [
    ("mongo@10:00", Injection("mongo", 36000.0, 12.0, 1.0)),
    ("mongo@9:30/45s", Injection("mongo", 34200.0, 45.0, 1.0)),
    ("llm-slow@14:00", Injection("llm-slow", 50400.0, 1800.0, 3.0)),
    ("llm-slow@1d14:00/1h*5", Injection("llm-slow", 86400.0 + 50400.0, 3600.0, 5.0)),
])
def test_injections_parse(text, expected):
    assert parse_injection(text) == expected


@pytest.mark.parametrize("text,why", [
    ("redis@10:00*2", "only llm-slow takes a factor"),
    ("zone@10:00/5m", "no duration"),
    ("meteor@10:00", "unknown incident"),
    ("mongo@25:00", "not a time of day"),
    ("mongo", "KIND@HH:MM"),
    ("mongo@10:00*3", "only llm-slow takes a factor"),
    ("llm-slow@10:00*0.5", "between 1 and 100"),
    ("mongo@10:00/0s", "positive"),
])
def test_bad_injections_name_the_problem(text, why):
    with pytest.raises(CapplanError, match=why) as exc:
        parse_injection(text)
    assert exc.value.field == "--inject"


def test_losing_one_zone_of_three_removes_a_third_and_the_run_recovers():
    """Three pods on three nodes (one per zone); the zone goes at 10:00: a pod and a node with it.
    Requests on that pod fail in that minute; its replacement waits for a new node (120 s) and its
    start-up (45 s), and from then on the three pods serve and nothing fails."""
    from capplan.day.hpa import HPASpec
    from capplan.day.run import simulate_day
    from capplan.model.loader import load_tier
    from test_day_run import HPA, T, W

    hpa = HPASpec(min_replicas=3, max_replicas=3, target_utilization=0.7, scale_up=HPA.scale_up,
                  scale_down=HPA.scale_down)
    r = simulate_day(load_tier("tier2"), W, 3000, flat(), hpa, T, lambda pods: max(1, pods), 6, 0.5, 3,
                     until=20 * 60, injections=[Injection(kind="zone", at=600.0, duration=0.0)])
    m = {int(x.t // 60): x for x in r.minutes}
    assert all(m[k].pods_ready == 3 and m[k].nodes == 3 and m[k].failed == 0 for k in range(10))
    assert m[10].pods_ready == 2 and m[10].nodes == 2 and m[10].failed > 0
    lost = next(e for e in r.events if "zone lost" in e)
    assert "1 of 3 ready pods and 1 of 3 nodes" in lost
    back = min(k for k in m if k > 10 and m[k].pods_ready == 3)
    # a node (120 s) and a start-up (45 s) after 10:00, seen at a minute's end
    assert 12 <= back <= 13 and m[back].nodes == 3
    assert all(m[k].failed == 0 for k in m if k > 10)
    assert sum(x.messages for x in r.minutes[14:20]) > 0


def test_a_crashed_pod_is_replaced_on_its_node():
    import math

    from capplan.day.hpa import HPASpec
    from capplan.day.run import simulate_day
    from capplan.model.loader import load_tier
    from test_day_run import HPA, T, W

    hpa = HPASpec(min_replicas=2, max_replicas=2, target_utilization=0.7, scale_up=HPA.scale_up,
                  scale_down=HPA.scale_down)
    r = simulate_day(load_tier("tier2"), W, 3000, flat(), hpa, T, lambda pods: math.ceil(pods / 2), 4, 0.5, 3,
                     until=15 * 60, injections=[Injection(kind="pod", at=300.0, duration=0.0)])
    m = {int(x.t // 60): x for x in r.minutes}
    assert all(m[k].failed == 0 for k in range(5)) and m[5].failed > 0
    # the node had room: the replacement starts at once (45 s), no node is added, and by the
    # minute's end two pods serve again
    assert "1 of 2 ready pods and 0 of 1 nodes" in next(e for e in r.events if "pod lost" in e)
    assert m[5].pods_ready == 2 and all(x.nodes == 1 for x in r.minutes)
    assert all(m[k].failed == 0 for k in m if k > 5)


def test_a_redis_failover_fails_redis_commands_and_holds_streams_which_then_resume():
    """Requests counting against the Redis rate limiter fail while no primary answers; streams
    deliver nothing, then resume (their generation went on): the turns in flight complete."""
    r = run_with(flat(), 16 * 60, [Injection(kind="redis", at=600.0, duration=30.0)])
    m = {int(x.t // 60): x for x in r.minutes}
    assert m[10].failed > 0 and all(m[k].failed == 0 for k in m if k != 10)
    assert any("Redis failover" in e for e in r.events) and any("resume" in e for e in r.events)
    # no turn is lost to the failover itself: message turns go on completing right after it
    assert m[11].messages > 0
    # the streams in flight went silent for the failover and the reconnect (33 s), then finished
    assert max(x.stream_gap_p99_s or 0 for x in r.minutes[10:12]) > 25.0
    assert max(x.stream_gap_p99_s or 0 for x in r.minutes[3:10]) < 5.0


def test_a_429_burst_fails_calls_after_their_retries_and_stops():
    r = run_with(flat(), 16 * 60, [Injection(kind="llm-429", at=600.0, duration=120.0)])
    m = {int(x.t // 60): x for x in r.minutes}
    assert all(m[k].failed == 0 for k in range(10))
    assert m[10].failed > 0 and m[11].failed > 0
    # a retry that began during the burst may fail a few seconds after it: none a minute later
    assert all(m[k].failed == 0 for k in m if k >= 13)
