"""The report's charts, one function each: plain data in (numbers, strings, lists, dicts), PNG bytes out.

matplotlib draws them on its Agg canvas (no GUI, no pyplot state): :class:`matplotlib.figure.Figure`
objects, each inside the stock style (a user's ``matplotlibrc`` cannot change the pictures) with the
``Software`` metadata left out, so the same data always gives byte-identical PNGs (for one matplotlib
version and its bundled DejaVu fonts).

Nothing here invents a figure: a point without a value (an unstable simulation has no p95, a user
count no tier meets the SLO at has no cost) is a gap in its line and is shown as such.
:mod:`capplan.report.html` turns the capplan JSON documents into these inputs.
"""

from __future__ import annotations

import io
import math
from contextlib import contextmanager
from typing import Iterator, Mapping, Sequence

import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import (FixedLocator, FuncFormatter, LogLocator, MaxNLocator, MultipleLocator, NullFormatter,
                               NullLocator)

#: Pixels per inch of every chart (a width of 11 in is 1,100 px).
DPI = 100
WIDTH_IN = 11.0

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f",
            "#d62728")
_DASHES = ("-", "--", "-.", ":")
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<", ">")
_SLO_COLOR = "#c62828"
_VIOLATION_COLOR = "#ef9a9a"
#: Fill and hatch of a user count in the verdict strip under the latency charts.
VERDICT_STYLE: dict[str, tuple[str, str]] = {
    "stable": ("#d9ead3", ""),
    "saturated": ("#fce5cd", "//"),
    "unstable": ("#9e9e9e", "xx"),
}

_RC = {
    "font.size": 10,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.35,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.fontsize": 9,
    "legend.frameon": False,
    "hatch.color": "#616161",
    "svg.hashsalt": "capplan",
}


@contextmanager
def _style() -> Iterator[None]:
    with matplotlib.style.context("default"), matplotlib.rc_context(_RC):
        yield


def _figure(height_in: float, width_in: float = WIDTH_IN) -> Figure:
    fig = Figure(figsize=(width_in, height_in), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None}, facecolor="white")
    return buf.getvalue()


def color(i: int) -> str:
    return _PALETTE[i % len(_PALETTE)]


def _nan(values: Sequence[float | None]) -> np.ndarray:
    return np.array([math.nan if v is None else float(v) for v in values], dtype=float)


def _seconds(v: float, _pos: object = None) -> str:
    if v <= 0:
        return "0"
    return f"{v * 1000:.0f} ms" if v < 0.1 else f"{v:g} s"


def _dollars(v: float, _pos: object = None) -> str:
    return f"${v:,.0f}"


def _thousands(v: float, _pos: object = None) -> str:
    return f"{v:,.0f}"


def _short(v: float, _pos: object = None) -> str:
    """500, 2k, 2.5k, 50k, 1.2M: user counts on a narrow axis."""
    for unit, div in (("M", 1e6), ("k", 1e3)):
        if abs(v) >= div:
            return f"{v / div:.3g}{unit}"
    return f"{v:.0f}"


def _wide(values: Sequence[float], ratio: float = 20.0) -> bool:
    """Spread over more than ``ratio``: a log axis reads better."""
    positive = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return bool(positive) and max(positive) / min(positive) > ratio


def _users_axis(ax, users: Sequence[int], label: bool = True, short: bool = False) -> None:
    """Registered users on x: a log axis when they span more than tenfold, ticks at the swept counts."""
    users = sorted(set(users))
    if len(users) >= 2 and users[-1] / max(users[0], 1) >= 10:
        ax.set_xscale("log")
    if 0 < len(users) <= 12:
        ax.xaxis.set_major_locator(FixedLocator(users))
        ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(_short if short else _thousands))
    ax.xaxis.set_minor_formatter(NullFormatter())
    if label:
        ax.set_xlabel("registered users")


