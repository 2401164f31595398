"""Load profiles: the bundled curves, the operator's hourly CSV, spikes."""

import numpy as np
import pytest
from scipy import integrate

from capplan.errors import CapplanError
from capplan.model.loader import bundled_profiles, load_profile
from capplan.model.profile import SECONDS_PER_HOUR, profile_from_csv


@pytest.mark.parametrize("name", sorted(bundled_profiles()))
def test_each_hour_carries_its_share_exactly(name):
    """The curve between hours is smooth, but each hour's integral is its share of the day's
    messages (so the day's volume, and its bill, is the workload's)."""
    p = load_profile(name)
    for d, day in enumerate(p.days):
        shares = p.hourly_shares(d)
        assert sum(shares) == pytest.approx(1.0)
        for h in range(24):
            t0 = 86400.0 * d + h * SECONDS_PER_HOUR
            got, _ = integrate.quad(p.relative_rate, t0, t0 + SECONDS_PER_HOUR, limit=200, points=[t0 + 1800])
            # the rate is relative to a working day's mean: an hour integrates to 24 x share x volume hours
            expected = 24.0 * shares[h] * day.volume * SECONDS_PER_HOUR
            # (an hour near 0 between busy ones is clipped at 0 and may carry a little more)
            assert got == pytest.approx(expected, rel=1e-6, abs=0.02 * SECONDS_PER_HOUR), (name, d, h)


def test_the_business_day_matches_the_workloads_peak_hour():
    """Its busiest hour carries ~15% of the day, as the workload's peak_hour_share says."""
    from capplan.model.loader import load_workload

    assert load_profile("business").peak_hour_share() == pytest.approx(load_workload().demand.peak_hour_share, abs=0.01)
    assert load_profile("consumer").peak_hour_share() < 0.08


def test_the_curve_moves_within_an_hour():
    p = load_profile("business")
    # 8:05 and 8:55 differ: the morning ramp is not a staircase
    assert p.relative_rate(8 * 3600 + 300) < p.relative_rate(8 * 3600 + 3300)
    # and the week has quiet weekends
    week = load_profile("business-week")
    monday = np.mean([week.relative_rate(t) for t in np.arange(0, 86400, 600)])
    saturday = np.mean([week.relative_rate(t) for t in np.arange(5 * 86400, 6 * 86400, 600)])
    assert saturday == pytest.approx(0.1 * monday, rel=0.02)


def test_a_spike_multiplies_the_rate_for_its_duration(tmp_path):
    f = tmp_path / "launch.yaml"
    f.write_text("kind: profile\nname: launch\ndays:\n  - name: d\n    hours: [" + ", ".join(["1"] * 24) + "]\n"
                 "spikes:\n  - {at: '10:00', duration: 15m, factor: 3}\n")
    p = load_profile(str(f))
    assert p.relative_rate(10 * 3600 - 1) == pytest.approx(1.0)
    assert p.relative_rate(10 * 3600 + 60) == pytest.approx(3.0)
    assert p.relative_rate(10 * 3600 + 15 * 60 + 1) == pytest.approx(1.0)


def test_an_hourly_csv_gives_the_shape(tmp_path):
    rows = ["hour,messages"] + [f"{h},{100 if 9 <= h < 17 else 10}" for h in range(24)]
    p = profile_from_csv("\n".join(rows), "mine", "mine.csv")
    assert len(p.days) == 1 and p.hourly_shares(0)[9] == pytest.approx(100 / (8 * 100 + 16 * 10))
    week = "\n".join(f"{h},{5 if (h // 24) < 5 else 1}" for h in range(168))
    w = profile_from_csv(week, "wk", "wk.csv")
    assert len(w.days) == 7 and w.days[6].volume == pytest.approx(0.2)


@pytest.mark.parametrize("text,why", [
    ("0,1\n1,2\n", "every hour 0-23"),
    ("\n".join(f"{h},1" for h in range(24)) + "\n3,4\n", "appears twice"),
    ("\n".join(f"{h},{-1 if h == 5 else 1}" for h in range(24)), "count >= 0"),
    ("\n".join(f"{h},x" for h in range(24)), "expected 'hour,count'"),
    ("\n".join(f"{h},0" for h in range(24)), "every count is 0"),
])
def test_a_bad_csv_is_refused_naming_the_problem(tmp_path, text, why):
    f = tmp_path / "bad.csv"
    f.write_text(text)
    with pytest.raises(CapplanError, match=why) as exc:
        load_profile(str(f))
    assert exc.value.field == "--profile"


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(CapplanError, match="business, business-week, consumer"):
        load_profile("weekend-rave")
