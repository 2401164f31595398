"""Uncertain inputs: ranges in a workload file (capplan.model.ranges, the loader), the Latin hypercube
over them, percentiles and the one-at-a-time tornado (capplan.sweep.uncertainty)."""

from __future__ import annotations

import math
import pickle
import subprocess
import sys
import textwrap
from decimal import Decimal

import numpy as np
import pytest
from scipy import stats

from capplan.errors import CapplanError
from capplan.model.loader import load_workload
from capplan.model.ranges import UncertainInput
from capplan.sweep.fields import get_field
from capplan.sweep.uncertainty import (MAX_SAMPLES, cdf, inverse_cdf, latin_hypercube, one_at_a_time, percentiles,
                                       realize, tornado, unit_hypercube)

BUNDLED_RANGES = {"demand.peak_hour_share", "think_time.mean", "llm.token_rate.mean", "cpu.message.mean",
                  "cpu.stream_delta"}


def write(tmp_path, body: str, name: str = "mine.yaml"):
    path = tmp_path / name
    path.write_text("kind: workload\nextends: librechat\n" + textwrap.dedent(body), encoding="utf-8")
    return path


def by_path(workload) -> dict[str, UncertainInput]:
    return {u.path: u for u in workload.uncertain}


# -- the bundled workload -----------------------------------------------------------------------

def test_the_bundled_ranges_load_and_their_modes_are_the_point_values():
    w = load_workload()
    ranges = by_path(w)
    assert set(ranges) == BUNDLED_RANGES
    for path, u in ranges.items():
        assert u.low < u.mode < u.high, path
        assert get_field(w, path) == u.mode, path
        assert u.shape == "triangular"
    # the point values are the numbers the file had before it gave ranges
    assert (w.cpu.message.mean, w.cpu.stream_delta, w.llm.token_rate.mean, w.think_time.mean,
            w.demand.peak_hour_share) == (0.04, 0.0005, 50.0, 60.0, 0.15)
    assert (w.cpu.message.kind, w.llm.token_rate.kind, w.llm.token_rate.cv) == ("exponential", "gamma", 0.3)
    assert ranges["cpu.message.mean"] == UncertainInput("cpu.message.mean", 0.02, 0.04, 0.1, "s")
    assert ranges["llm.token_rate.mean"].unit == "tokens/s"
    assert ranges["demand.peak_hour_share"].unit == "share"


def test_ranges_are_not_fields_nothing_dumps_them_and_workers_receive_them():
    w = load_workload()
    assert "uncertain" not in w.model_dump() and "_uncertain" not in w.model_dump_json()
    assert "uncertain" not in str(w.model_json_schema())
    assert pickle.loads(pickle.dumps(w)).uncertain == w.uncertain
    assert w == load_workload()


# -- ranges in a file ---------------------------------------------------------------------------

def test_a_number_given_as_a_range_takes_its_mode(tmp_path):
    w = load_workload(write(tmp_path, "api_reads_per_message: {low: 2, mode: 3.5, high: 6}\n"))
    assert w.api_reads_per_message == 3.5
    assert by_path(w)["api_reads_per_message"] == UncertainInput("api_reads_per_message", 2.0, 3.5, 6.0, "")
    assert set(by_path(w)) == BUNDLED_RANGES | {"api_reads_per_message"}


def test_without_a_mode_the_point_value_is_the_midpoint_and_uniform_is_supported(tmp_path):
    w = load_workload(write(tmp_path, """\
        api_reads_per_message: {low: 2, high: 6}
        stream_memory_mib: {low: 1Mi, high: 3Mi, shape: uniform}
        """))
    assert w.api_reads_per_message == 4.0 and w.stream_memory_mib == 2.0
    u = by_path(w)["stream_memory_mib"]
    assert (u.low, u.mode, u.high, u.unit, u.shape) == (1.0, 2.0, 3.0, "MiB", "uniform")