def _cells(users: Sequence[int], log: bool) -> list[tuple[float, float]]:
    """Left and right edge of each user count's cell: halfway (on the axis' scale) to its neighbours."""
    pos = [math.log(u) if log else float(u) for u in users]
    if len(pos) == 1:
        half = [0.5 if log else max(pos[0] * 0.1, 0.5)]
        edges = [(pos[0] - half[0], pos[0] + half[0])]
    else:
        mids = [(a + b) / 2 for a, b in zip(pos, pos[1:])]
        lefts = [pos[0] - (mids[0] - pos[0])] + mids
        rights = mids + [pos[-1] + (pos[-1] - mids[-1])]
        edges = list(zip(lefts, rights))
    if log:
        return [(math.exp(a), math.exp(b)) for a, b in edges]
    return edges


def _value_axis(ax, values: Sequence[float], formatter) -> None:
    if _wide(values):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(FuncFormatter(formatter))


def latency_chart(lines: Sequence[Mapping], slo_s: float | None, *, title: str, ylabel: str) -> bytes:
    """A p95 against registered users, one line per tier with its 95% interval as a band.

    ``lines``: ``{"label", "color": int, "dash": int, "points": [(users, verdict, (mean, low, high) | None[,
    meets_slo])]}``, ``verdict`` one of stable / saturated / unstable; a point that misses the SLO (``meets_slo``
    False, e.g. on errors) gets an open marker. ``slo_s``: the SLO drawn as a horizontal line (None: no
    line). Under the plot a strip shows each line's verdict per user count, the unstable ones shaded and
    marked "unstable" (they have no p95 to draw).
    """
    with _style():
        n = len(lines)
        fig = _figure(5.0 + 0.32 * n)
        gs = fig.add_gridspec(2, 1, height_ratios=[4.2, max(0.7, 0.32 * n)])
        ax = fig.add_subplot(gs[0])
        strip = fig.add_subplot(gs[1], sharex=ax)
        users = sorted({p[0] for line in lines for p in line["points"]})
        _users_axis(strip, users)
        log_x = strip.get_xscale() == "log"
        cells = dict(zip(users, _cells(users, log_x)))
        values: list[float] = [slo_s] if slo_s else []
        handles = []
        missed = False
        for row, line in enumerate(lines):
            c = color(line.get("color", row))
            dash = _DASHES[line.get("dash", 0) % len(_DASHES)]
            pts = sorted(line["points"], key=lambda p: p[0])
            xs = [p[0] for p in pts]
            mean = _nan([p[2][0] if p[2] else None for p in pts])
            low = _nan([p[2][1] if p[2] else None for p in pts])
            high = _nan([p[2][2] if p[2] else None for p in pts])
            values += [v for v in np.concatenate([low, high, mean]) if math.isfinite(v)]
            ax.fill_between(xs, low, high, color=c, alpha=0.16, linewidth=0)
            (h,) = ax.plot(xs, mean, color=c, linestyle=dash, marker="o", markersize=4, linewidth=1.8,
                           label=line["label"])
            handles.append(h)
            misses = [(p[0], p[2][0]) for p in pts if p[2] and len(p) > 3 and not p[3]]
            if misses:
                missed = True
                ax.plot([u for u, _ in misses], [v for _, v in misses], linestyle="none", marker="o", markersize=7,
                        markerfacecolor="white", markeredgecolor=c, markeredgewidth=1.5)
            for u, verdict, *_ in pts:
                fill, hatch = VERDICT_STYLE.get(verdict, ("#ffffff", ""))
                left, right = cells[u]
                strip.barh(row, right - left, left=left, height=0.82, color=fill, hatch=hatch,
                           edgecolor="white", linewidth=0.6)
            run: list[int] = [p[0] for p in pts if p[1] == "unstable"]
            if run:
                left, right = cells[run[0]][0], cells[run[-1]][1]
                mid = math.sqrt(left * right) if log_x else (left + right) / 2
                strip.text(mid, row, "unstable", ha="center", va="center", fontsize=8, color="black",
                           clip_on=True, bbox={"facecolor": "#eeeeee", "edgecolor": "none", "pad": 1.0})
        if slo_s:
            handles.append(ax.axhline(slo_s, color=_SLO_COLOR, linestyle="--", linewidth=1.5,
                                      label=f"SLO {_seconds(slo_s)}"))
        if missed:
            handles.append(Line2D([], [], linestyle="none", marker="o", markersize=7, markerfacecolor="white",
                                  markeredgecolor="#616161", label="misses the SLO"))
        _value_axis(ax, values, _seconds)
        ax.set_ylabel(ylabel)
        ax.set_title(title, loc="left")
        ax.tick_params(labelbottom=False)
        ax.set_xlabel("")
        if users:
            strip.set_xlim(cells[users[0]][0], cells[users[-1]][1])
        strip.set_ylim(n - 0.5, -0.5)
        strip.set_yticks(range(n), [line["label"] for line in lines])
        for row, tick in enumerate(strip.get_yticklabels()):
            tick.set_color(color(lines[row].get("color", row)))
        strip.grid(False)
        strip.spines["left"].set_visible(False)
        strip.tick_params(axis="y", length=0)
        handles += [Patch(facecolor=VERDICT_STYLE[v][0], hatch=VERDICT_STYLE[v][1], edgecolor="#bdbdbd",
                          label=f"{v} (strip)") for v in VERDICT_STYLE]
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _png(fig)


