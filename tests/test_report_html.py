"""capplan report: the self-contained HTML page and its PNG charts (capplan.report.html, .charts).

Fixtures: the sweep document is made up here (the schema ``capplan sweep --json`` prints: 5 tiers x 8 user
counts x 3 providers, with unstable points, break-evens, a sensitivity and an uncertainty run);
tests/data/recommend-3000.json is ``capplan recommend --users 3000 --json --replications 2`` with the
bulky ``deploy``, ``price_warnings`` and ``purchase_options`` removed; tests/data/day-tier2-3000.json is
``capplan day --tier tier2 --users 3000 --json --inject llm-429@10:00 --inject mongo@12:00`` with the
timeline cut to 08:00-13:00 (its violation count recomputed for that window; cost and node-hours are the
whole day's).

The page is then opened in headless Chromium (skipped, saying why, when ``chromium`` is not on PATH,
unless CI is set: then a failure; .ci/system-deps.sh installs it): a screenshot that must not be blank, the DOM after the load event
(the page's inline script stamps how many chart images decoded) and the console, which must stay silent.
"""

from __future__ import annotations

import copy
import json
import math
import re
import subprocess
from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from capplan.errors import CapplanError
from capplan.report import charts
from capplan.report.html import CHARTS, build_report, png_size
from validators import require_binary

DATA = Path(__file__).parent / "data"
TIERS = ["current", "tier1", "tier2", "tier3", "microservices"]
USERS = [500, 1000, 2000, 3000, 5000, 10000, 20000, 50000]
PROVIDERS = ["aws", "gcp", "azure"]
# The user count each tier's queue stops being stable at, its fixed bill and its bill per 1,000 users.
_LIMIT = {"current": 900, "tier1": 4000, "tier2": 12000, "tier3": 40000, "microservices": 120000}
_BASE = {"current": 180, "tier1": 420, "tier2": 1200, "tier3": 4100, "microservices": 5600}
_PER_K = {"current": 2, "tier1": 25, "tier2": 48, "tier3": 60, "microservices": 66}
_PRICE = {"aws": 1.0, "gcp": 0.93, "azure": 1.08}
SLO = 2.0


def _usd(x: float) -> str:
    return f"{x:.2f}"


def _cost(tier: str, users: int, provider: str) -> float:
    return (_BASE[tier] + _PER_K[tier] * users / 1000) * _PRICE[provider]


def _point(tier: str, users: int) -> dict:
    rho = users / _LIMIT[tier]
    verdict = "unstable" if rho >= 1 else "saturated" if rho > 0.8 else "stable"
    p95 = None if verdict == "unstable" else 0.12 + 0.25 * rho / (1 - rho) ** 0.7
    ttft = None if verdict == "unstable" or tier == "current" else 0.9 + 0.4 * rho / (1 - rho) ** 0.5
    meets = p95 is not None and p95 <= SLO
    return {"tier": tier, "users": users, "vary": {}, "verdict": verdict, "meets_slo": meets,
            "reason": "queue grows" if p95 is None else f"p95 {p95:.3f} s",
            "api_p95_s": None if p95 is None else [round(p95, 6), round(p95 * 0.92, 6), round(p95 * 1.09, 6)],
            "ttft_p95_s": None if ttft is None else [round(ttft, 6), round(ttft * 0.9, 6), round(ttft * 1.1, 6)],
            "busiest": {"resource": "api.cpu", "utilization": round(min(rho, 1.0), 4)},
            "error_rate": 0.0 if meets else 0.02, "messages_per_s": round(users * 0.0004, 6),
            "monthly_usd": {p: _usd(_cost(tier, users, p)) for p in PROVIDERS}}