def test_a_range_on_a_distribution_is_its_means_and_keeps_kind_and_cv(tmp_path):
    w = load_workload(write(tmp_path, """\
        cpu:
          api_read: {low: 2ms, mode: 5ms, high: 10ms}
        llm:
          output_tokens: {kind: lognormal, cv: 0.8, low: 250, mean: 500, high: 1000}
        mongo:
          write: {kind: gamma, cv: 0.5, mean: {low: 1ms, mode: 1.5ms, high: 3ms}}
        """))
    assert (w.cpu.api_read.kind, w.cpu.api_read.mean) == ("exponential", pytest.approx(0.005))
    assert (w.llm.output_tokens.kind, w.llm.output_tokens.mean, w.llm.output_tokens.cv) == ("lognormal", 500.0, 0.8)
    assert (w.mongo.write.kind, w.mongo.write.mean, w.mongo.write.cv) == ("gamma", 0.0015, 0.5)
    ranges = by_path(w)
    assert ranges["cpu.api_read.mean"].low == pytest.approx(0.002) and ranges["cpu.api_read.mean"].unit == "s"
    assert ranges["llm.output_tokens.mean"].mode == 500.0 and ranges["llm.output_tokens.mean"].unit == "tokens"
    assert ranges["mongo.write.mean"].high == pytest.approx(0.003)


def test_a_users_range_or_number_replaces_the_bundled_range(tmp_path):
    w = load_workload(write(tmp_path, """\
        cpu:
          message: {low: 10ms, high: 30ms}      # over the bundled range on the mean: replaces it
          stream_delta: 0.7ms                   # a number: no longer uncertain
        llm:
          token_rate: {mean: 70}                # a mean: replaces the bundled range, keeps gamma
        think_time: {low: 40s, high: 50s}       # a range over a range
        """))
    assert (w.cpu.message.kind, w.cpu.message.mean) == ("exponential", pytest.approx(0.02))
    assert (w.llm.token_rate.kind, w.llm.token_rate.mean, w.llm.token_rate.cv) == ("gamma", 70.0, 0.3)
    assert w.cpu.stream_delta == pytest.approx(0.0007) and w.think_time.mean == 45.0
    ranges = by_path(w)
    assert set(ranges) == {"demand.peak_hour_share", "cpu.message.mean", "think_time.mean"}
    assert (ranges["cpu.message.mean"].low, ranges["cpu.message.mean"].high) == (pytest.approx(0.01), pytest.approx(0.03))


def test_a_mean_in_a_file_over_a_range_written_on_the_distribution_replaces_it(tmp_path):
    write(tmp_path, "cpu: {api_read: {kind: gamma, cv: 0.5, low: 2ms, mode: 5ms, high: 10ms}}\n", "base.yaml")
    child = tmp_path / "child.yaml"
    child.write_text("kind: workload\nextends: base.yaml\ncpu: {api_read: {mean: 7ms}}\n", encoding="utf-8")
    assert "cpu.api_read.mean" in by_path(load_workload(tmp_path / "base.yaml"))
    w = load_workload(child)
    assert (w.cpu.api_read.kind, w.cpu.api_read.mean, w.cpu.api_read.cv) == ("gamma", pytest.approx(0.007), 0.5)
    assert "cpu.api_read.mean" not in by_path(w)


def test_plan_overrides_replace_a_range_too():
    w = load_workload(None, overrides={"cpu": {"message": {"mean": 0.031}}, "think_time": {"mean": "90s"}})
    assert w.cpu.message.mean == 0.031 and w.think_time.mean == 90.0
    assert set(by_path(w)) == BUNDLED_RANGES - {"cpu.message.mean", "think_time.mean"}