def cost_chart(lines: Sequence[Mapping], break_even: Sequence[Mapping], *, title: str) -> bytes:
    """Monthly cost against registered users, one line per provider.

    ``lines``: ``{"label", "color": int, "dash": int, "points": [(users, usd | None, tier | None)]}``: the
    cheapest tier meeting the SLO at each count (its marker shows which tier); None: no tier does (an x
    on the axis). ``break_even``: ``{"users", "label"[, "to_users"]}``: a dotted vertical line at ``users``
    (the cheaper tier holds up to there), or a grey span to ``to_users`` (the bills cross in between).
    """
    with _style():
        fig = _figure(5.6)
        ax = fig.add_subplot()
        users = sorted({p[0] for line in lines for p in line["points"]})
        tiers = list(dict.fromkeys(p[2] for line in lines for p in sorted(line["points"], key=lambda p: p[0])
                                   if p[2] is not None))
        marker = {t: _MARKERS[i % len(_MARKERS)] for i, t in enumerate(tiers)}
        values: list[float] = []
        missing = False
        handles = []
        for row, line in enumerate(lines):
            c = color(line.get("color", row))
            dash = _DASHES[line.get("dash", 0) % len(_DASHES)]
            pts = sorted(line["points"], key=lambda p: p[0])
            xs = [p[0] for p in pts]
            ys = _nan([p[1] for p in pts])
            values += [v for v in ys if math.isfinite(v)]
            (h,) = ax.plot(xs, ys, color=c, linestyle=dash, linewidth=1.8, label=line["label"])
            handles.append(h)
            for u, usd, tier in pts:
                if usd is None:
                    missing = True
                    ax.plot([u], [0.0], marker="x", color=c, markersize=8, transform=ax.get_xaxis_transform(),
                            clip_on=False)
                else:
                    ax.plot([u], [usd], marker=marker[tier], color=c, markersize=6, linestyle="none")
        _users_axis(ax, users)
        _value_axis(ax, values, _dollars)
        spans = False
        for mark in break_even:
            end = mark.get("to_users")
            if end is not None and end != mark["users"]:
                spans = True
                ax.axvspan(mark["users"], end, color="#bdbdbd", alpha=0.45, linewidth=0)
            else:
                ax.axvline(mark["users"], color="#424242", linestyle=":", linewidth=1.2)
            ax.text(mark["users"], 0.98, mark["label"], transform=ax.get_xaxis_transform(), rotation=90,
                    ha="center", va="top", fontsize=8, color="#212121", zorder=1.5,   # under the lines
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8, "pad": 1.5})
        handles += [Line2D([], [], marker=marker[t], color="#616161", linestyle="none", label=f"tier {t}")
                    for t in tiers]
        if missing:
            handles.append(Line2D([], [], marker="x", color="#616161", linestyle="none", label="no tier meets the SLO"))
        if any(m.get("to_users") in (None, m["users"]) for m in break_even):
            handles.append(Line2D([], [], color="#424242", linestyle=":", label="break-even (capacity)"))
        if spans:
            handles.append(Patch(color="#bdbdbd", alpha=0.45, label="break-even (the bills cross)"))
        ax.set_ylabel("monthly cost (infrastructure)")
        ax.set_title(title, loc="left")
        ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _png(fig)