def sweep_doc() -> dict:
    points = [_point(t, u) for t in TIERS for u in USERS]
    meeting = {u: [p["tier"] for p in points if p["users"] == u and p["meets_slo"]] for u in USERS}
    cheapest, break_even = [], []
    for provider in PROVIDERS:
        previous = None
        for u in USERS:
            tier = min(meeting[u], key=lambda t: _cost(t, u, provider), default=None)
            cheapest.append({"provider": provider, "vary": {}, "users": u, "tier": tier,
                             "monthly_usd": None if tier is None else _usd(_cost(tier, u, provider))})
            if previous is not None and tier is not None and tier != previous:
                break_even.append({"provider": provider, "vary": {}, "users": None, "from": previous, "to": tier,
                                   "why": "capacity"})   # users: the capacity of "from", filled in below
            previous = tier or previous
    capacity = []   # as the sweep bisects: the largest count meeting the SLO, the smallest failing
    for t in TIERS:
        ok = [p["users"] for p in points if p["tier"] == t and p["meets_slo"]]
        bad = [p["users"] for p in points if p["tier"] == t and not p["meets_slo"]]
        low = max(ok, default=None)
        high = min((u for u in bad if low is None or u > low), default=None)
        if low is None:
            holds, fails, status, probes = None, high, "below", []
        elif high is None:
            holds, fails, status, probes = low, None, "above", []
        else:
            holds = low + (high - low) * 3 // 4 // 50 * 50
            fails, status = holds + 50, "found"
            probes = [{"users": holds, "meets_slo": True}, {"users": fails, "meets_slo": False}]
        capacity.append({"tier": t, "vary": {}, "users": holds, "status": status, "bracket": [holds, fails],
                         "screen_users": round(_LIMIT[t] * 0.93, 1), "probes": probes})
    for b in break_even:
        c = next(c for c in capacity if c["tier"] == b["from"])
        b["users"], b["to_users"] = c["users"], c["bracket"][1]
    by_users = []
    for u in USERS:
        tier = next((c["tier"] for c in cheapest if c["provider"] == "aws" and c["users"] == u), None)
        if tier is None:
            continue
        replicas = max(1, math.ceil(u / 1500))
        by_users.append({"tier": tier, "users": u, "vary": {}, "infeasible": 2 if u == 50000 else 0,
                         "replicas": {"p10": replicas, "p50": replicas + 1, "p90": replicas + 3},
                         "monthly_usd": {p: {"p10": _usd(_cost(tier, u, p) * 0.85), "p50": _usd(_cost(tier, u, p)),
                                             "p90": _usd(_cost(tier, u, p) * 1.35)} for p in PROVIDERS}})
    # as capplan sweep --sensitivity writes it: one run per tier, count and provider, a row per input
    rows = [("cpu.message", "s", 0.02, 0.1, [0.31, 1.12], ["850.10", "1311.00"]),
            ("llm.token_rate.mean", "tokens/s", 25, 80, [0.52, 0.44], ["1020.00", "1020.00"]),
            ("messages_per_user_day", "", 8, 30, [0.35, 0.95], ["911.40", "1534.50"]),
            ("mongo.query_ms", "ms", 2, 9, [0.45, None], [None, None])]   # no figure at an end: drawn as such
    sensitivity = [{"tier": "tier2", "users": 3000, "vary": {}, "provider": "gcp",
                    "rows": [{"input": path, "unit": unit, "low": low, "high": high, "p95_s": p95,
                              "p95_swing_s": None if None in p95 else round(abs(p95[1] - p95[0]), 6),
                              "monthly_usd": cost, "cost_swing_usd": None if None in cost else
                              _usd(abs(float(cost[1]) - float(cost[0]))), "rank_p95": i + 1, "rank_cost": i + 1}
                             for i, (path, unit, low, high, p95, cost) in enumerate(rows)]}]
    return {"kind": "sweep", "capplan": "0.1.0", "seed": 1, "replications": 4, "workload": "librechat",
            "slo": {"p95_s": SLO, "ttft_p95_s": None, "max_error_rate": 0.01},
            "tiers": TIERS, "providers": PROVIDERS, "users": USERS, "vary": {}, "resolution": 0.02,
            "simulations": len(points) + 2 * len(capacity), "points": points,
            "capacity": capacity, "break_even": break_even, "cheapest": cheapest,
            "uncertainty": {"samples": 20, "method": "Latin hypercube (scipy.stats.qmc), planner sizing per sample",
                            "inputs": [{"path": "cpu.message", "unit": "s", "shape": "triangular", "low": 0.02,
                                        "mode": 0.04, "high": 0.1},
                                       {"path": "messages_per_user_day", "unit": "", "shape": "triangular", "low": 8,
                                        "mode": 14, "high": 30}],
                            "by_users": by_users},
            "sensitivity": sensitivity}


def recommend_doc() -> dict:
    return json.loads((DATA / "recommend-3000.json").read_text())


