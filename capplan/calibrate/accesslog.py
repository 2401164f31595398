"""nginx access logs in the ``upstream_timing`` format ``capplan render`` writes for compose:

    $remote_addr [$time_local] "$request" $status $body_bytes_sent rt=$request_time
    urt=$upstream_response_time uht=$upstream_header_time ua="$upstream_addr"

(``uht`` was added for calibration; a log without it still parses, with no stream first-byte
times). Requests are sorted into LibreChat's request types by route: the message POST (returns with
a stream id), the SSE stream GET (held for the whole answer: its upstream header time is the time
to the first byte, its request time the stream's length), the JWT refresh, and other API reads.
A log in another format is refused with the line that did not match, never half read.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from capplan.errors import CapplanError
from capplan.files import read_text

LINE = re.compile(
    r'^(?P<addr>\S+) \[(?P<time>[^\]]+)\] "(?P<method>[A-Z]+) (?P<path>\S+)(?: [^"]*)?" (?P<status>\d{3}) '
    r'(?P<bytes>\d+) rt=(?P<rt>[\d.]+) urt=(?P<urt>[-\d., :]+?)(?: uht=(?P<uht>[-\d., :]+?))? ua="(?P<ua>[^"]*)"\s*$')
MAX_UNPARSED_SHARE = 0.01     # a stray line (a health check in another format) is tolerated; a wrong format is not


def request_type(method: str, path: str) -> str:
    """LibreChat's request type of a logged request (capplan's request classes)."""
    route = path.split("?", 1)[0]
    if route.startswith("/api/agents/chat/stream/"):
        return "stream"
    if method == "POST" and (route.startswith("/api/agents/chat") or route.startswith("/api/ask")):
        return "message"
    if method == "POST" and route == "/api/auth/refresh":
        return "refresh"
    if route.startswith("/api/"):
        return "api_read"
    return "other"


@dataclass
class AccessLog:
    source: str
    t: dict[str, list[float]] = field(default_factory=dict)          # type -> unix time the request ended
    request_s: dict[str, list[float]] = field(default_factory=dict)  # type -> $request_time
    upstream_s: dict[str, list[float]] = field(default_factory=dict)  # type -> $upstream_response_time (summed over tries)
    first_byte_s: list[float] = field(default_factory=list)          # streams: $upstream_header_time
    errors: dict[str, int] = field(default_factory=dict)             # type -> 5xx responses
    lines: int = 0
    unparsed: int = 0

    def count(self, kind: str) -> int:
        return len(self.t.get(kind, []))

    def counts_per_window(self, window_s: float, kinds: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """(window end times, request counts by type per window) over the log's whole span."""
        every = [x for k in self.t for x in self.t[k]]
        start, end = min(every), max(every)
        edges = np.arange(start, end + window_s, window_s)
        if edges.size < 2:
            raise CapplanError(f"spans {end - start:.0f} s: shorter than one {window_s:g} s window", field=self.source)
        return edges[1:], {k: np.histogram(self.t.get(k, []), bins=edges)[0] for k in kinds}


def _seconds(text: str | None) -> float | None:
    """nginx's times: "0.012", "-" (no upstream), or one per upstream tried ("0.5, 0.012" or "0.5 : 0.012")."""
    if text is None:
        return None
    parts = [p for p in re.split(r"[,:]\s*|\s+", text.strip()) if p]
    if not parts or any(p == "-" for p in parts):
        return None
    return sum(float(p) for p in parts)


def parse_log(text: str, source: str) -> AccessLog:
    log = AccessLog(source=source)
    first_bad = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        log.lines += 1
        m = LINE.match(line)
        if m is None:
            log.unparsed += 1
            first_bad = first_bad or number
            continue
        try:
            ended = dt.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        except ValueError:
            log.unparsed += 1
            first_bad = first_bad or number
            continue
        kind = request_type(m["method"], m["path"])
        log.t.setdefault(kind, []).append(ended)
        log.request_s.setdefault(kind, []).append(float(m["rt"]))
        upstream = _seconds(m["urt"])
        if upstream is not None:
            log.upstream_s.setdefault(kind, []).append(upstream)
        if kind == "stream" and (first := _seconds(m["uht"])) is not None:
            log.first_byte_s.append(first)
        if m["status"].startswith("5"):
            log.errors[kind] = log.errors.get(kind, 0) + 1
    if log.lines == 0:
        raise CapplanError("empty: no requests logged", field=source)
    if log.unparsed > MAX_UNPARSED_SHARE * log.lines:
        raise CapplanError(f"{log.unparsed} of {log.lines} lines are not in capplan's upstream_timing format (first: "
                           f"line {first_bad}); expected '$remote_addr [$time_local] \"$request\" $status "
                           "$body_bytes_sent rt=$request_time urt=$upstream_response_time uht=$upstream_header_time "
                           "ua=\"$upstream_addr\"' as `capplan render` writes it", field=source)
    return log


def load_log(path: Path | str) -> AccessLog:
    return parse_log(read_text(path), str(path))