def bill_chart(bars: Sequence[Mapping], whole: Sequence[tuple[str, float]] | None, *, title: str) -> bytes:
    """A monthly bill as horizontal bars stacked by component.

    ``bars``: ``{"label", "parts": [(component, usd)]}``, the first one the recommended plan (the others,
    e.g. the best plan on each other provider, for comparison); one colour per component. ``whole``: the
    recommended plan's whole bill as (part, usd) pairs (infrastructure, LLM tokens) drawn on a second
    axis of its own, or None.
    """
    with _style():
        fig = _figure(1.9 + 0.55 * max(len(bars), 2))
        if whole:
            gs = fig.add_gridspec(1, 2, width_ratios=[2.3, 1.0])
            ax = fig.add_subplot(gs[0])
            ax2 = fig.add_subplot(gs[1])
        else:
            ax, ax2 = fig.add_subplot(), None
        components = list(dict.fromkeys(name for bar in bars for name, _ in bar["parts"]))
        shade = {name: color(i) for i, name in enumerate(components)}
        for row, bar in enumerate(bars):
            left = 0.0
            for name, usd in bar["parts"]:
                ax.barh(row, usd, left=left, height=0.62, color=shade[name], edgecolor="white", linewidth=0.6)
                left += usd
            ax.text(left, row, f"  {_dollars_cents(left)}", va="center", ha="left", fontsize=9)
        ax.set_yticks(range(len(bars)), [bar["label"] for bar in bars])
        if bars:
            ax.get_yticklabels()[0].set_fontweight("bold")
        ax.set_ylim(len(bars) - 0.5, -0.5)
        ax.set_xlim(0, max([sum(u for _, u in bar["parts"]) for bar in bars] + [1.0]) * 1.22)
        ax.xaxis.set_major_formatter(FuncFormatter(_dollars))
        ax.set_xlabel("infrastructure, $ per month")
        ax.grid(axis="y", visible=False)
        ax.set_title(title, loc="left")
        ax.legend(handles=[Patch(color=shade[n], label=n) for n in components], loc="upper left",
                  bbox_to_anchor=(0.0, -0.28 if len(bars) < 3 else -0.18), ncol=min(len(components), 6))
        if ax2 is not None and whole:
            left = 0.0
            for i, (name, usd) in enumerate(whole):
                ax2.barh(0, usd, left=left, height=0.5, color=("#90a4ae", "#5c6bc0", "#26a69a")[i % 3],
                         edgecolor="white")
                ax2.text(left + usd / 2, 0.42, f"{name}\n{_dollars_cents(usd)}", ha="center", va="bottom", fontsize=8)
                left += usd
            ax2.set_ylim(-0.5, 1.2)
            ax2.set_yticks([])
            ax2.set_xlim(0, left * 1.05 if left > 0 else 1.0)
            ax2.xaxis.set_major_formatter(FuncFormatter(_dollars))
            ax2.set_xlabel("whole bill, $ per month")
            ax2.grid(axis="y", visible=False)
            ax2.spines["left"].set_visible(False)
            ax2.set_title(f"with LLM tokens: {_dollars_cents(left)}", loc="left", fontsize=10)
        return _png(fig)


def _dollars_cents(v: float) -> str:
    return f"${v:,.2f}"