@pytest.mark.parametrize("body, where, why", [
    ("cpu: {message: {low: 100ms, high: 20ms}}", "cpu.message", "low 100ms is above high 20ms"),
    ("api_reads_per_message: {low: 2, mode: 9, high: 6}", "api_reads_per_message", "mode 9 is outside low..high (2..6)"),
    ("api_reads_per_message: {low: -1, high: 6}", "api_reads_per_message", "low -1: Input should be greater than or equal to 0"),
    ("cpu: {message: {mean: {low: -5ms, high: 20ms}}}", "cpu.message.mean", "low: not a duration: '-5ms'"),
    ("demand: {peak_hour_share: {low: 50%, high: 150%}}", "demand.peak_hour_share", "high 150%: Input should be less than or equal to 1"),
    ("llm: {token_rate: {low: 0, high: 80}}", "llm.token_rate", "low 0: llm.token_rate: mean must be > 0"),
    ("api_reads_per_message: {low: 2}", "api_reads_per_message", "a range needs low and high (missing high)"),
    ("api_reads_per_message: {low: 2, high: 4, peak: 3}", "api_reads_per_message", "unknown key 'peak' in a range"),
    ("api_reads_per_message: {low: 2, high: 4, shape: normal}", "api_reads_per_message", "shape must be triangular or uniform"),
    ("api_reads_per_message: {low: 2, mode: 3, high: 4, shape: uniform}", "api_reads_per_message", "a uniform range has no mode"),
    ("api_reads_per_message: {low: two, high: 4}", "api_reads_per_message", "low: not a number: 'two'"),
    ("api_reads_per_message: {low: .nan, high: 4}", "api_reads_per_message", "low: not a finite number"),
    ("rate_limits: {users_per_ip: {low: 1, high: 5}}", "rate_limits.users_per_ip", "this field is a whole number"),
    ("cpu: {event_loop: {low: 1, high: 2}}", "cpu.event_loop", "this field is not a number"),
    ("llm: {low: 1, high: 2}", "llm", "this field is not a number"),
    ("think_time: {kind: lognormal, cv: 1, mean: 60s, mode: 50s, low: 30s, high: 90s}", "think_time", "mode or mean, not both"),
    ("think_time: {low: 30s, high: 90s, sd: 3}", "think_time", "unknown key 'sd'"),
])
def test_bad_ranges_are_refused_in_one_line_naming_the_file_and_the_path(tmp_path, body, where, why):
    path = write(tmp_path, body + "\n")
    with pytest.raises(CapplanError) as exc:
        load_workload(path)
    text = str(exc.value)
    assert text.startswith(f"{path}: {where}: "), text
    assert why in text and "\n" not in text