def day_doc() -> dict:
    return json.loads((DATA / "day-tier2-3000.json").read_text())


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return out, build_report(sweep_doc(), recommend_doc(), day_doc(), out)


# -- the files ---------------------------------------------------------------------------------------

def test_writes_the_page_and_one_png_per_chart(report) -> None:
    out, written = report
    keys = [k for k, _ in CHARTS]
    assert written == [out] + [out.with_name(f"report-{k}.png") for k in keys]
    assert sorted(p.name for p in out.parent.iterdir()) == sorted(p.name for p in written)  # no temp files left
    html = out.read_text(encoding="utf-8")
    for png in written[1:]:
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        width, height = png_size(data)
        assert width >= 800 and height >= 300
        assert f'width="{width}" height="{height}"' in html
        assert png.name in html
    assert html.count('<img class="chart" src="data:image/png;base64,') == len(keys)
    assert f'data-charts="{len(keys)}"' in html
    assert "left out" not in html


def test_same_documents_give_byte_identical_files(report, tmp_path) -> None:
    out, written = report
    again = build_report(sweep_doc(), recommend_doc(), day_doc(), tmp_path / "report.html")
    assert [p.name for p in again] == [p.name for p in written]
    for a, b in zip(written, again):
        assert a.read_bytes() == b.read_bytes(), a.name


def _chunks(png: bytes) -> list[bytes]:
    kinds, i = [], 8
    while i < len(png):
        size = int.from_bytes(png[i:i + 4], "big")
        kinds.append(png[i + 4:i + 8])
        i += 12 + size
    return kinds


def test_pngs_carry_no_version_or_date(report) -> None:
    """No text chunk (matplotlib writes "Software: Matplotlib version ..." unless told not to): the files do
    not change with the matplotlib release or the clock, only with the picture."""
    for png in report[1][1:]:
        kinds = _chunks(png.read_bytes())
        assert kinds[0] == b"IHDR" and kinds[-1] == b"IEND"
        assert not {b"tEXt", b"iTXt", b"zTXt", b"tIME"} & set(kinds), png.name


def test_rebuild_in_place_is_identical_and_atomic(tmp_path) -> None:
    out = tmp_path / "r.html"
    first = {p: p.read_bytes() for p in build_report(sweep_doc(), None, None, out)}
    second = {p: p.read_bytes() for p in build_report(sweep_doc(), None, None, out)}
    assert first == second
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_page_names_no_external_resource(report) -> None:
    html = report[0].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"<(script|link|iframe|object|embed)\b[^>]*\b(src|href)=", html, re.IGNORECASE)
    assert re.findall(r'<img [^>]*src="([^"]{0,22})', html) == ["data:image/png;base64,"] * len(CHARTS)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html


def test_the_page_holds_inputs_tables_and_captions(report) -> None:
    html = report[0].read_text(encoding="utf-8")
    assert "<title>capplan report: librechat, 3,000 users</title>" in html
    for text in ("500, 1,000, 2,000, 3,000, 5,000, 10,000, 20,000, 50,000", "API p95 at most 2 s", "tier2, 3,000 users", "at least 50,000 (the largest swept)",
                 "tier1 holds up to 4,500",
                 "current on gcp", "Capacity per tier", "Break-even points", "tier1 \u2192 tier2"):
        assert text in html, text
    assert html.count("<figcaption>") == len(CHARTS)
    assert "SLO-violation minutes" in html and ": 6 of 300." in html
    assert "for tier2 at 3,000 users" in html and "2 sample(s) in all could not be sized" in html


def test_charts_without_data_are_left_out_with_a_reason(tmp_path) -> None:
    sweep = sweep_doc()
    sweep["sensitivity"] = None
    sweep["uncertainty"] = None
    for p in sweep["points"]:
        p["ttft_p95_s"] = None
    written = build_report(sweep, None, None, tmp_path / "r.html")
    assert [p.name for p in written] == ["r.html", "r-p95.png", "r-cost.png"]
    html = written[0].read_text(encoding="utf-8")
    assert html.count('<img class="chart"') == 2 and 'data-charts="2"' in html
    assert html.count("left out: ") == 5
    for reason in ("no uncertain inputs in the workload", "no recommendation given", "no capplan day run given",
                   "no tier has a time-to-first-token figure"):
        assert reason in html, reason


