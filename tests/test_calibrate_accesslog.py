"""nginx access logs in the format `capplan render` writes (capplan/calibrate/accesslog.py)."""

from __future__ import annotations

import re

import pytest

from capplan.calibrate.accesslog import LINE, load_log, parse_log, request_type
from capplan.errors import CapplanError
from capplan.render import example_context, render

LOG = """\
10.0.0.1 [28/Nov/2026:10:00:01 +0000] "POST /api/agents/chat/openAI HTTP/1.1" 200 85 rt=0.061 urt=0.060 uht=0.060 ua="10.0.1.5:3080"
10.0.0.1 [28/Nov/2026:10:00:09 +0000] "GET /api/agents/chat/stream/abc123 HTTP/1.1" 200 51234 rt=8.412 urt=8.411 uht=1.203 ua="10.0.1.5:3080"
10.0.0.2 [28/Nov/2026:10:00:10 +0000] "GET /api/convos?pageSize=25 HTTP/1.1" 200 8123 rt=0.009 urt=0.008 uht=0.008 ua="10.0.1.6:3080"
10.0.0.2 [28/Nov/2026:10:00:14 +0000] "POST /api/auth/refresh HTTP/1.1" 200 712 rt=0.004 urt=0.004 uht=0.004 ua="10.0.1.6:3080"
10.0.0.3 [28/Nov/2026:10:00:16 +0000] "GET /api/messages/xyz HTTP/1.1" 502 150 rt=0.505 urt=0.500, 0.004 uht=-, 0.004 ua="10.0.1.5:3080, 10.0.1.6:3080"
10.0.0.3 [28/Nov/2026:10:00:31 +0000] "GET /assets/index.js HTTP/1.1" 200 250000 rt=0.002 urt=- uht=- ua="-"
"""


def test_requests_are_sorted_into_librechats_types_with_their_times():
    log = parse_log(LOG, "access.log")
    assert (log.count("message"), log.count("stream"), log.count("api_read"), log.count("refresh"),
            log.count("other")) == (1, 1, 2, 1, 1)
    assert log.first_byte_s == [1.203]                       # the stream's time to first byte
    assert log.request_s["stream"] == [8.412]                # and its length
    assert log.upstream_s["api_read"] == [0.008, 0.504]      # a retried request: both tries summed
    assert log.errors == {"api_read": 1}
    ends, counts = log.counts_per_window(15.0, ["message", "api_read"])
    assert list(counts["message"]) == [1, 0] and list(counts["api_read"]) == [1, 1]   # 30 s: two windows
    assert ends[1] - ends[0] == 15.0


def test_a_log_without_upstream_header_times_still_parses():
    old = re.sub(r" uht=[^u]*(?=ua=)", " ", LOG)
    log = parse_log(old, "access.log")
    assert log.count("stream") == 1 and log.first_byte_s == []


@pytest.mark.parametrize("method, path, kind", [
    ("POST", "/api/agents/chat/anthropic", "message"), ("POST", "/api/ask/openAI", "message"),
    ("GET", "/api/agents/chat/stream/9?resume=true", "stream"), ("POST", "/api/auth/refresh", "refresh"),
    ("POST", "/api/convos/gen_title", "api_read"), ("GET", "/api/config", "api_read"), ("GET", "/", "other"),
])
def test_routes_map_to_request_types(method, path, kind):
    assert request_type(method, path) == kind


def test_the_rendered_nginx_log_format_is_the_one_parsed():
    """The format capplan writes into nginx.conf and the parser's pattern must not drift apart: a
    line built from the rendered log_format, variable by variable, parses."""
    conf = render(example_context("tier1", "aws"), ["compose"])["compose/nginx.conf"]
    fmt = re.search(r"log_format upstream_timing ((?:'[^']*'\s*)+);", conf)
    assert fmt, "no upstream_timing log_format in the rendered nginx.conf"
    template = "".join(re.findall(r"'([^']*)'", fmt.group(1)))
    values = {"$remote_addr": "10.0.0.9", "$time_local": "28/Nov/2026:11:00:00 +0000",
              "$request": "GET /api/agents/chat/stream/7 HTTP/1.1", "$status": "200", "$body_bytes_sent": "99",
              "$request_time": "5.5", "$upstream_response_time": "5.499", "$upstream_header_time": "0.8",
              "$upstream_addr": "10.0.1.5:3080"}
    line = re.sub(r"\$[a-z_]+", lambda m: values[m.group(0)], template)
    log = parse_log(line + "\n", "rendered")
    assert log.count("stream") == 1 and log.first_byte_s == [0.8] and log.request_s["stream"] == [5.5]


def test_a_log_in_another_format_or_empty_is_refused(tmp_path):
    combined = '10.0.0.1 - - [28/Nov/2026:10:00:01 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8.0"\n' * 10
    with pytest.raises(CapplanError, match=r"10 of 10 lines are not in capplan's upstream_timing format \(first: line 1\)"):
        parse_log(combined, "access.log")
    with pytest.raises(CapplanError, match="empty"):
        parse_log("\n\n", "access.log")
    (tmp_path / "bin.log").write_bytes(b"\xff\xfe")
    with pytest.raises(CapplanError, match="not UTF-8"):
        load_log(tmp_path / "bin.log")
    assert LINE.pattern  # the pattern is public: other tools can check a line against it