def tornado_chart(rows: Sequence[Mapping], *, cost_label: str, title: str) -> bytes:
    """The one-at-a-time sensitivity: how far each uncertain input moves the p95 and the monthly cost.

    ``rows``: ``{"label", "low", "high"[, "unit"], "p95": (at low, at high) | None, "cost": (at low, at high) |
    None}``;
    sorted here by the p95 swing, the widest on top. Each bar spans the two results, an open circle at
    the input's low end, a filled one at its high end.
    """
    with _style():
        rows = sorted(rows, key=lambda r: (-_swing(r.get("p95")), -_swing(r.get("cost")), r["label"]))
        fig = _figure(1.8 + 0.5 * max(len(rows), 2))
        ax_p, ax_c = fig.subplots(1, 2, sharey=True)
        for ax, key, fmt, xlabel in ((ax_p, "p95", _seconds, "API p95"), (ax_c, "cost", _dollars, cost_label)):
            for row, r in enumerate(rows):
                pair = r.get(key)
                if pair is None:
                    ax.text(0.02, row, "no figure at one end", transform=ax.get_yaxis_transform(), va="center", fontsize=8,
                            color="#757575")
                    continue
                a, b = float(pair[0]), float(pair[1])
                ax.barh(row, abs(b - a), left=min(a, b), height=0.5, color=color(0 if key == "p95" else 1),
                        alpha=0.55)
                ax.plot([a], [row], marker="o", markerfacecolor="white", markeredgecolor="black", markersize=7)
                ax.plot([b], [row], marker="o", color="black", markersize=7)
            ax.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
            ax.xaxis.set_major_formatter(FuncFormatter(fmt))
            ax.use_sticky_edges = False
            ax.margins(x=0.08)
            ax.set_xlabel(xlabel)
            ax.grid(axis="y", visible=False)
        ax_p.set_yticks(range(len(rows)), [f"{r['label']}\n{r['low']:g} to {r['high']:g} {r.get('unit') or ''}".rstrip()
                                           for r in rows])
        ax_p.set_ylim(len(rows) - 0.5, -0.5)
        ax_p.set_title(title, loc="left")
        ax_c.legend(handles=[Line2D([], [], marker="o", markerfacecolor="white", markeredgecolor="black",
                                    linestyle="none", label="input at its low end"),
                             Line2D([], [], marker="o", color="black", linestyle="none",
                                    label="input at its high end")],
                    loc="upper left", bbox_to_anchor=(1.01, 1.0))
        return _png(fig)


def _swing(pair: Sequence[float] | None) -> float:
    return 0.0 if pair is None else abs(float(pair[1]) - float(pair[0]))


def uncertainty_chart(cost_lines: Sequence[Mapping], replica_lines: Sequence[Mapping], *, title: str) -> bytes:
    """P10 to P90 bands with the P50 line, against registered users, over the uncertain inputs' samples.

    ``cost_lines``: ``{"label", "color": int, "points": [(users, p10, p50, p90, tier)]}``, monthly cost per
    provider; ``replica_lines`` likewise for the API replicas (an empty list leaves that panel out).
    """
    with _style():
        fig = _figure(5.2)
        axes = fig.subplots(1, 2 if replica_lines else 1, squeeze=False)[0]
        tiers = list(dict.fromkeys(p[4] for group in (cost_lines, replica_lines) for line in group
                                   for p in sorted(line["points"], key=lambda p: p[0])))
        marker = {t: _MARKERS[i % len(_MARKERS)] for i, t in enumerate(tiers)}
        panels = [(axes[0], cost_lines, _dollars, "monthly cost (infrastructure)")]
        if replica_lines:
            panels.append((axes[1], replica_lines, _thousands, "replicas"))
        for ax, lines, fmt, ylabel in panels:
            users: list[int] = []
            values: list[float] = []
            for row, line in enumerate(lines):
                c = color(line.get("color", row))
                pts = sorted(line["points"], key=lambda p: p[0])
                xs = [p[0] for p in pts]
                users += xs
                p10, p50, p90 = (_nan([p[i] for p in pts]) for i in (1, 2, 3))
                values += [v for v in np.concatenate([p10, p90]) if math.isfinite(v)]
                ax.fill_between(xs, p10, p90, color=c, alpha=0.2, linewidth=0, label=f"{line['label']} P10 to P90")
                ax.plot(xs, p50, color=c, linewidth=1.8, label=f"{line['label']} P50")
                for u, _, mid, _, tier in pts:
                    if mid is not None:
                        ax.plot([u], [mid], marker=marker[tier], color=c, markersize=6, linestyle="none")
            _users_axis(ax, users, short=True)
            if fmt is _thousands:   # replicas: whole numbers from zero
                top = max(values + [1.0])
                ax.set_ylim(0, top * 1.15 + 1)
                ax.yaxis.set_major_locator(MultipleLocator(max(1, math.ceil(top / 8))))
                ax.yaxis.set_major_formatter(FuncFormatter(fmt))
            else:
                _value_axis(ax, values, fmt)
            ax.set_ylabel(ylabel)
            handles, _ = ax.get_legend_handles_labels()
            if ax is axes[-1]:
                handles += [Line2D([], [], marker=marker[t], color="#616161", linestyle="none", label=f"tier {t}")
                            for t in tiers]
            ax.legend(handles=handles, loc="upper left")
        axes[0].set_title(title, loc="left")
        return _png(fig)