def test_a_plan_that_meets_nothing_has_no_bill(tmp_path) -> None:
    rec = recommend_doc()
    rec["chosen"] = None
    written = build_report(sweep_doc(), rec, None, tmp_path / "r.html")
    assert "r-bill.png" not in [p.name for p in written]
    assert "no plan meets the SLO at 3,000 users" in written[0].read_text(encoding="utf-8")


def test_a_cost_break_even_is_a_span(tmp_path) -> None:
    sweep = sweep_doc()
    sweep["break_even"].append({"provider": "gcp", "vary": {}, "users": 20000, "to_users": 50000, "from": "tier3",
                                "to": None, "why": "cost"})
    written = build_report(sweep, None, None, tmp_path / "r.html")
    html = written[0].read_text(encoding="utf-8")
    assert "the bills cross between 20,000 and 50,000" in html and "tier3 \u2192 no tier meets the SLO" in html
    assert written[3].name == "r-cost.png"


def test_unstable_points_have_no_made_up_latency() -> None:
    sweep = sweep_doc()
    unstable = [p for p in sweep["points"] if p["verdict"] == "unstable"]
    assert unstable and all(p["api_p95_s"] is None for p in unstable)
    # the chart draws them (in the strip) without a value: the line just stops
    lines = [{"label": "t", "points": [(500, "stable", (0.2, 0.18, 0.22)), (1000, "unstable", None)]}]
    assert charts.latency_chart(lines, 2.0, title="t", ylabel="p95")[:4] == b"\x89PNG"


def test_bad_documents_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(CapplanError, match="not a sweep document"):
        build_report({"kind": "day"}, None, None, tmp_path / "r.html")
    broken = sweep_doc()
    del broken["points"][3]["verdict"]
    with pytest.raises(CapplanError, match="sweep.*missing field 'verdict'"):
        build_report(broken, None, None, tmp_path / "r.html")
    day = day_doc()
    del day["timeline"][0]["pods_ready"]
    with pytest.raises(CapplanError, match="day.*missing field 'pods_ready'"):
        build_report(sweep_doc(), None, day, tmp_path / "r.html")
    rec = recommend_doc()
    del rec["chosen"]["bill"]
    with pytest.raises(CapplanError, match="recommend.*missing field 'bill'"):
        build_report(sweep_doc(), rec, None, tmp_path / "r.html")
    assert not list(tmp_path.iterdir())   # nothing written when a document is bad
    with pytest.raises(CapplanError, match="is a directory"):
        build_report(sweep_doc(), None, None, tmp_path)
    assert sorted(p.name for p in tmp_path.parent.iterdir() if p.name.startswith(tmp_path.name)) == [tmp_path.name]


def test_a_user_matplotlibrc_does_not_change_the_charts(tmp_path) -> None:
    import matplotlib
    lines = [{"label": "t", "points": [(500, "stable", (0.2, 0.18, 0.22)), (1000, "saturated", (0.5, 0.4, 0.6))]}]
    before = charts.latency_chart(lines, 2.0, title="t", ylabel="p95")
    with matplotlib.rc_context({"lines.linewidth": 7, "font.size": 20, "axes.facecolor": "black"}):
        during = charts.latency_chart(lines, 2.0, title="t", ylabel="p95")
    assert during == before


def test_png_size_refuses_other_bytes() -> None:
    with pytest.raises(ValueError):
        png_size(b"GIF89a" + bytes(30))


def test_varied_inputs_get_a_line_each(tmp_path) -> None:
    sweep = sweep_doc()
    other = copy.deepcopy(sweep["points"])
    for p in sweep["points"]:
        p["vary"] = {"llm.token_rate.mean": "25"}
    for p in other:
        p["vary"] = {"llm.token_rate.mean": "50"}
        if p["api_p95_s"]:
            p["api_p95_s"] = [round(x * 0.8, 6) for x in p["api_p95_s"]]
    sweep["points"] += other
    sweep["vary"] = {"llm.token_rate.mean": ["25", "50"]}
    written = build_report(sweep, None, None, tmp_path / "v.html")
    html = written[0].read_text(encoding="utf-8")
    assert "llm.token_rate.mean: 25, 50" in html
    assert written[1].name == "v-p95.png"


# -- in a browser ------------------------------------------------------------------------------------