def test_the_cli_exits_2_with_one_line_on_a_bad_range(tmp_path):
    path = write(tmp_path, "cpu: {message: {low: 100ms, mode: 40ms, high: 20ms}}\n")
    proc = subprocess.run([sys.executable, "-m", "capplan.cli", "simulate", "--users", "100", "--workload", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "cpu.message: low 100ms is above high 20ms" in lines[0]


# -- the Latin hypercube ------------------------------------------------------------------------

TRI = UncertainInput("cpu.message.mean", 0.020, 0.040, 0.100, "s")
UNI = UncertainInput("api_reads_per_message", 2.0, 4.0, 6.0, "", "uniform")
SKEW = UncertainInput("llm.token_rate.mean", 25.0, 25.0, 100.0, "tokens/s")      # mode at the low end


def strata(inp: UncertainInput, values: list[float], n: int) -> list[int]:
    return sorted(int(math.floor(p * n + 1e-9)) for p in cdf(inp, np.array(values)))


@pytest.mark.parametrize("n", [2, 7, 50])
def test_each_inputs_samples_hit_each_of_the_n_strata_exactly_once(n):
    inputs = [TRI, UNI, SKEW]
    points = latin_hypercube(inputs, n, seed=3)
    assert len(points) == n
    for inp in inputs:
        values = [p[inp.path] for p in points]
        assert all(inp.low <= v <= inp.high for v in values)
        assert strata(inp, values, n) == list(range(n)), inp.path


def test_the_unit_design_is_latin_too():
    u = unit_hypercube(4, 25, seed=11)
    assert u.shape == (25, 4)
    for j in range(4):
        assert sorted(np.floor(u[:, j] * 25).astype(int)) == list(range(25))


def test_the_marginals_follow_the_ranges_distribution():
    points = latin_hypercube([TRI, UNI], 200, seed=5)
    tri = [p[TRI.path] for p in points]
    c, scale = (TRI.mode - TRI.low) / (TRI.high - TRI.low), TRI.high - TRI.low
    assert stats.kstest(tri, stats.triang(c, loc=TRI.low, scale=scale).cdf).pvalue > 0.01
    # the test can fail: the same samples are not uniform over the range
    assert stats.kstest(tri, stats.uniform(loc=TRI.low, scale=scale).cdf).pvalue < 0.01
    uni = [p[UNI.path] for p in points]
    assert stats.kstest(uni, stats.uniform(loc=UNI.low, scale=UNI.high - UNI.low).cdf).pvalue > 0.01


def test_inverse_cdf_is_scipys_triangular_quantile():
    u = np.linspace(0, 1, 11)
    expected = stats.triang.ppf(u, (TRI.mode - TRI.low) / (TRI.high - TRI.low), loc=TRI.low, scale=TRI.high - TRI.low)
    assert np.allclose(inverse_cdf(TRI, u), expected, rtol=0, atol=1e-15)
    assert np.allclose(inverse_cdf(SKEW, u)[[0, -1]], [25.0, 100.0])
    fixed = UncertainInput("x", 3.0, 3.0, 3.0)
    assert list(inverse_cdf(fixed, u)) == [3.0] * 11


def test_the_same_seed_gives_the_same_points_and_another_seed_others():
    inputs = list(load_workload().uncertain)
    a = latin_hypercube(inputs, 20, seed=42)
    assert latin_hypercube(inputs, 20, seed=42) == a
    assert latin_hypercube(inputs, 20, seed=43) != a
    assert all(set(p) == BUNDLED_RANGES for p in a)


def test_sample_counts_and_seeds_out_of_bounds_are_refused():
    for n in (0, 1, MAX_SAMPLES + 1, 2.5, True):
        with pytest.raises(CapplanError) as exc:
            latin_hypercube([TRI], n, seed=1)
        assert exc.value.field == "--uncertainty"
    with pytest.raises(CapplanError) as exc:
        latin_hypercube([TRI], 10, seed=-1)
    assert exc.value.field == "--seed"
    with pytest.raises(CapplanError, match="gives no ranges") as exc:
        latin_hypercube([], 10, seed=1)
    assert exc.value.field == "--uncertainty"


def test_realize_sets_each_sampled_value_and_keeps_each_distributions_shape():
    w = load_workload()
    point = latin_hypercube(w.uncertain, 5, seed=9)[2]
    r = realize(w, point)
    for path, value in point.items():
        assert get_field(r, path) == pytest.approx(value)
    assert (r.llm.token_rate.kind, r.llm.token_rate.cv) == ("gamma", 0.3)
    assert r.uncertain == ()
    assert realize(w, {}) is w
    with pytest.raises(CapplanError) as exc:
        realize(w, {"cpu.message.mean": -1.0})
    assert exc.value.field == "--uncertainty"


# -- percentiles --------------------------------------------------------------------------------

def test_percentiles_interpolate_linearly_like_numpy():
    xs = [7.0, 1.0, 3.0, 10.0, 4.0, 2.5]
    got = percentiles(xs)
    assert list(got) == [10, 50, 90]
    for p, v in got.items():
        assert v == pytest.approx(float(np.percentile(xs, p, method="linear")), rel=1e-12)
    assert percentiles(range(1, 11)) == {10: pytest.approx(1.9), 50: pytest.approx(5.5), 90: pytest.approx(9.1)}
    assert percentiles([4, 4, 9], ps=(0, 100)) == {0: 4.0, 100: 9.0}
    assert percentiles([2.0]) == {10: 2.0, 50: 2.0, 90: 2.0}


def test_money_percentiles_stay_decimal_and_exact():
    costs = [Decimal("100.00"), Decimal("130.00"), Decimal("110.00"), Decimal("120.00"), Decimal("105.55")]
    got = percentiles(costs)
    assert all(isinstance(v, Decimal) for v in got.values())
    # sorted 100.00 105.55 110.00 120.00 130.00; h = 4p/100
    assert got == {10: Decimal("102.22"), 50: Decimal("110.00"), 90: Decimal("126.00")}


def test_saturated_points_infinite_p95s_do_not_become_nan():
    got = percentiles([1.0, 2.0, math.inf, math.inf])
    assert got[10] == pytest.approx(1.3) and got[90] == math.inf and got[50] == math.inf


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], [Decimal("1"), 2.0]])
def test_percentiles_refuse_no_nan_or_mixed_samples(bad):
    with pytest.raises(ValueError):
        percentiles(bad)