def _clock(hours: float, _pos: object = None, days: bool = False) -> str:
    day, rest = divmod(int(round(hours * 60)), 24 * 60)
    text = "{:02d}:{:02d}".format(*divmod(rest, 60))
    return f"d{day + 1} {text}" if days else text


def timeline_chart(t_s: Sequence[float], users: Sequence[int], pods_ready: Sequence[int], nodes: Sequence[int],
                   api_p95_s: Sequence[float | None], violating: Sequence[bool], slo_s: float | None, *,
                   title: str) -> bytes:
    """A day minute by minute: chat users in a session, Ready API pods (and app nodes), API p95 against the
    SLO; the minutes that break the SLO shaded in every panel. ``t_s``: each minute's start, seconds from
    the profile's start; a None p95 (no API request finished that minute) is a gap."""
    with _style():
        fig = _figure(7.6)
        ax_u, ax_p, ax_l = fig.subplots(3, 1, sharex=True, height_ratios=[1.0, 0.8, 1.3])
        h = np.array(t_s, dtype=float) / 3600.0
        step = 1 / 60
        spans: list[list[float]] = []
        for start, bad in zip(h, violating):
            if not bad:
                continue
            if spans and abs(spans[-1][1] - start) < 1e-9:
                spans[-1][1] = start + step
            else:
                spans.append([start, start + step])
        for ax in (ax_u, ax_p, ax_l):
            for a, b in spans:
                ax.axvspan(a, b, color=_VIOLATION_COLOR, alpha=0.8, linewidth=0)
        edge = np.append(h, h[-1] + step) if len(h) else h
        ax_u.stairs(np.array(users, dtype=float), edge, color=color(0), linewidth=1.4, baseline=None)
        ax_u.set_ylabel("chat users\nin a session")
        ax_u.yaxis.set_major_formatter(FuncFormatter(_thousands))
        ax_p.stairs(np.array(pods_ready, dtype=float), edge, color=color(2), linewidth=1.6, label="Ready API pods",
                    baseline=None)
        ax_p.stairs(np.array(nodes, dtype=float), edge, color=color(4), linewidth=1.2, linestyle="--",
                    label="app nodes", baseline=None)
        top = max(list(pods_ready) + list(nodes) + [1])
        ax_p.set_ylim(0, top + 1)
        ax_p.yaxis.set_major_locator(MultipleLocator(max(1, math.ceil(top / 4))))
        ax_p.set_ylabel("count")
        ax_p.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
        p95 = _nan(api_p95_s)
        ax_l.plot(h, p95, color=color(3), linewidth=1.0, label="API p95 per minute")
        values = [v for v in p95 if math.isfinite(v)]
        if slo_s:
            ax_l.axhline(slo_s, color=_SLO_COLOR, linestyle="--", linewidth=1.5, label=f"SLO {_seconds(slo_s)}")
            values.append(slo_s)
        _value_axis(ax_l, values, _seconds)
        ax_l.set_ylabel("API p95")
        handles, _ = ax_l.get_legend_handles_labels()
        handles.append(Patch(color=_VIOLATION_COLOR, label=f"SLO-violation minutes ({sum(1 for v in violating if v)})"))
        ax_l.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        span = (h[-1] - h[0] + step) if len(h) else 1.0
        every = next((s for s in (0.25, 0.5, 1, 2, 3, 6, 12, 24) if span / s <= 13), 24)
        days = len(h) > 0 and h[-1] >= 24
        ax_l.xaxis.set_major_locator(MultipleLocator(every))
        ax_l.xaxis.set_major_formatter(FuncFormatter(lambda v, pos: _clock(v, pos, days)))
        if len(h):
            ax_l.set_xlim(h[0], h[-1] + step)
        ax_l.set_xlabel("time of day")
        ax_u.set_title(title, loc="left")
        return _png(fig)