_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
          "--disable-extensions", "--disable-background-networking", "--disable-component-update", "--mute-audio"]


@pytest.fixture(scope="module")
def chromium() -> str:
    """The browser: skipped locally when missing, a failure on CI (tests/validators.py)."""
    return require_binary("chromium")


def _chromium(browser: str, *args: str, profile: Path) -> subprocess.CompletedProcess:
    return subprocess.run([browser, *_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=90, check=True)


def _console(stderr: str) -> list[str]:
    """What the page wrote to the console (messages, errors, CSP violations, uncaught exceptions): with
    --enable-logging=stderr Chromium logs each one as ``[...:INFO:CONSOLE:<line>] "text", source: ...``,
    whatever its level, so the page must write none."""
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def _dom(browser: str, page: Path, profile: Path) -> tuple[str, list[str]]:
    run = _chromium(browser, "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000", "--dump-dom", page.as_uri(),
                    profile=profile)
    return run.stdout, _console(run.stderr)


def test_console_check_catches_errors(chromium, tmp_path) -> None:
    """The console check can fail: a page with a console.error, an uncaught exception and a blocked
    external image is caught, three times over."""
    page = tmp_path / "bad.html"
    page.write_text('<!doctype html><meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                    'script-src \'unsafe-inline\'"><img src="https://example.invalid/x.png">'
                    '<script>console.error("deliberate"); missing();</script>')
    _, console = _dom(chromium, page, tmp_path / "profile")
    text = "\n".join(console)
    assert len(console) == 3, text
    assert "deliberate" in text and "Uncaught ReferenceError" in text and "Content Security Policy" in text


def test_every_chart_renders_in_headless_chromium(chromium, report, tmp_path) -> None:
    out, written = report
    dom, console = _dom(chromium, out, tmp_path / "profile")
    assert console == []
    body = re.search(r"<body([^>]*)>", dom).group(1)
    assert f'data-charts="{len(CHARTS)}"' in body
    assert f'data-charts-loaded="{len(CHARTS)}"' in body, body   # every <img> decoded (naturalWidth > 0)
    assert len(re.findall(r'<img class="chart"', dom)) == len(CHARTS)

    ink, colours = _screenshot(chromium, out, tmp_path)
    # measured: the report ~0.13 and ~1,400; the same page without its images ~0.035 and ~220
    assert ink > INK and colours > COLOURS, (ink, colours)


# A screenshot with the charts in it: this share of pixels not near-white, more distinct colours than this.
INK, COLOURS = 0.08, 700


def _screenshot(browser: str, page: Path, tmp_path: Path) -> tuple[float, int]:
    """Headless Chromium's screenshot of the top 1200 x 4000 px of ``page``: its share of non-white pixels
    and its number of distinct colours (sampled every 4th pixel)."""
    shot = tmp_path / f"{page.stem}-shot.png"
    _chromium(browser, f"--screenshot={shot}", "--window-size=1200,4000", "--hide-scrollbars", page.as_uri(),
              profile=tmp_path / "profile")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = matplotlib.image.imread(shot)[..., :3]
    assert pixels.shape[:2] == (4000, 1200)
    ink = float((pixels.min(axis=2) < 0.9).mean())
    colours = len(np.unique((pixels[::4, ::4] * 255).astype(np.uint8).reshape(-1, 3), axis=0))
    return ink, colours


def test_a_page_without_its_charts_fails_the_screenshot_check(chromium, report, tmp_path) -> None:
    """The screenshot check can fail: the same page with its images taken out (text and tables only)."""
    page = tmp_path / "text-only.html"
    page.write_text(re.sub(r"<img [^>]*>", "", report[0].read_text(encoding="utf-8")), encoding="utf-8")
    ink, colours = _screenshot(chromium, page, tmp_path)
    assert not (ink > INK and colours > COLOURS), (ink, colours)


def test_a_broken_chart_is_noticed(chromium, report, tmp_path) -> None:
    """The DOM check can fail: one image's data replaced by bytes that are no PNG."""
    html = report[0].read_text(encoding="utf-8")
    broken = re.sub(r'src="data:image/png;base64,[^"]+"', 'src="data:image/png;base64,AAAA"', html, count=1)
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    dom, _ = _dom(chromium, page, tmp_path / "profile")
    assert f'data-charts-loaded="{len(CHARTS) - 1}"' in dom
