"""Prometheus query_range responses as per-window counter increases (capplan/calibrate/prometheus.py)."""

from __future__ import annotations

import json

import pytest

from capplan.calibrate.prometheus import align, counter_increases, load_range, parse_range
from capplan.errors import CapplanError


def response(*series, status="success", kind="matrix"):
    return {"status": status, "data": {"resultType": kind, "result": [
        {"metric": labels, "values": [[t, str(v)] for t, v in points]} for labels, points in series]}}


def test_increases_sum_the_series_and_read_a_drop_as_a_restart():
    a = ({"pod": "api-0"}, [(0, 10.0), (15, 12.5), (30, 1.0), (45, 4.0)])   # restarted between 15 and 30
    b = ({"pod": "api-1"}, [(0, 5.0), (15, 6.0), (30, 7.0), (45, 8.0)])
    inc = counter_increases(parse_range(response(a, b), "cpu"), "cpu")
    assert inc.resets == 1 and list(inc.reset) == [False, True, False]
    assert list(inc.t) == [15, 30, 45] and list(inc.dt) == [15, 15, 15]
    assert list(inc.increase) == [2.5 + 1.0, 1.0 + 1.0, 3.0 + 1.0]     # the restart counts from zero: +1.0


def test_align_keeps_the_windows_every_input_has():
    cpu = counter_increases(parse_range(response(({}, [(0, 0), (15, 1), (30, 2), (45, 3)])), "cpu"), "cpu")
    req = counter_increases(parse_range(response(({}, [(15, 0), (30, 10), (45, 30)])), "req"), "req")
    dt, values, reset = align({"cpu": cpu, "message": req})
    assert list(dt) == [15, 15] and not reset.any()
    assert list(values["cpu"]) == [1, 1] and list(values["message"]) == [10, 20]


def test_windows_of_different_lengths_are_refused():
    cpu = counter_increases(parse_range(response(({}, [(0, 0), (30, 1), (60, 2)])), "cpu"), "cpu")
    req = counter_increases(parse_range(response(({}, [(0, 0), (15, 1), (60, 2)])), "req"), "req")
    with pytest.raises(CapplanError, match="same step"):
        align({"cpu": cpu, "message": req})


@pytest.mark.parametrize("doc, needle", [
    ({"status": "error", "error": "parse error at char 5"}, "parse error at char 5"),
    (response(({}, [(0, 1)]), kind="vector"), "not 'matrix'"),
    ({"status": "success", "data": {"resultType": "matrix", "result": []}}, "no series"),
    (response(({}, [(0, "x")])), "not [time"),
    (response(({}, [(15, 1), (0, 2)])), "timestamps do not increase"),
    ([1, 2], "not a successful Prometheus response"),
])
def test_a_response_that_is_not_a_usable_range_is_refused(doc, needle):
    with pytest.raises(CapplanError) as err:
        parse_range(doc, "cpu.json")
    assert needle in str(err.value) and str(err.value).startswith("cpu.json")


def test_files_that_are_not_json_or_not_text_are_one_line_errors(tmp_path):
    (tmp_path / "a.json").write_text(json.dumps(response(({}, [(0, 1), (15, 2)]))))
    assert len(load_range(tmp_path / "a.json")) == 1
    (tmp_path / "b.json").write_bytes(b"\xff\xfe")
    with pytest.raises(CapplanError, match="not UTF-8"):
        load_range(tmp_path / "b.json")
    (tmp_path / "c.json").write_text("<html>")
    with pytest.raises(CapplanError, match="not JSON"):
        load_range(tmp_path / "c.json")


def test_a_single_timestamp_is_refused():
    s = parse_range(response(({}, [(15, 1)]), ({}, [(15, 2)])), "x")
    with pytest.raises(CapplanError, match="fewer than two timestamps"):
        counter_increases(s, "x")


def test_a_series_that_appears_late_counts_from_zero_and_keeps_the_earlier_windows():
    """A labelled counter is created at its first increment (the first refresh on a process): the
    windows before it lose nothing, the window it appears in counts it from zero and is marked
    approximate, and a gap in a series' samples marks the windows it spans."""
    always = ({"route": "/api/convos"}, [(0, 10), (15, 12), (30, 15), (45, 19), (60, 20)])
    late = ({"route": "/api/auth/refresh"}, [(30, 1), (45, 3), (60, 4)])
    inc = counter_increases(parse_range(response(always, late), "req"), "req")
    assert list(inc.t) == [15, 30, 45, 60] and list(inc.dt) == [15, 15, 15, 15]
    assert list(inc.increase) == [2, 3 + 1, 4 + 2, 1 + 1]
    assert list(inc.reset) == [False, True, False, False] and inc.resets == 0
    gappy = ({"pod": "b"}, [(0, 0), (15, 1), (60, 7)])          # two scrapes missed
    inc = counter_increases(parse_range(response(always, gappy), "cpu"), "cpu")
    assert list(inc.increase) == [2 + 1, 3, 4, 1 + 6] and list(inc.reset) == [False, True, True, True]


def test_a_replaced_process_ends_one_series_and_starts_another():
    old, new = ({"pod": "api-0"}, [(0, 1), (15, 2)]), ({"pod": "api-1"}, [(30, 1), (45, 2)])
    inc = counter_increases(parse_range(response(old, new), "x"), "x")
    assert list(inc.t) == [15, 30, 45] and list(inc.increase) == [1, 1, 1]
    assert list(inc.reset) == [False, True, False]
