"""Incidents on the day's timeline: what fails, for how long, and that it stops."""

import pytest

from capplan.day.failures import Injection, parse_injection
from capplan.errors import CapplanError
from test_day_run import flat, run


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
    ("zone@10:00", "not simulated yet"),
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