# -- one at a time, the tornado -----------------------------------------------------------------

A = UncertainInput("cpu.message.mean", 0.02, 0.04, 0.1, "s")
B = UncertainInput("llm.token_rate.mean", 25.0, 50.0, 100.0, "tokens/s")
C = UncertainInput("think_time.mean", 30.0, 60.0, 120.0, "s")
D = UncertainInput("cpu.stream_delta", 0.00025, 0.0005, 0.001, "s")


def test_one_at_a_time_moves_one_input_to_each_end():
    points = one_at_a_time([A, B])
    assert [(p.input.path, p.side, p.values) for p in points] == [
        (A.path, "low", {A.path: 0.02}), (A.path, "high", {A.path: 0.1}),
        (B.path, "low", {B.path: 25.0}), (B.path, "high", {B.path: 100.0})]
    with pytest.raises(CapplanError) as exc:
        one_at_a_time([])
    assert exc.value.field == "--sensitivity"


def rows(table):
    """(input, side, p95, cost) in one_at_a_time's order from {input: (p95 low, p95 high, cost low, cost high)}."""
    out = []
    for inp, (p_lo, p_hi, c_lo, c_hi) in table.items():
        out += [(inp, "low", p_lo, c_lo), (inp, "high", p_hi, c_hi)]
    return out


def test_the_tornado_ranks_by_the_p95_swing_then_the_cost_swing():
    table = tornado(rows({
        A: (0.8, 1.6, Decimal("900"), Decimal("1400")),    # p95 swing 0.8, cost swing 500
        B: (2.0, 0.5, Decimal("1000"), Decimal("1000")),   # p95 swing 1.5 (falls as the rate rises), cost 0
        C: (1.0, 0.5, Decimal("1500"), Decimal("800")),    # p95 swing 0.5, cost 700
        D: (0.75, 1.25, Decimal("1000"), Decimal("1200")), # p95 swing 0.5 (a tie with C), cost 200
    }))
    assert [r["path"] for r in table] == [B.path, A.path, C.path, D.path]
    assert [r["rank_p95"] for r in table] == [1, 2, 3, 4]
    assert {r["path"]: r["rank_cost"] for r in table} == {C.path: 1, A.path: 2, D.path: 3, B.path: 4}
    top = table[0]
    assert top["p95_swing"] == pytest.approx(1.5) and top["cost_swing"] == Decimal("0")
    assert (top["low"], top["mode"], top["high"], top["unit"]) == (25.0, 50.0, 100.0, "tokens/s")
    assert (top["p95_low"], top["p95_high"], top["cost_low"], top["cost_high"]) == (2.0, 0.5, Decimal("1000"), Decimal("1000"))


def test_the_tornado_by_cost_ranks_the_cost_swing_first():
    table = tornado(rows({
        A: (0.8, 1.6, Decimal("900"), Decimal("1400")),
        B: (2.0, 0.5, Decimal("1000"), Decimal("1000")),
        C: (0.9, 0.5, Decimal("1500"), Decimal("800")),
    }), by="cost")
    assert [r["path"] for r in table] == [C.path, A.path, B.path]
    assert [r["rank_cost"] for r in table] == [1, 2, 3]


def test_a_saturating_end_swings_infinitely_and_ranks_first_and_no_cost_ranks_last():
    table = tornado(rows({
        A: (0.8, 1.6, None, None),
        B: (math.inf, 0.5, None, None),
        C: (math.inf, math.inf, None, None),     # saturated at both ends: no swing
    }))
    assert [r["path"] for r in table] == [B.path, A.path, C.path]
    assert table[0]["p95_swing"] == math.inf and table[2]["p95_swing"] == 0.0
    assert table[0]["cost_swing"] is None


@pytest.mark.parametrize("bad", [
    [(A, "low", 1.0, None)],                                     # no high
    [(A, "low", 1.0, None), (A, "low", 1.0, None)],              # low twice
    [(A, "mid", 1.0, None)],
    [(A, "low", math.nan, None), (A, "high", 1.0, None)],
])
def test_the_tornado_refuses_incomplete_rows(bad):
    with pytest.raises(ValueError):
        tornado(bad)
